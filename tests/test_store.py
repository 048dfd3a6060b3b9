"""Tests of the SQLite store and the batch writer (harvester/store.py, writer.py) on real files.

Every test works on a fresh database in ``tmp_path`` and checks what is in the file,
read back through a separate ``sqlite3`` connection: the schema and its version, upserts,
the atomicity of rows with their task status, resumable work, read-only status, refusing
files it cannot use, and the writer's commit bound.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

import harvester.store
from harvester.endpoints import ADAPTERS
from harvester.errors import StoreError
from harvester.model import Symbol, TaskResult, TaskStatus, WorkItem
from harvester.schema import SCHEMA_VERSION
from harvester.status import read_status
from harvester.store import Store
from harvester.upserts import TableSpec
from harvester.writer import BatchWriter

RUN = "run-1"
ENDPOINTS = ("short_trades", "short_interest")
TABLES = {
    name: TableSpec(name, adapter.table, tuple(column.name for column in adapter.columns))
    for name, adapter in ADAPTERS.items()
}
AAPL = Symbol("AAPL", "US")
# Points the "bogus" endpoint at a table that does not exist, so its upsert fails.
BROKEN = {**TABLES, "bogus": TableSpec("bogus", "no_such_table", TABLES["short_trades"].columns)}


@contextmanager
def reader(path: Path) -> Iterator[sqlite3.Connection]:
    """A second, independent connection to the file."""
    with closing(sqlite3.connect(path)) as db:
        yield db


def query(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with reader(path) as db:
        return db.execute(sql, args).fetchall()


def trade_row(symbol: Symbol, day: str, close: float) -> tuple[Any, ...]:
    """A ``short_trades`` row as the adapter makes it."""
    return (symbol.canonical, symbol.market, day, 100, 0, 400, None, None, None, 0.25, close)


def result(symbol: Symbol, endpoint: str, status: TaskStatus = TaskStatus.OK,
           rows: tuple[tuple[Any, ...], ...] = (), **extra: Any) -> TaskResult:
    return TaskResult(symbol, endpoint, status, 1, rows, **extra)


async def start_run(store: Store, symbols: list[str], endpoints: tuple[str, ...] = ENDPOINTS,
                    run_id: str = RUN) -> None:
    tasks = [(s, e, TaskStatus.PENDING.value, None) for s in symbols for e in endpoints]
    await store.start_run(run_id, "symbols.txt", tasks,
                          lambda added: {"symbols": added // len(endpoints)})


def statuses(path: Path) -> dict[tuple[str, str], str]:
    rows = query(path, "SELECT symbol, endpoint, status FROM tasks WHERE run_id = ?", RUN)
    return {(symbol, endpoint): status for symbol, endpoint, status in rows}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "harvest.sqlite"


# Schema ----------------------------------------------------------------------------------


async def test_a_new_file_gets_the_schema_version_and_wal(db_path: Path) -> None:
    async with Store(db_path) as store, store.db.execute("PRAGMA journal_mode") as cursor:
        assert (await cursor.fetchone()) == ("wal",)
    assert query(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert query(db_path, "PRAGMA journal_mode") == [("wal",)]


async def test_opening_twice_keeps_the_version_and_the_data(db_path: Path) -> None:
    async with Store(db_path) as store:
        await start_run(store, ["AAPL.US"])
    async with Store(db_path) as store:
        assert (await store.latest_unfinished_run()).run_id == RUN  # type: ignore[union-attr]
    assert query(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert query(db_path, "SELECT COUNT(*) FROM tasks") == [(2,)]


def table_info(path: Path, table: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The table's column names in order, and its primary key columns in key order."""
    info = query(path, f"PRAGMA table_info({table})")
    names = tuple(row[1] for row in info)
    key = tuple(row[1] for row in sorted(info, key=lambda row: row[5]) if row[5])
    return names, key


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_data_tables_have_the_adapters_columns_in_order(
    db_path: Path, endpoint: str
) -> None:
    async with Store(db_path):
        pass
    adapter = ADAPTERS[endpoint]
    names, key = table_info(db_path, adapter.table)
    assert names == ("symbol", "market", "trade_date", *[c.name for c in adapter.columns],
                     "run_id", "fetched_at")
    assert key == ("symbol", "trade_date")
    declared = {row[1]: row[2] for row in query(db_path, f"PRAGMA table_info({adapter.table})")}
    assert {c.name: c.sqltype for c in adapter.columns}.items() <= declared.items()


