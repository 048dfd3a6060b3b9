"""The database schema, as numbered migrations; ``PRAGMA user_version`` records the last applied.

The tables are a user-facing contract (see docs/database.md). Each migration is a
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


def _market_view(table: str, market: str, columns: str) -> str:
    """A view of ``table`` with one market's rows and only the columns that market fills."""
    return (
        f"CREATE VIEW {market.lower()}_{table} AS "
        f"SELECT symbol, trade_date, {columns}, run_id, fetched_at "
        f"FROM {table} WHERE market = '{market}'"
    )


def _latest_view(table: str) -> str:
    """A view of ``table`` with one row per symbol: its newest ``trade_date``."""
    return (
        f"CREATE VIEW latest_{table} AS SELECT t.* FROM {table} AS t JOIN "
        f"(SELECT symbol, MAX(trade_date) AS trade_date FROM {table} GROUP BY symbol) "
        "USING (symbol, trade_date)"
    )


_SNAPSHOT = """
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
LEFT JOIN latest_short_interest AS i USING (symbol)"""

_RUN_PROBLEMS_V3 = """
CREATE VIEW run_problems AS
SELECT run_id, symbol, endpoint, status, attempts, error_code, error_message, updated_at
FROM tasks
WHERE run_id = (SELECT run_id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1)
    AND status != 'ok'
ORDER BY status, symbol, endpoint"""

# 4: the nightly statuses. SQLite cannot change a CHECK in place: the table is rebuilt,
# its rowids (the file order a run is fetched in) kept, and its view and index made again.
_TASKS_V4 = _TASKS.replace("CREATE TABLE tasks", "CREATE TABLE tasks_v4").replace(
    "'invalid', 'failed')", "'invalid', 'failed',\n        'unchanged', 'skipped')"
)
_RUN_PROBLEMS = """
CREATE VIEW run_problems AS
SELECT run_id, symbol, endpoint, status, attempts, error_code, error_message, updated_at
FROM tasks
WHERE run_id = (SELECT run_id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1)
    AND status NOT IN ('ok', 'unchanged')
ORDER BY status, symbol, endpoint"""

# Frozen text, as every migration: a later change of the adapters needs a new migration.
_US_TRADES = "nasdaq_short_volume, nyse_short_volume, total_volume, short_ratio, close"
_HK_TRADES = "short_turnover, short_balance, total_turnover, short_ratio, close"
_US_INTEREST = (
    "short_shares, short_percent, avg_daily_short_volume, avg_daily_share_volume, "
    "days_to_cover, close_price, last_close_price"
)
_HK_INTEREST = (
    "short_shares, short_percent, avg_daily_short_volume, avg_cost, close_price, last_close_price"
)


# 5: point-in-time history. Each data table records when a row was first stored, and a
# trigger keeps every set of values a fetch replaced, with when and by which run.
_TRADES_DATA = (
    ("nasdaq_short_volume", "INTEGER"),
    ("nyse_short_volume", "INTEGER"),
    ("total_volume", "INTEGER"),
    ("short_turnover", "REAL"),
    ("short_balance", "REAL"),
    ("total_turnover", "REAL"),
    ("short_ratio", "REAL"),
    ("close", "REAL"),
)
_INTEREST_DATA = (
    ("short_shares", "INTEGER"),
    ("short_percent", "REAL"),
    ("avg_daily_short_volume", "INTEGER"),
    ("avg_daily_share_volume", "INTEGER"),
    ("days_to_cover", "REAL"),
    ("avg_cost", "REAL"),
    ("close_price", "REAL"),
    ("last_close_price", "REAL"),
)
_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"


def _first_seen(table: str) -> tuple[str, ...]:
    """Migration 5's new column of a table made before it: rows stored so far were first seen
    when last fetched, as far as anyone knows."""
    return (
        f"ALTER TABLE {table} ADD COLUMN first_seen_at TEXT",
        f"UPDATE {table} SET first_seen_at = fetched_at",
    )


