"""The database schema, as numbered migrations; ``PRAGMA user_version`` records the last applied.

The tables are a user-facing contract (see the README). Each migration is a
small step run in one transaction with the version bump, so a file is always
at one version or the next, never between.
"""

from __future__ import annotations

_SHORT_TRADES = """
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
)"""

_SHORT_INTEREST = """
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
)"""

_RUNS = """
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
)"""

_TASKS = """
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
)"""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the first released schema.
    (
        _RUNS,
        _TASKS,
        "CREATE INDEX tasks_by_status ON tasks (run_id, status)",
        _SHORT_TRADES,
        _SHORT_INTEREST,
        "CREATE INDEX short_trades_by_date ON short_trades (trade_date)",
        "CREATE INDEX short_interest_by_date ON short_interest (trade_date)",
    ),
    # 2: why a run stopped early (a signal, an outage, refused credentials, a stale run).
    ("ALTER TABLE runs ADD COLUMN stop_reason TEXT",),
)

SCHEMA_VERSION = len(MIGRATIONS)