async def test_runs_and_tasks_tables_have_the_documented_columns(db_path: Path) -> None:
    async with Store(db_path):
        pass
    assert table_info(db_path, "runs") == (
        ("run_id", "started_at", "finished_at", "status", "symbols_file", "symbols",
         "duplicates", "malformed_lines", "requests", "rows_written", "warnings", "resumes",
         "stop_reason"),
        ("run_id",),
    )
    assert table_info(db_path, "tasks") == (
        ("run_id", "symbol", "endpoint", "status", "attempts", "rows", "warnings",
         "error_code", "error_message", "updated_at"),
        ("run_id", "symbol", "endpoint"),
    )


# Refusing files ----------------------------------------------------------------------------


async def test_a_file_from_a_newer_harvester_is_refused(db_path: Path) -> None:
    with closing(sqlite3.connect(db_path)) as db:
        db.execute("PRAGMA user_version = 99")
        db.commit()
    with pytest.raises(StoreError) as info:
        async with Store(db_path):
            pass
    message = str(info.value)
    assert "99" in message
    assert "version" in message
    assert str(db_path) in message
    assert query(db_path, "PRAGMA user_version") == [(99,)]


async def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(db_path: Path) -> None:
    content = b"symbol,date,volume\nAAPL.US,2026-05-15,100\n" * 50
    db_path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        async with Store(db_path):
            pass
    assert "not an SQLite database" in str(info.value)
    assert str(db_path) in str(info.value)
    assert db_path.read_bytes() == content


async def test_a_folder_that_does_not_exist_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open"):
        async with Store(tmp_path / "missing" / "harvest.sqlite"):
            pass


# Writing results -------------------------------------------------------------------------


async def test_write_results_stores_rows_and_task_statuses_together(db_path: Path) -> None:
    async with Store(db_path) as store:
        await start_run(store, ["AAPL.US", "700.HK"])
        written = await store.write_results(RUN, [
            result(AAPL, "short_trades", rows=(trade_row(AAPL, "2026-05-14", 1.0),
                                               trade_row(AAPL, "2026-05-15", 2.0)), warnings=3),
            result(Symbol("700", "HK"), "short_interest", TaskStatus.NO_DATA),
            result(AAPL, "short_interest", TaskStatus.FAILED, error_code="-5",
                   error_message="internal_error: boom (after 5 attempts)"),
        ], TABLES)
    assert written == 2
    assert query(db_path, "SELECT symbol, trade_date, close, run_id FROM short_trades "
                          "ORDER BY trade_date") == [
        ("AAPL.US", "2026-05-14", 1.0, RUN), ("AAPL.US", "2026-05-15", 2.0, RUN)]
    assert statuses(db_path) == {
        ("AAPL.US", "short_trades"): "ok",
        ("AAPL.US", "short_interest"): "failed",
        ("700.HK", "short_trades"): "pending",
        ("700.HK", "short_interest"): "no_data",
    }
    assert query(db_path, "SELECT rows, warnings, attempts FROM tasks "
                          "WHERE symbol = 'AAPL.US' AND endpoint = 'short_trades'") == [(2, 3, 1)]
    assert query(db_path, "SELECT error_code, error_message FROM tasks WHERE symbol = 'AAPL.US' "
                          "AND endpoint = 'short_interest'") == [
        ("-5", "internal_error: boom (after 5 attempts)")]
    assert query(db_path, "SELECT rows_written, warnings FROM runs") == [(2, 3)]


