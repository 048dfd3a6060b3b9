-- A database made by the schema-5 release (commit 7e1c8d0): two real nightly sweeps of
-- five symbols with `harvester sweep --simulate` on two days of its calendar (schedules on,
-- restate_rate 0.5, seed 7, probe_size 1, counts 6 and 3; the second day restates a row, kept
-- in short_trades_revisions), dumped with sqlite3's iterdump. Migration tests load it and
-- open it with today's code.
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
, stop_reason TEXT);
INSERT INTO "runs" VALUES('20261206T182110Z-7917cb','2026-12-06T18:21:10.356Z','2026-12-06T18:21:10.368Z','completed','/tmp/v5/s.txt',5,0,0,10,36,0,0,NULL);
INSERT INTO "runs" VALUES('20261206T182110Z-75e740','2026-12-06T18:21:10.736Z','2026-12-06T18:21:10.750Z','completed','/tmp/v5/s.txt',5,0,0,8,30,0,0,NULL);
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
    fetched_at TEXT NOT NULL, first_seen_at TEXT,
    PRIMARY KEY (symbol, trade_date)
);
INSERT INTO "short_interest" VALUES('AAPL.US','US','2026-04-30',15962644,1.03,6453105,20607257,0.77,NULL,505.29,478.44,'20261206T182110Z-7917cb','2026-12-06T18:21:10.366Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_interest" VALUES('AAPL.US','US','2026-04-15',12380118,0.8,7017628,22409997,0.55,NULL,433.52,416.31,'20261206T182110Z-7917cb','2026-12-06T18:21:10.366Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_interest" VALUES('AAPL.US','US','2026-03-31',17345221,1.11,4891929,15621821,1.11,NULL,411.55,399.85,'20261206T182110Z-7917cb','2026-12-06T18:21:10.366Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_interest" VALUES('MSFT.US','US','2026-04-30',151311944,15.19,6007715,19098307,7.92,NULL,248.16,246.17,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_interest" VALUES('MSFT.US','US','2026-04-15',153920760,15.46,3693129,11740324,13.11,NULL,288.53,293.47,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_interest" VALUES('MSFT.US','US','2026-03-31',129211733,12.98,4802889,15268209,8.46,NULL,326.73,325.67,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_interest" VALUES('700.HK','HK','2026-05-08',225207748,5.12,805044,NULL,NULL,639.346,638.5,629.0,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_interest" VALUES('700.HK','HK','2026-05-01',227863475,5.18,991870,NULL,NULL,613.268,608.5,614.5,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_interest" VALUES('700.HK','HK','2026-04-24',238630224,5.43,921522,NULL,NULL,761.267,739.0,732.0,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_interest" VALUES('5.HK','HK','2026-05-08',116049756,2.76,524603,NULL,NULL,83.398,82.9,83.35,'20261206T182110Z-7917cb','2026-12-06T18:21:10.366Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_interest" VALUES('5.HK','HK','2026-05-01',107380075,2.55,863793,NULL,NULL,86.265,85.6,86.25,'20261206T182110Z-7917cb','2026-12-06T18:21:10.366Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_interest" VALUES('5.HK','HK','2026-04-24',76557679,1.82,447559,NULL,NULL,74.312,72.85,71.55,'20261206T182110Z-7917cb','2026-12-06T18:21:10.366Z','2026-12-06T18:21:10.366Z');
CREATE TABLE short_interest_revisions (
    symbol TEXT NOT NULL,
    market TEXT NOT NULL,
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
    superseded_at TEXT NOT NULL,
    superseded_by TEXT NOT NULL
);
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
    fetched_at TEXT NOT NULL, first_seen_at TEXT,
    PRIMARY KEY (symbol, trade_date)
);
INSERT INTO "short_trades" VALUES('AAPL.US','US','2026-05-01',5614230,0,15818935,NULL,NULL,NULL,0.3549,514.24,'20261206T182110Z-7917cb','2026-12-06T18:21:10.366Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('AAPL.US','US','2026-04-30',2361124,0,8863357,NULL,NULL,NULL,0.2664,505.29,'20261206T182110Z-7917cb','2026-12-06T18:21:10.366Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('AAPL.US','US','2026-04-29',4335245,0,20708882,NULL,NULL,NULL,0.2093,478.44,'20261206T182110Z-7917cb','2026-12-06T18:21:10.366Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('AAPL.US','US','2026-04-28',3365451,0,13421192,NULL,NULL,NULL,0.2508,466.82,'20261206T182110Z-7917cb','2026-12-06T18:21:10.366Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('AAPL.US','US','2026-04-27',4422138,0,16765348,NULL,NULL,NULL,0.2638,463.84,'20261206T182110Z-7917cb','2026-12-06T18:21:10.366Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('AAPL.US','US','2026-04-24',10384303,0,38453094,NULL,NULL,NULL,0.2701,475.4,'20261206T182110Z-7917cb','2026-12-06T18:21:10.366Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('MSFT.US','US','2026-05-01',3615134,0,11330452,NULL,NULL,NULL,0.3191,245.12,'20261206T182110Z-7917cb','2026-12-06T18:21:10.366Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('MSFT.US','US','2026-04-30',2050986,0,7399687,NULL,NULL,NULL,0.2772,248.16,'20261206T182110Z-7917cb','2026-12-06T18:21:10.366Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('MSFT.US','US','2026-04-29',4669559,0,20866944,NULL,NULL,NULL,0.2238,246.17,'20261206T182110Z-7917cb','2026-12-06T18:21:10.366Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('MSFT.US','US','2026-04-28',5743359,0,15447983,NULL,NULL,NULL,0.3718,239.22,'20261206T182110Z-7917cb','2026-12-06T18:21:10.366Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('MSFT.US','US','2026-04-27',2739563,0,7177672,NULL,NULL,NULL,0.3817,237.17,'20261206T182110Z-7917cb','2026-12-06T18:21:10.366Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('MSFT.US','US','2026-04-24',4110595,0,19693923,NULL,NULL,NULL,0.2087,233.78,'20261206T182110Z-7917cb','2026-12-06T18:21:10.366Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('700.HK','HK','2026-05-18',NULL,NULL,NULL,1282791000.0,648770070700.0,6063986271.0,0.2115,640.5,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('700.HK','HK','2026-05-15',NULL,NULL,NULL,1247371000.0,343947663400.0,6588174727.0,0.1893,653.5,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('700.HK','HK','2026-05-14',NULL,NULL,NULL,1034296000.0,400173157800.0,5236796044.0,0.1975,664.0,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('700.HK','HK','2026-05-13',NULL,NULL,NULL,193121000.0,99812500900.0,1633227289.0,0.1182,678.0,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('700.HK','HK','2026-05-12',NULL,NULL,NULL,656019000.0,245122165100.0,2775254216.0,0.2364,678.0,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('700.HK','HK','2026-05-11',NULL,NULL,NULL,874743000.0,225638848900.0,3707268370.0,0.236,674.0,'20261206T182110Z-7917cb','2026-12-06T18:21:10.366Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('5.HK','HK','2026-05-18',NULL,NULL,NULL,18262000.0,8566578700.0,227586615.0,0.0802,82.1,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('5.HK','HK','2026-05-15',NULL,NULL,NULL,39367000.0,18198099200.0,360310518.0,0.1093,80.5,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('5.HK','HK','2026-05-14',NULL,NULL,NULL,27163000.0,9198010100.0,237024588.0,0.1146,79.2,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('5.HK','HK','2026-05-13',NULL,NULL,NULL,22054000.0,7482815700.0,215008343.0,0.1026,80.65,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('5.HK','HK','2026-05-12',NULL,NULL,NULL,28335000.0,6310774000.0,320015124.0,0.0885,78.0,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('5.HK','HK','2026-05-11',NULL,NULL,NULL,59255000.0,31485689200.0,452348430.0,0.131,77.65,'20261206T182110Z-7917cb','2026-12-06T18:21:10.366Z','2026-12-06T18:21:10.366Z');
INSERT INTO "short_trades" VALUES('MSFT.US','US','2026-05-15',2488178,0,8047064,NULL,NULL,NULL,0.3092,251.78,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.748Z');
INSERT INTO "short_trades" VALUES('MSFT.US','US','2026-05-14',4642163,0,17525854,NULL,NULL,NULL,0.2649,239.77,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.748Z');
INSERT INTO "short_trades" VALUES('MSFT.US','US','2026-05-13',5418874,0,17523606,NULL,NULL,NULL,0.3092,234.04,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.748Z');
INSERT INTO "short_trades" VALUES('MSFT.US','US','2026-05-12',5474710,0,13634922,NULL,NULL,NULL,0.4015,231.26,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.748Z');
INSERT INTO "short_trades" VALUES('MSFT.US','US','2026-05-11',2568103,0,9460126,NULL,NULL,NULL,0.2715,223.08,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.748Z');
INSERT INTO "short_trades" VALUES('MSFT.US','US','2026-05-08',2705665,0,9048379,NULL,NULL,NULL,0.299,225.31,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.748Z');
INSERT INTO "short_trades" VALUES('AAPL.US','US','2026-05-15',4492028,0,20313380,NULL,NULL,NULL,0.2211,482.93,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.748Z');
INSERT INTO "short_trades" VALUES('AAPL.US','US','2026-05-14',6664325,0,21330401,NULL,NULL,NULL,0.3124,481.64,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.748Z');
INSERT INTO "short_trades" VALUES('AAPL.US','US','2026-05-13',2451144,0,12987107,NULL,NULL,NULL,0.1887,480.33,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.748Z');
INSERT INTO "short_trades" VALUES('AAPL.US','US','2026-05-12',8414258,0,24897538,NULL,NULL,NULL,0.338,492.07,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.748Z');
INSERT INTO "short_trades" VALUES('AAPL.US','US','2026-05-11',3920397,0,13359808,NULL,NULL,NULL,0.2934,501.27,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.748Z');
INSERT INTO "short_trades" VALUES('AAPL.US','US','2026-05-08',9841286,0,34607094,NULL,NULL,NULL,0.2844,527.92,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.748Z');
INSERT INTO "short_trades" VALUES('700.HK','HK','2026-05-19',NULL,NULL,NULL,744435000.0,180618603500.0,4774450330.0,0.1559,641.0,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.748Z');
INSERT INTO "short_trades" VALUES('5.HK','HK','2026-05-19',NULL,NULL,NULL,22561000.0,12092077600.0,213677151.0,0.1056,82.3,'20261206T182110Z-75e740','2026-12-06T18:21:10.748Z','2026-12-06T18:21:10.748Z');
CREATE TABLE short_trades_revisions (
    symbol TEXT NOT NULL,
    market TEXT NOT NULL,
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
    superseded_at TEXT NOT NULL,
    superseded_by TEXT NOT NULL
);
INSERT INTO "short_trades_revisions" VALUES('700.HK','HK','2026-05-12',NULL,NULL,NULL,647358000.0,245122165100.0,2775254216.0,0.2333,678.0,'20261206T182110Z-7917cb','2026-12-06T18:21:10.366Z','2026-12-06T18:21:10.748Z','20261206T182110Z-75e740');
CREATE TABLE "tasks" (
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    symbol TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN
        ('pending', 'ok', 'no_data', 'unsupported', 'invalid', 'failed',
        'unchanged', 'skipped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    rows INTEGER NOT NULL DEFAULT 0,
    warnings INTEGER NOT NULL DEFAULT 0,
    error_code TEXT,
    error_message TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (run_id, symbol, endpoint)
);
INSERT INTO "tasks" VALUES('20261206T182110Z-7917cb','AAPL.US','short_trades','ok',1,6,0,NULL,NULL,'2026-12-06T18:21:10.366Z');
INSERT INTO "tasks" VALUES('20261206T182110Z-7917cb','AAPL.US','short_interest','ok',1,3,0,NULL,NULL,'2026-12-06T18:21:10.366Z');
INSERT INTO "tasks" VALUES('20261206T182110Z-7917cb','MSFT.US','short_trades','ok',1,6,0,NULL,NULL,'2026-12-06T18:21:10.366Z');
INSERT INTO "tasks" VALUES('20261206T182110Z-7917cb','MSFT.US','short_interest','ok',1,3,0,NULL,NULL,'2026-12-06T18:21:10.366Z');
INSERT INTO "tasks" VALUES('20261206T182110Z-7917cb','700.HK','short_trades','ok',1,6,0,NULL,NULL,'2026-12-06T18:21:10.366Z');
INSERT INTO "tasks" VALUES('20261206T182110Z-7917cb','700.HK','short_interest','ok',1,3,0,NULL,NULL,'2026-12-06T18:21:10.366Z');
INSERT INTO "tasks" VALUES('20261206T182110Z-7917cb','5.HK','short_trades','ok',1,6,0,NULL,NULL,'2026-12-06T18:21:10.366Z');
INSERT INTO "tasks" VALUES('20261206T182110Z-7917cb','5.HK','short_interest','ok',1,3,0,NULL,NULL,'2026-12-06T18:21:10.366Z');
INSERT INTO "tasks" VALUES('20261206T182110Z-7917cb','BADX.US','short_trades','invalid',1,0,0,'-7','invalid_symbol: symbol does not exist: BADX.US','2026-12-06T18:21:10.366Z');
INSERT INTO "tasks" VALUES('20261206T182110Z-7917cb','BADX.US','short_interest','invalid',1,0,0,'-7','invalid_symbol: symbol does not exist: US.BADX','2026-12-06T18:21:10.366Z');
INSERT INTO "tasks" VALUES('20261206T182110Z-75e740','AAPL.US','short_trades','ok',1,6,0,NULL,NULL,'2026-12-06T18:21:10.748Z');
INSERT INTO "tasks" VALUES('20261206T182110Z-75e740','AAPL.US','short_interest','unchanged',0,0,0,NULL,'no news: probes MSFT.US found no new day and no restated value; newest stored 2026-04-30','2026-12-06T18:21:10.748Z');
INSERT INTO "tasks" VALUES('20261206T182110Z-75e740','MSFT.US','short_trades','ok',1,6,0,NULL,NULL,'2026-12-06T18:21:10.748Z');
INSERT INTO "tasks" VALUES('20261206T182110Z-75e740','MSFT.US','short_interest','ok',1,3,0,NULL,NULL,'2026-12-06T18:21:10.748Z');
INSERT INTO "tasks" VALUES('20261206T182110Z-75e740','700.HK','short_trades','ok',1,6,0,NULL,NULL,'2026-12-06T18:21:10.748Z');
INSERT INTO "tasks" VALUES('20261206T182110Z-75e740','700.HK','short_interest','ok',1,3,0,NULL,NULL,'2026-12-06T18:21:10.748Z');
INSERT INTO "tasks" VALUES('20261206T182110Z-75e740','5.HK','short_trades','ok',1,6,0,NULL,NULL,'2026-12-06T18:21:10.748Z');
INSERT INTO "tasks" VALUES('20261206T182110Z-75e740','5.HK','short_interest','unchanged',0,0,0,NULL,'no news: probes 700.HK found no new day and no restated value; newest stored 2026-05-08','2026-12-06T18:21:10.748Z');
INSERT INTO "tasks" VALUES('20261206T182110Z-75e740','BADX.US','short_trades','invalid',1,0,0,'-7','invalid_symbol: symbol does not exist: BADX.US','2026-12-06T18:21:10.748Z');
INSERT INTO "tasks" VALUES('20261206T182110Z-75e740','BADX.US','short_interest','invalid',1,0,0,'-7','invalid_symbol: symbol does not exist: US.BADX','2026-12-06T18:21:10.748Z');
CREATE INDEX short_trades_by_date ON short_trades (trade_date);
CREATE INDEX short_interest_by_date ON short_interest (trade_date);
CREATE VIEW latest_short_trades AS SELECT t.* FROM short_trades AS t JOIN (SELECT symbol, MAX(trade_date) AS trade_date FROM short_trades GROUP BY symbol) USING (symbol, trade_date);
CREATE VIEW latest_short_interest AS SELECT t.* FROM short_interest AS t JOIN (SELECT symbol, MAX(trade_date) AS trade_date FROM short_interest GROUP BY symbol) USING (symbol, trade_date);
CREATE VIEW snapshot AS
SELECT s.symbol, s.market,
    t.trade_date AS short_trades_date, t.short_ratio, t.nasdaq_short_volume,
    t.nyse_short_volume, t.total_volume, t.short_turnover, t.short_balance,
    t.total_turnover, t.close,
    i.trade_date AS short_interest_date, i.short_shares, i.short_percent,
    i.avg_daily_short_volume, i.avg_daily_share_volume, i.days_to_cover, i.avg_cost,
    i.close_price, i.last_close_price
FROM (SELECT symbol, market FROM short_trades
      UNION SELECT symbol, market FROM short_interest) AS s
LEFT JOIN latest_short_trades AS t USING (symbol)
LEFT JOIN latest_short_interest AS i USING (symbol);
CREATE VIEW us_short_trades AS SELECT symbol, trade_date, nasdaq_short_volume, nyse_short_volume, total_volume, short_ratio, close, run_id, fetched_at FROM short_trades WHERE market = 'US';
CREATE VIEW hk_short_trades AS SELECT symbol, trade_date, short_turnover, short_balance, total_turnover, short_ratio, close, run_id, fetched_at FROM short_trades WHERE market = 'HK';
CREATE VIEW us_short_interest AS SELECT symbol, trade_date, short_shares, short_percent, avg_daily_short_volume, avg_daily_share_volume, days_to_cover, close_price, last_close_price, run_id, fetched_at FROM short_interest WHERE market = 'US';
CREATE VIEW hk_short_interest AS SELECT symbol, trade_date, short_shares, short_percent, avg_daily_short_volume, avg_cost, close_price, last_close_price, run_id, fetched_at FROM short_interest WHERE market = 'HK';
CREATE INDEX tasks_by_status ON tasks (run_id, status);
CREATE VIEW run_problems AS
SELECT run_id, symbol, endpoint, status, attempts, error_code, error_message, updated_at
FROM tasks
WHERE run_id = (SELECT run_id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1)
    AND status NOT IN ('ok', 'unchanged')
ORDER BY status, symbol, endpoint;
CREATE INDEX short_trades_revisions_by_key ON short_trades_revisions (symbol, trade_date, superseded_at);
CREATE TRIGGER short_trades_revised BEFORE UPDATE ON short_trades
WHEN OLD.nasdaq_short_volume IS NOT NEW.nasdaq_short_volume OR OLD.nyse_short_volume IS NOT NEW.nyse_short_volume OR OLD.total_volume IS NOT NEW.total_volume OR OLD.short_turnover IS NOT NEW.short_turnover OR OLD.short_balance IS NOT NEW.short_balance OR OLD.total_turnover IS NOT NEW.total_turnover OR OLD.short_ratio IS NOT NEW.short_ratio OR OLD.close IS NOT NEW.close
BEGIN
    INSERT INTO short_trades_revisions VALUES (OLD.symbol, OLD.market, OLD.trade_date, OLD.nasdaq_short_volume, OLD.nyse_short_volume, OLD.total_volume, OLD.short_turnover, OLD.short_balance, OLD.total_turnover, OLD.short_ratio, OLD.close,
        OLD.run_id, OLD.fetched_at,
        CASE WHEN NEW.fetched_at > OLD.fetched_at THEN NEW.fetched_at ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END,
        NEW.run_id);
END;
CREATE VIEW short_trades_versions AS
SELECT t.symbol, t.market, t.trade_date, t.nasdaq_short_volume, t.nyse_short_volume, t.total_volume, t.short_turnover, t.short_balance, t.total_turnover, t.short_ratio, t.close,
    t.first_seen_at,
    COALESCE((SELECT MAX(p.superseded_at) FROM short_trades_revisions AS p WHERE p.symbol = t.symbol AND p.trade_date = t.trade_date), t.first_seen_at)
        AS valid_from,
    NULL AS valid_to
FROM short_trades AS t
UNION ALL
SELECT r.symbol, r.market, r.trade_date, r.nasdaq_short_volume, r.nyse_short_volume, r.total_volume, r.short_turnover, r.short_balance, r.total_turnover, r.short_ratio, r.close,
    t.first_seen_at,
    COALESCE((SELECT MAX(p.superseded_at) FROM short_trades_revisions AS p WHERE p.symbol = r.symbol AND p.trade_date = r.trade_date AND p.superseded_at < r.superseded_at), t.first_seen_at)
        AS valid_from,
    r.superseded_at AS valid_to
FROM short_trades_revisions AS r JOIN short_trades AS t USING (symbol, trade_date);
CREATE INDEX short_interest_revisions_by_key ON short_interest_revisions (symbol, trade_date, superseded_at);
CREATE TRIGGER short_interest_revised BEFORE UPDATE ON short_interest
WHEN OLD.short_shares IS NOT NEW.short_shares OR OLD.short_percent IS NOT NEW.short_percent OR OLD.avg_daily_short_volume IS NOT NEW.avg_daily_short_volume OR OLD.avg_daily_share_volume IS NOT NEW.avg_daily_share_volume OR OLD.days_to_cover IS NOT NEW.days_to_cover OR OLD.avg_cost IS NOT NEW.avg_cost OR OLD.close_price IS NOT NEW.close_price OR OLD.last_close_price IS NOT NEW.last_close_price
BEGIN
    INSERT INTO short_interest_revisions VALUES (OLD.symbol, OLD.market, OLD.trade_date, OLD.short_shares, OLD.short_percent, OLD.avg_daily_short_volume, OLD.avg_daily_share_volume, OLD.days_to_cover, OLD.avg_cost, OLD.close_price, OLD.last_close_price,
        OLD.run_id, OLD.fetched_at,
        CASE WHEN NEW.fetched_at > OLD.fetched_at THEN NEW.fetched_at ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END,
        NEW.run_id);
END;
CREATE VIEW short_interest_versions AS
SELECT t.symbol, t.market, t.trade_date, t.short_shares, t.short_percent, t.avg_daily_short_volume, t.avg_daily_share_volume, t.days_to_cover, t.avg_cost, t.close_price, t.last_close_price,
    t.first_seen_at,
    COALESCE((SELECT MAX(p.superseded_at) FROM short_interest_revisions AS p WHERE p.symbol = t.symbol AND p.trade_date = t.trade_date), t.first_seen_at)
        AS valid_from,
    NULL AS valid_to
FROM short_interest AS t
UNION ALL
SELECT r.symbol, r.market, r.trade_date, r.short_shares, r.short_percent, r.avg_daily_short_volume, r.avg_daily_share_volume, r.days_to_cover, r.avg_cost, r.close_price, r.last_close_price,
    t.first_seen_at,
    COALESCE((SELECT MAX(p.superseded_at) FROM short_interest_revisions AS p WHERE p.symbol = r.symbol AND p.trade_date = r.trade_date AND p.superseded_at < r.superseded_at), t.first_seen_at)
        AS valid_from,
    r.superseded_at AS valid_to
FROM short_interest_revisions AS r JOIN short_interest AS t USING (symbol, trade_date);
COMMIT;
PRAGMA user_version = 5;