def _history(table: str, data: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """A data table's history (migration 5 on): its revisions table, trigger and view."""
    names = [name for name, _ in data]
    columns = ",\n    ".join(f"{name} {kind}" for name, kind in data)
    changed = " OR ".join(f"OLD.{name} IS NOT NEW.{name}" for name in names)
    old = ", ".join(f"OLD.{name}" for name in names)
    newer = (
        "(SELECT MAX(p.superseded_at) FROM {r} AS p WHERE p.symbol = {x}.symbol "
        "AND p.trade_date = {x}.trade_date{before})"
    )
    return (
        f"""CREATE TABLE {table}_revisions (
    symbol TEXT NOT NULL,
    market TEXT NOT NULL,
    trade_date TEXT NOT NULL,
    {columns},
    run_id TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    superseded_at TEXT NOT NULL,
    superseded_by TEXT NOT NULL
)""",
        f"CREATE INDEX {table}_revisions_by_key ON {table}_revisions "
        "(symbol, trade_date, superseded_at)",
        # Fires for the harvester's upserts and for any other UPDATE; an unchanged
        # re-fetch (only run_id and fetched_at move) keeps nothing.
        f"""CREATE TRIGGER {table}_revised BEFORE UPDATE ON {table}
WHEN {changed}
BEGIN
    INSERT INTO {table}_revisions VALUES (OLD.symbol, OLD.market, OLD.trade_date, {old},
        OLD.run_id, OLD.fetched_at,
        CASE WHEN NEW.fetched_at > OLD.fetched_at THEN NEW.fetched_at ELSE {_NOW} END,
        NEW.run_id);
END""",
        f"""CREATE VIEW {table}_versions AS
SELECT t.symbol, t.market, t.trade_date, {", ".join(f"t.{n}" for n in names)},
    t.first_seen_at,
    COALESCE({newer.format(r=f"{table}_revisions", x="t", before="")}, t.first_seen_at)
        AS valid_from,
    NULL AS valid_to
FROM {table} AS t
UNION ALL
SELECT r.symbol, r.market, r.trade_date, {", ".join(f"r.{n}" for n in names)},
    t.first_seen_at,
    COALESCE({
            newer.format(
                r=f"{table}_revisions", x="r", before=" AND p.superseded_at < r.superseded_at"
            )
        }, t.first_seen_at)
        AS valid_from,
    r.superseded_at AS valid_to
FROM {table}_revisions AS r JOIN {table} AS t USING (symbol, trade_date)""",
    )


# 6: short positions. Frozen text as every migration: these are the catalog's columns of
# SHORT_POSITIONS when it was added, and a test holds the two together.
_POSITIONS_DATA = (
    ("short_shares", "INTEGER"),
    ("avg_daily_share_volume", "INTEGER"),
    ("days_to_cover", "REAL"),
    ("short_amount", "REAL"),
    ("short_balance", "REAL"),
    ("cost", "REAL"),
    ("short_ratio", "REAL"),
    ("close", "REAL"),
)
_US_POSITIONS = "short_shares, avg_daily_share_volume, days_to_cover, short_ratio, close"
_HK_POSITIONS = "short_amount, short_balance, cost, short_ratio, close"


def _data_table(table: str, data: tuple[tuple[str, str], ...]) -> str:
    """A data table made after migration 5: the row's head, ``data``, who wrote it and when."""
    columns = "".join(f"    {name} {kind},\n" for name, kind in data)
    return f"""
CREATE TABLE {table} (
    symbol TEXT NOT NULL,
    market TEXT NOT NULL CHECK (market IN ('US', 'HK')),
    trade_date TEXT NOT NULL,
{columns}    run_id TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    first_seen_at TEXT,
    PRIMARY KEY (symbol, trade_date)
)"""


# The snapshot as migration 3 made it, its columns kept in their order, then the newest short
# positions. Their names carry ``positions_``: several are also names of short_trades or
# short_interest columns with another meaning (short_ratio, close, short_shares...).
_SNAPSHOT_V6 = """
CREATE VIEW snapshot AS
SELECT s.symbol, s.market,
    t.trade_date AS short_trades_date, t.short_ratio, t.nasdaq_short_volume,
    t.nyse_short_volume, t.total_volume, t.short_turnover, t.short_balance,
    t.total_turnover, t.close,
    i.trade_date AS short_interest_date, i.short_shares, i.short_percent,
    i.avg_daily_short_volume, i.avg_daily_share_volume, i.days_to_cover, i.avg_cost,
    i.close_price, i.last_close_price,
    p.trade_date AS short_positions_date, p.short_shares AS positions_short_shares,
    p.avg_daily_share_volume AS positions_avg_daily_share_volume,
    p.days_to_cover AS positions_days_to_cover, p.short_amount AS positions_short_amount,
    p.short_balance AS positions_short_balance, p.cost AS positions_cost,
    p.short_ratio AS positions_short_ratio, p.close AS positions_close
FROM (SELECT symbol, market FROM short_trades
      UNION SELECT symbol, market FROM short_interest
      UNION SELECT symbol, market FROM short_positions) AS s
LEFT JOIN latest_short_trades AS t USING (symbol)
LEFT JOIN latest_short_interest AS i USING (symbol)
LEFT JOIN latest_short_positions AS p USING (symbol)"""

# 8: rows written by kind. Nullable, unlike the other counters: a run that wrote rows before
# version 8 gets NULL (its rows were never told apart; 0 would say none was new), and a
# resumed one keeps it (NULL + n is NULL: its count would be partial). A run that wrote no
# row before has exact zeros.
_ROW_KINDS = (
    *(
        f"ALTER TABLE runs ADD COLUMN rows_{kind} INTEGER DEFAULT 0"
        for kind in ("new", "revised", "unchanged")
    ),
    "UPDATE runs SET rows_new = NULL, rows_revised = NULL, rows_unchanged = NULL "
    "WHERE rows_written > 0",
)
_REQUESTS_BY_DAY = """
CREATE TABLE requests_by_day (
    day TEXT NOT NULL PRIMARY KEY,
    requests INTEGER NOT NULL
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
    # 3: views that answer the everyday questions without hand-written SQL.
    (
        _latest_view("short_trades"),
        _latest_view("short_interest"),
        _SNAPSHOT,
        _RUN_PROBLEMS_V3,
        _market_view("short_trades", "US", _US_TRADES),
        _market_view("short_trades", "HK", _HK_TRADES),
        _market_view("short_interest", "US", _US_INTEREST),
        _market_view("short_interest", "HK", _HK_INTEREST),
    ),
    # 4: tasks a nightly sweep did not ask for: `unchanged` and `skipped`.
    (
        "DROP VIEW run_problems",
        _TASKS_V4,
        "INSERT INTO tasks_v4 (rowid, run_id, symbol, endpoint, status, attempts, rows, "
        "warnings, error_code, error_message, updated_at) SELECT rowid, run_id, symbol, "
        "endpoint, status, attempts, rows, warnings, error_code, error_message, updated_at "
        "FROM tasks",
        "DROP TABLE tasks",
        "ALTER TABLE tasks_v4 RENAME TO tasks",
        "CREATE INDEX tasks_by_status ON tasks (run_id, status)",
        _RUN_PROBLEMS,
    ),
    # 5: when each row was first stored, and every set of values a fetch replaced.
    (
        *_first_seen("short_trades"),
        *_history("short_trades", _TRADES_DATA),
        *_first_seen("short_interest"),
        *_history("short_interest", _INTEREST_DATA),
    ),
    # 6: short positions, the OpenAPI's third data set, in a table of their own with the
    # others' history and views; the snapshot gains their newest figures; runs get a kind.
    (
        _data_table("short_positions", _POSITIONS_DATA),
        "CREATE INDEX short_positions_by_date ON short_positions (trade_date)",
        *_history("short_positions", _POSITIONS_DATA),
        _latest_view("short_positions"),
        _market_view("short_positions", "US", _US_POSITIONS),
        _market_view("short_positions", "HK", _HK_POSITIONS),
        "DROP VIEW snapshot",
        _SNAPSHOT_V6,
        # A backfill is a run too; `--resume` must not take up one kind for the other.
        "ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'sweep' "
        "CHECK (kind IN ('sweep', 'backfill'))",
    ),
    # 7: the requests the upstream refused for our pace (429), kept with the run.
    ("ALTER TABLE runs ADD COLUMN refused INTEGER NOT NULL DEFAULT 0",),
    # 8: what the rows a run wrote did (new, revised, rewritten unchanged), the simulated
    # gateway's served day, and the requests sent per UTC day.
    (
        *_ROW_KINDS,
        "ALTER TABLE runs ADD COLUMN served_day TEXT",
        _REQUESTS_BY_DAY,
        # Runs before it are counted by the day they started: a run that went on past
        # midnight counts its requests on the day before.
        "INSERT INTO requests_by_day (day, requests) SELECT date(started_at), SUM(requests) "
        "FROM runs WHERE date(started_at) IS NOT NULL GROUP BY date(started_at)",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)
