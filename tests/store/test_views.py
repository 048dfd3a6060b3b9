"""The views of migration 3 answer the everyday questions, on a real swept file and an old one.

The views are read back through a plain ``sqlite3`` connection and compared with the
same answer computed in Python from the raw tables, so a wrong join or a wrong
``MAX`` shows as a difference, not as a tautology.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from harvester import catalog
from harvester.store.schema import SCHEMA_VERSION
from harvester.store.store import Store
from harvester.store.upserts import table_spec

HERE = Path(__file__).resolve().parent.parent
Query = Callable[..., list[tuple[Any, ...]]]
VIEWS = (
    "latest_short_trades",
    "latest_short_interest",
    "snapshot",
    "run_problems",
    "us_short_trades",
    "hk_short_trades",
    "us_short_interest",
    "hk_short_interest",
    "short_trades_versions",
    "short_interest_versions",
    "latest_short_positions",
    "us_short_positions",
    "hk_short_positions",
    "short_positions_versions",
)
SPECS = {endpoint.name: table_spec(endpoint) for endpoint in catalog.ENDPOINTS}


def columns(query: Query, db: Path, name: str) -> tuple[str, ...]:
    return tuple(row[1] for row in query(db, f"PRAGMA table_info({name})"))


def dumped(tmp_path: Path, version: int) -> Path:
    """A file made by the schema-``version`` release, loaded from its dump in tests/data."""
    db = tmp_path / f"v{version}.sqlite"
    with closing(sqlite3.connect(db)) as conn:
        conn.executescript((HERE / "data" / f"schema_v{version}.sql").read_text(encoding="utf-8"))
    return db


def newest(rows: list[tuple[Any, ...]]) -> dict[str, tuple[Any, ...]]:
    """Per symbol (column 0), the row with the greatest trade_date (column 2)."""
    best: dict[str, tuple[Any, ...]] = {}
    for row in rows:
        if row[0] not in best or row[2] > best[row[0]][2]:
            best[row[0]] = row
    return best


@pytest.mark.parametrize("table", list(SPECS))
def test_latest_views_hold_each_symbols_newest_row(positioned: Any, table: str) -> None:
    expected = newest(positioned.rows(f"SELECT * FROM {table}"))
    got = positioned.rows(f"SELECT * FROM latest_{table}")
    assert len(expected) >= 4  # the good symbols of both markets have rows
    assert {row[0]: row for row in got} == expected
    assert len(got) == len(expected)  # one row per symbol


def test_snapshot_puts_each_symbols_newest_figures_side_by_side(swept: Any) -> None:
    trades = newest(swept.rows("SELECT * FROM short_trades"))
    interest = newest(swept.rows("SELECT * FROM short_interest"))
    got = {
        row[0]: row
        for row in swept.rows(
            "SELECT symbol, market, short_trades_date, short_ratio, close, "
            "short_interest_date, short_percent, short_shares FROM snapshot"
        )
    }
    assert set(got) == set(trades) | set(interest)
    for symbol, row in got.items():
        t, i = trades.get(symbol), interest.get(symbol)
        # short_trades: date 2, short_ratio 9, close 10; short_interest: date 2, shares 3, percent 4
        assert row[2:5] == ((t[2], t[9], t[10]) if t else (None, None, None))
        assert row[5:8] == ((i[2], i[4], i[3]) if i else (None, None, None))


def test_run_problems_lists_the_latest_runs_tasks_that_did_not_end_ok(swept: Any) -> None:
    problems = swept.rows("SELECT symbol, endpoint, status, error_code FROM run_problems")
    expected = swept.rows(
        "SELECT symbol, endpoint, status, error_code FROM tasks "
        "WHERE status NOT IN ('ok', 'unchanged') "
        "AND run_id = (SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1)"
    )
    assert sorted(problems) == sorted(expected)
    by_symbol = {(symbol, status) for symbol, _, status, _ in problems}
    assert {
        ("NODATA.US", "no_data"),
        ("29999.HK", "unsupported"),
        ("BADX.US", "invalid"),
        ("FAILS.US", "failed"),
    } <= by_symbol
    assert not {symbol for symbol, _ in by_symbol} & {"AAPL.US", "700.HK"}


def test_run_problems_follows_the_newest_run(copy_swept: Callable[[], Any]) -> None:
    swept = copy_swept()
    with closing(sqlite3.connect(swept.db)) as db, db:
        db.execute(
            "INSERT INTO runs (run_id, started_at, status) "
            "VALUES ('later', '2999-01-01T00:00:00.000Z', 'running')"
        )
        db.execute(
            "INSERT INTO tasks (run_id, symbol, endpoint, status, updated_at) "
            "VALUES ('later', 'AAPL.US', 'short_trades', 'pending', 'x')"
        )
    assert swept.rows("SELECT run_id, symbol, status FROM run_problems") == [
        ("later", "AAPL.US", "pending")
    ]


@pytest.mark.parametrize("market", ["US", "HK"])
@pytest.mark.parametrize("endpoint", list(SPECS))
def test_market_views_carry_only_the_columns_that_market_fills(
    positioned: Any, query: Query, endpoint: str, market: str
) -> None:
    swept, spec = positioned, SPECS[endpoint]
    filled = dict(spec.markets)[market]
    view = f"{market.lower()}_{spec.table}"
    names = columns(query, swept.db, view)
    assert set(names) == {"symbol", "trade_date", *filled, "run_id", "fetched_at"}
    rows = swept.rows(f"SELECT symbol, trade_date, {', '.join(filled)} FROM {view}")
    raw = swept.rows(
        f"SELECT symbol, trade_date, {', '.join(filled)} FROM {spec.table} WHERE market = ?",
        (market,),
    )
    assert rows and sorted(rows) == sorted(raw)
    # Every column a view leaves out is NULL in every row of that market.
    for column in set(spec.columns) - set(filled):
        assert swept.rows(
            f"SELECT COUNT(*) FROM {spec.table} WHERE market = ? AND {column} IS NOT NULL",
            (market,),
        ) == [(0,)]


def test_integer_columns_of_the_market_views_are_stored_as_integers(swept: Any) -> None:
    kinds = swept.rows(
        "SELECT DISTINCT typeof(total_volume), typeof(nasdaq_short_volume) FROM us_short_trades"
    )
    assert kinds == [("integer", "integer")]


async def test_a_schema_2_file_made_by_the_previous_release_gets_the_views_in_place(
    tmp_path: Path, query: Query
) -> None:
    db = dumped(tmp_path, 2)
    assert query(db, "PRAGMA user_version") == [(2,)]
    before = {
        table: query(db, f"SELECT * FROM {table} ORDER BY 1, 2, 3")
        for table in ("short_trades", "short_interest", "tasks", "runs")
    }
    async with Store(db):
        pass
    assert query(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    for table, rows in before.items():
        width = len(rows[0])
        assert [row[:width] for row in query(db, f"SELECT * FROM {table} ORDER BY 1, 2, 3")] == rows
    for table in ("short_trades", "short_interest"):
        # Rows stored before schema 5 were first seen, as far as anyone knows, when last fetched.
        assert query(db, f"SELECT COUNT(*) FROM {table} WHERE first_seen_at IS NOT fetched_at") == [
            (0,)
        ]
    views = {row[0] for row in query(db, "SELECT name FROM sqlite_master WHERE type = 'view'")}
    assert views == set(VIEWS)
    latest = query(db, "SELECT symbol, trade_date FROM latest_short_trades ORDER BY 1")
    assert latest == sorted((s, d) for s, _, d, *_ in newest(before["short_trades"]).values())


async def test_schema_4_keeps_the_tasks_rowids_and_takes_the_nightly_statuses(
    tmp_path: Path, query: Query
) -> None:
    db = dumped(tmp_path, 2)
    before = query(db, "SELECT rowid, run_id, symbol, endpoint FROM tasks ORDER BY rowid")
    with closing(sqlite3.connect(db)) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE tasks SET status = 'unchanged' WHERE rowid = 1")
    async with Store(db):
        pass
    assert query(db, "SELECT rowid, run_id, symbol, endpoint FROM tasks ORDER BY rowid") == before
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE tasks SET status = 'unchanged' WHERE rowid = 1")
        conn.execute("UPDATE tasks SET status = 'skipped' WHERE rowid = 2")
    assert query(db, "SELECT status FROM tasks WHERE rowid IN (1, 2) ORDER BY rowid") == [
        ("unchanged",),
        ("skipped",),
    ]
    # Neither is a problem of the run, but a skipped task is listed with its reason.
    problems = {row[0] for row in query(db, "SELECT status FROM run_problems")}
    assert "unchanged" not in problems


async def test_a_schema_4_file_made_by_the_previous_release_gets_history_in_place(
    tmp_path: Path, query: Query
) -> None:
    db = dumped(tmp_path, 4)
    assert query(db, "PRAGMA user_version") == [(4,)]
    trades = query(db, "SELECT * FROM short_trades ORDER BY symbol, trade_date")
    tasks = query(db, "SELECT rowid, * FROM tasks ORDER BY rowid")
    assert ("unchanged",) in {(row[4],) for row in tasks}
    async with Store(db):
        pass
    assert query(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert query(db, "SELECT rowid, * FROM tasks ORDER BY rowid") == tasks
    migrated = query(db, "SELECT * FROM short_trades ORDER BY symbol, trade_date")
    # Every row kept, with its fetched_at as the best known first_seen_at.
    assert [row[:-1] for row in migrated] == trades
    assert all(row[-1] == row[-2] for row in migrated)
    # History starts empty, and its views read the migrated rows as current.
    assert query(db, "SELECT COUNT(*) FROM short_trades_revisions") == [(0,)]
    current = query(
        db,
        "SELECT COUNT(*) FROM short_trades_versions WHERE valid_to IS NULL "
        "AND valid_from = first_seen_at",
    )
    assert current == [(len(trades),)]
