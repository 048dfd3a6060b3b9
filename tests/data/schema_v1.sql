-- A database of the first released schema (user_version 1), with data: the
-- migration test opens it with the current harvester. Never regenerate it.
BEGIN TRANSACTION;
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'interrupted')),
    symbols_file TEXT,
    symbols INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    malformed_lines INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0,
    rows_written INTEGER NOT NULL DEFAULT 0,
    warnings INTEGER NOT NULL DEFAULT 0,
    resumes INTEGER NOT NULL DEFAULT 0
);
INSERT INTO "runs" VALUES('20260520T020000Z-aaaaaa','2026-05-20T02:00:00.000Z','2026-05-20T02:00:11.000Z','completed','symbols.txt',2,0,0,4,3,0,0);
INSERT INTO "runs" VALUES('20260521T020000Z-bbbbbb','2026-05-21T02:00:00.000Z','2026-05-21T02:00:03.000Z','interrupted','symbols.txt',2,0,0,1,1,0,0);
CREATE TABLE short_interest (
    symbol TEXT NOT NULL,
    market TEXT NOT NULL CHECK (market IN ('US', 'HK')),
    trade_date TEXT NOT NULL,
    short_shares INTEGER,
    short_percent REAL,
    avg_daily_short_volume INTEGER,
    avg_daily_share_volume INTEGER,
    days_to_cover REAL,
    avg_cost REAL,
    close_price REAL,
    last_close_price REAL,
    run_id TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    PRIMARY KEY (symbol, trade_date)
);
INSERT INTO "short_interest" VALUES('AAPL.US','US','2026-05-15',120000000,0.79,45000000,60000000,2.1,NULL,211.5,209.9,'20260520T020000Z-aaaaaa','2026-05-20T02:00:05.000Z');
CREATE TABLE short_trades (
    symbol TEXT NOT NULL,
    market TEXT NOT NULL CHECK (market IN ('US', 'HK')),
    trade_date TEXT NOT NULL,
    nasdaq_short_volume INTEGER,
    nyse_short_volume INTEGER,
    total_volume INTEGER,
    short_turnover REAL,
    short_balance REAL,
    total_turnover REAL,
    short_ratio REAL,
    close REAL,
    run_id TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    PRIMARY KEY (symbol, trade_date)
);
INSERT INTO "short_trades" VALUES('AAPL.US','US','2026-05-15',5748485,0,15778974,NULL,NULL,NULL,0.3643,300.23,'20260521T020000Z-bbbbbb','2026-05-21T02:00:02.000Z');
INSERT INTO "short_trades" VALUES('700.HK','HK','2026-05-18',NULL,NULL,NULL,2926000.0,1318056100.0,29497076.0,0.0992,449.2,'20260520T020000Z-aaaaaa','2026-05-20T02:00:06.000Z');
CREATE TABLE tasks (
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    symbol TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN
        ('pending', 'ok', 'no_data', 'unsupported', 'invalid', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    rows INTEGER NOT NULL DEFAULT 0,
    warnings INTEGER NOT NULL DEFAULT 0,
    error_code TEXT,
    error_message TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (run_id, symbol, endpoint)
);
INSERT INTO "tasks" VALUES('20260520T020000Z-aaaaaa','AAPL.US','short_trades','ok',1,1,0,NULL,NULL,'2026-05-20T02:00:05.000Z');
INSERT INTO "tasks" VALUES('20260520T020000Z-aaaaaa','AAPL.US','short_interest','ok',1,1,0,NULL,NULL,'2026-05-20T02:00:05.000Z');
INSERT INTO "tasks" VALUES('20260520T020000Z-aaaaaa','700.HK','short_trades','ok',1,1,0,NULL,NULL,'2026-05-20T02:00:06.000Z');
INSERT INTO "tasks" VALUES('20260520T020000Z-aaaaaa','700.HK','short_interest','no_data',1,0,0,'-10','no_data: none','2026-05-20T02:00:06.000Z');
INSERT INTO "tasks" VALUES('20260521T020000Z-bbbbbb','AAPL.US','short_trades','ok',1,1,0,NULL,NULL,'2026-05-21T02:00:02.000Z');
INSERT INTO "tasks" VALUES('20260521T020000Z-bbbbbb','AAPL.US','short_interest','pending',0,0,0,NULL,NULL,'2026-05-21T02:00:00.000Z');
CREATE INDEX tasks_by_status ON tasks (run_id, status);
CREATE INDEX short_trades_by_date ON short_trades (trade_date);
CREATE INDEX short_interest_by_date ON short_interest (trade_date);
COMMIT;
PRAGMA user_version = 1;