async def test_writing_the_same_day_twice_upserts_one_row_with_the_new_values(
    db_path: Path,
) -> None:
    async with Store(db_path) as store:
        await start_run(store, ["AAPL.US"])
        await store.write_results(
            RUN, [result(AAPL, "short_trades", rows=(trade_row(AAPL, "2026-05-15", 1.0),))],
            TABLES)
        newer = ("AAPL.US", "US", "2026-05-15", 7, 8, 9, None, None, None, 0.5, 2.0)
        await store.write_results(RUN, [result(AAPL, "short_trades", rows=(newer,))], TABLES)
    rows = query(db_path, "SELECT * FROM short_trades")
    assert len(rows) == 1
    assert rows[0][:11] == newer
    assert rows[0][11] == RUN


async def test_rows_and_statuses_roll_back_together_when_one_write_fails(
    db_path: Path,
) -> None:
    async with Store(db_path) as store:
        await start_run(store, ["AAPL.US"], endpoints=(*ENDPOINTS, "bogus"))
        results = [
            result(AAPL, "short_trades", rows=(trade_row(AAPL, "2026-05-15", 1.0),)),
            result(AAPL, "short_interest", TaskStatus.NO_DATA),
            result(AAPL, "bogus", rows=(trade_row(AAPL, "2026-05-15", 1.0),)),
        ]
        with pytest.raises(StoreError):
            await store.write_results(RUN, results, BROKEN)
        # The store is still usable: no transaction was left open.
        await store.write_results(RUN, results[:1], TABLES)
        assert not store.db.in_transaction
    assert query(db_path, "SELECT COUNT(*) FROM short_trades") == [(1,)]
    assert statuses(db_path) == {
        ("AAPL.US", "short_trades"): "ok",
        ("AAPL.US", "short_interest"): "pending",
        ("AAPL.US", "bogus"): "pending",
    }
    assert query(db_path, "SELECT rows_written FROM runs") == [(1,)]


async def test_nothing_from_a_failed_write_is_committed(db_path: Path) -> None:
    async with Store(db_path) as store:
        await start_run(store, ["AAPL.US"], endpoints=(*ENDPOINTS, "bogus"))
        with pytest.raises(StoreError):
            await store.write_results(RUN, [
                result(AAPL, "short_trades", rows=(trade_row(AAPL, "2026-05-15", 1.0),)),
                result(AAPL, "bogus", rows=(trade_row(AAPL, "2026-05-15", 1.0),)),
            ], BROKEN)
    assert query(db_path, "SELECT COUNT(*) FROM short_trades") == [(0,)]
    assert set(statuses(db_path).values()) == {"pending"}
    assert query(db_path, "SELECT rows_written FROM runs") == [(0,)]


async def test_a_failed_write_is_a_store_error_naming_the_file(db_path: Path) -> None:
    async with Store(db_path) as store:
        await start_run(store, ["AAPL.US"], endpoints=("bogus",))
        with pytest.raises(StoreError) as info:
            await store.write_results(
                RUN, [result(AAPL, "bogus", rows=(trade_row(AAPL, "2026-05-15", 1.0),))], BROKEN)
    assert str(db_path) in str(info.value)
    assert "no_such_table" in str(info.value)


# Remaining work ----------------------------------------------------------------------------

FIVE = ["A.US", "B.US", "700.HK", "D.US", "E.US"]


async def collect(store: Store, endpoints: tuple[str, ...] = ENDPOINTS) -> list[WorkItem]:
    return [item async for item in store.remaining_work(RUN, list(endpoints))]


