"""Migration 8 on a file of the previous release: rows by kind, a served day, requests per day.

The file is tests/store/data/schema_v7.sql, made by the schema-7 release (three real sweeps
with ``--simulate``, one of which restated rows); a test moves one run to the day before,
so that the requests are filled in on two days.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from harvester.catalog import ENDPOINTS
from harvester.model import Symbol, TaskResult, TaskStatus
from harvester.store.schema import SCHEMA_VERSION
from harvester.store.store import Store, Written
from harvester.store.upserts import table_spec

Query = Callable[..., list[tuple[Any, ...]]]
V7 = Path(__file__).resolve().parent / "data" / "schema_v7.sql"
FIRST = "20261206T211914Z-a92168"  # the dump's first run: 250 rows, 10 requests
EARLIER = "2026-12-05T23:59:59.500Z"  # where the test moves its start

SPECS = {endpoint.name: table_spec(endpoint) for endpoint in ENDPOINTS}

pytestmark = pytest.mark.timeout(60)


def _load(db: Path) -> None:
    with closing(sqlite3.connect(db)) as conn:
        conn.executescript(V7.read_text(encoding="utf-8"))
        conn.execute("UPDATE runs SET started_at = ? WHERE run_id = ?", (EARLIER, FIRST))
        conn.commit()


def _everything(query: Query, db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's and view's rows, sorted, by name."""
    names = [
        r[0] for r in query(db, "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
    ]
    return {name: sorted(query(db, f"SELECT * FROM {name}"), key=repr) for name in names}


def _columns(query: Query, db: Path, table: str) -> list[tuple[str, str, int, Any, int]]:
    """(name, type, not null, default, primary key) of each of ``table``'s columns."""
    return [tuple(r[1:]) for r in query(db, f"PRAGMA table_info({table})")]  # type: ignore[misc]


async def test_a_schema_7_file_gets_rows_by_kind_a_served_day_and_requests_per_day(
    tmp_path: Path, query: Query
) -> None:
    db = tmp_path / "v7.sqlite"
    _load(db)
    assert query(db, "PRAGMA user_version") == [(7,)]
    before = _everything(query, db)
    assert before["short_trades_revisions"], "the dump holds a restatement"
    assert {r[9] for r in before["runs"]} == {250, 127, 0}  # rows_written

    async with Store(db):
        pass
    assert query(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)] == [(8,)]
    after = _everything(query, db)
    assert set(after) == {*before, "requests_by_day"}
    for name, rows in before.items():
        if name != "runs":
            assert after[name] == rows, name
    # Each run keeps its columns and gains four, last: its rows by kind, NULL where it wrote
    # rows (never told apart), exact zeros where it wrote none; and no served day.
    width = len(before["runs"][0])
    assert [r[:width] for r in after["runs"]] == before["runs"]
    kinds = {r[0]: r[width:] for r in after["runs"]}
    assert kinds == {
        FIRST: (None, None, None, None),
        "20261206T211915Z-0466a0": (None, None, None, None),
        "20261206T211915Z-fad9c9": (0, 0, 0, None),
    }
    assert _columns(query, db, "runs")[width:] == [
        ("rows_new", "INTEGER", 0, "0", 0),
        ("rows_revised", "INTEGER", 0, "0", 0),
        ("rows_unchanged", "INTEGER", 0, "0", 0),
        ("served_day", "TEXT", 0, None, 0),
    ]
    # The requests of the runs before, on the UTC day each started.
    by_day: dict[str, int] = {}
    for run in before["runs"]:
        by_day[run[1][:10]] = by_day.get(run[1][:10], 0) + run[8]
    assert by_day == {"2026-12-05": 10, "2026-12-06": 9}
    assert dict(after["requests_by_day"]) == by_day
    assert _columns(query, db, "requests_by_day") == [
        ("day", "TEXT", 1, None, 1),
        ("requests", "INTEGER", 1, None, 0),
    ]


async def test_the_migrated_file_counts_rows_against_what_it_held(
    tmp_path: Path, query: Query
) -> None:
    db = tmp_path / "v7.sqlite"
    _load(db)
    (stored,) = query(
        db, "SELECT * FROM short_trades WHERE symbol = '700.HK' ORDER BY trade_date DESC LIMIT 1"
    )
    (other,) = query(
        db, "SELECT * FROM short_trades WHERE symbol = 'AAPL.US' ORDER BY trade_date DESC LIMIT 1"
    )
    data = slice(0, 11)  # symbol, market, trade_date and the eight data columns
    same = stored[data]
    restated = (*other[data][:-1], other[data][-1] + 1.0)
    new = (*same[:2], "2099-01-02", *same[3:])
    tencent, apple = Symbol("700", "HK"), Symbol("AAPL", "US")
    async with Store(db) as store:
        await store.start_run(
            "new-run",
            "s.txt",
            [
                ("700.HK", "short_trades", "pending", None),
                ("AAPL.US", "short_trades", "pending", None),
            ],
            lambda added: {"symbols": 2},
            served_day="2026-05-20",
        )
        results = [
            TaskResult(tencent, "short_trades", TaskStatus.OK, 1, (same, new)),
            TaskResult(apple, "short_trades", TaskStatus.OK, 1, (restated,)),
        ]
        written = await store.write_results("new-run", results, SPECS)
        assert written == Written(rows=3, new=1, revised=1, unchanged=1)
        # A run from before the migration, taken up again: its total stays unknown (NULL),
        # and this store still tells what it wrote for it.
        again = [TaskResult(tencent, "short_trades", TaskStatus.OK, 1, (same,))]
        assert await store.write_results(FIRST, again, SPECS) == Written(1, 0, 0, 1)
        await store.add_requests("2026-12-06", 5)
        assert await store.requests_on("2026-12-06") == 14
    assert query(
        db,
        "SELECT rows_written, rows_new, rows_revised, rows_unchanged, served_day FROM runs "
        "WHERE run_id = ?",
        ("new-run",),
    ) == [(3, 1, 1, 1, "2026-05-20")]
    assert query(
        db, "SELECT rows_written, rows_new, rows_revised FROM runs WHERE run_id = ?", (FIRST,)
    ) == [(251, None, None)]
    assert query(
        db, "SELECT COUNT(*) FROM short_trades_revisions WHERE superseded_by = 'new-run'"
    ) == [(1,)]