async def test_remaining_work_yields_pending_and_failed_grouped_by_symbol(
    db_path: Path,
) -> None:
    def sym(text: str) -> Symbol:
        return harvester.store.symbol_from_canonical(text)

    async with Store(db_path) as store:
        await start_run(store, FIVE)
        await store.write_results(RUN, [
            result(sym("A.US"), "short_trades"),
            result(sym("A.US"), "short_interest", TaskStatus.NO_DATA),
            result(sym("B.US"), "short_trades", TaskStatus.FAILED),
            result(sym("B.US"), "short_interest", TaskStatus.UNSUPPORTED),
            result(sym("700.HK"), "short_trades", TaskStatus.INVALID),
            result(sym("700.HK"), "short_interest", TaskStatus.OK),
            result(sym("E.US"), "short_interest", TaskStatus.FAILED),
        ], TABLES)
        assert await collect(store) == [
            WorkItem(Symbol("B", "US"), ("short_trades",)),
            WorkItem(Symbol("D", "US"), ENDPOINTS),
            WorkItem(Symbol("E", "US"), ENDPOINTS),
        ]
        assert await collect(store, ("short_interest",)) == [
            WorkItem(Symbol("D", "US"), ("short_interest",)),
            WorkItem(Symbol("E", "US"), ("short_interest",)),
        ]


@pytest.mark.parametrize("page", [1, 2, 3, 4, 10])
async def test_remaining_work_groups_across_page_boundaries(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    monkeypatch.setattr(harvester.store, "PAGE", page)
    async with Store(db_path) as store:
        await start_run(store, FIVE)
        items = await collect(store)
    assert items == [
        WorkItem(Symbol("A", "US"), ENDPOINTS),
        WorkItem(Symbol("B", "US"), ENDPOINTS),
        WorkItem(Symbol("700", "HK"), ENDPOINTS),
        WorkItem(Symbol("D", "US"), ENDPOINTS),
        WorkItem(Symbol("E", "US"), ENDPOINTS),
    ]


async def test_remaining_work_of_a_finished_run_is_empty(db_path: Path) -> None:
    async with Store(db_path) as store:
        await start_run(store, ["AAPL.US"])
        await store.write_results(
            RUN, [result(AAPL, "short_trades"), result(AAPL, "short_interest")], TABLES)
        assert await collect(store) == []


async def test_remaining_work_only_reads_its_own_run(db_path: Path) -> None:
    async with Store(db_path) as store:
        await start_run(store, ["A.US"], run_id="other")
        await start_run(store, ["B.US"])
        assert await collect(store) == [WorkItem(Symbol("B", "US"), ENDPOINTS)]


# Read-only status ------------------------------------------------------------------------


async def test_read_status_counts_tasks_and_leaves_the_file_untouched(db_path: Path) -> None:
    async with Store(db_path) as store:
        await start_run(store, ["AAPL.US", "700.HK", "MSFT.US"])
        await store.write_results(RUN, [
            result(AAPL, "short_trades", rows=(trade_row(AAPL, "2026-05-15", 1.0),)),
            result(AAPL, "short_interest", TaskStatus.NO_DATA),
            result(Symbol("700", "HK"), "short_trades", TaskStatus.FAILED),
            result(Symbol("MSFT", "US"), "short_trades", TaskStatus.OK),
        ], TABLES)
    before = (db_path.stat().st_mtime_ns, db_path.read_bytes())
    runs = read_status(db_path)
    assert (db_path.stat().st_mtime_ns, db_path.read_bytes()) == before
    assert len(runs) == 1
    assert runs[0]["run_id"] == RUN
    assert runs[0]["status"] == "running"
    assert runs[0]["rows_written"] == 1
    assert runs[0]["tasks"] == {
        "short_trades": {"ok": 2, "failed": 1},
        "short_interest": {"no_data": 1, "pending": 2},
    }


def test_read_status_of_a_missing_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "nothing.sqlite"
    with pytest.raises(StoreError, match="no such file"):
        read_status(path)
    assert not path.exists()


def test_read_status_of_a_file_that_is_not_sqlite_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_bytes(b"not a database at all\n" * 50)
    with pytest.raises(StoreError, match="not an SQLite database"):
        read_status(path)


# The batch writer ------------------------------------------------------------------------


async def test_batch_writer_commits_everything_submitted_by_close(db_path: Path) -> None:
    symbols = [Symbol(f"S{i}", "US") for i in range(25)]
    async with Store(db_path) as store:
        await start_run(store, [s.canonical for s in symbols])
        writer = BatchWriter(store, RUN, TABLES, interval=10.0, max_tasks=7)
        async with writer:
            for symbol in symbols:
                await writer.submit(result(symbol, "short_trades",
                                           rows=(trade_row(symbol, "2026-05-15", 1.0),)))
                await writer.submit(result(symbol, "short_interest", TaskStatus.NO_DATA))
        assert (writer.tasks, writer.rows) == (50, 25)
        assert writer.commits >= 50 // 7
        await writer.close()  # closing twice is harmless
    assert query(db_path, "SELECT COUNT(*) FROM short_trades") == [(25,)]
    counts = query(db_path, "SELECT endpoint, status, COUNT(*) FROM tasks GROUP BY 1, 2")
    assert sorted(counts) == [("short_interest", "no_data", 25), ("short_trades", "ok", 25)]


async def test_batch_writer_commits_a_lone_result_within_its_interval(db_path: Path) -> None:
    interval = 0.25
    async with Store(db_path) as store:
        await start_run(store, ["AAPL.US"])
        loop = asyncio.get_running_loop()
        async with BatchWriter(store, RUN, TABLES, interval=interval) as writer:
            with reader(db_path) as db:
                sql = "SELECT status FROM tasks WHERE symbol = 'AAPL.US' AND endpoint = ?"
                submitted = loop.time()
                await writer.submit(result(AAPL, "short_trades"))
                committed = None
                # The one place a test polls: watch the file from another connection.
                while loop.time() - submitted < 2.0:
                    if db.execute(sql, ("short_trades",)).fetchone() == ("ok",):
                        committed = loop.time()
                        break
                    await asyncio.sleep(0.01)
            assert committed is not None, "never committed without close()"
            assert committed - submitted <= interval
            assert writer.commits == 1


async def test_submitting_to_a_closed_writer_is_an_error(db_path: Path) -> None:
    async with Store(db_path) as store:
        await start_run(store, ["AAPL.US"])
        writer = BatchWriter(store, RUN, TABLES)
        async with writer:
            pass
        with pytest.raises(RuntimeError, match="closed"):
            await writer.submit(result(AAPL, "short_trades"))
    assert statuses(db_path)[("AAPL.US", "short_trades")] == "pending"


# Rows of each market bind only the columns that market fills -----------------------------


async def test_each_market_stores_exactly_its_row_with_the_sweeps_table_specs(
    db_path: Path,
) -> None:
    from harvester.sweep import table_specs

    tencent = Symbol("700", "HK")
    us_row = trade_row(AAPL, "2026-05-15", 1.5)
    hk_row = ("700.HK", "HK", "2026-05-15", None, None, None, 3.5e8, 9.3e10, 1.4e9, 0.25, 411.2)
    async with Store(db_path) as store:
        await start_run(store, ["AAPL.US", "700.HK"], ("short_trades",))
        await store.write_results(RUN, [result(AAPL, "short_trades", rows=(us_row,)),
                                        result(tencent, "short_trades", rows=(hk_row,))],
                                  table_specs())
        # Upsert again with new values: the row is replaced, the other market's columns stay NULL.
        newer = (*us_row[:-1], 2.5)
        await store.write_results(RUN, [result(AAPL, "short_trades", rows=(newer,))],
                                  table_specs())
    stored = query(db_path, "SELECT symbol, market, trade_date, nasdaq_short_volume, "
                   "nyse_short_volume, total_volume, short_turnover, short_balance, "
                   "total_turnover, short_ratio, close FROM short_trades ORDER BY symbol")
    assert stored == [hk_row, newer]
    specs = table_specs()["short_trades"]
    assert "short_turnover" not in specs.narrowing("US")[0].split("DO UPDATE")[0]
    assert "nasdaq_short_volume" not in specs.narrowing("HK")[0].split("DO UPDATE")[0]
