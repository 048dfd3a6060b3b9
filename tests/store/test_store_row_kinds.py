"""``write_results`` tells each row it upserts apart: new, revised or rewritten unchanged.

Each test writes batches to a file in ``tmp_path`` and holds what the store counted (its
``Written``, the run's ``rows_*`` columns) to what the file says on its own: which keys it
held before, and the rows the revisions trigger archived.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from harvester.errors import StoreError
from harvester.model import Symbol, TaskResult
from harvester.store.store import KEY_CHUNK, Store, Written

Query = Callable[..., list[tuple[Any, ...]]]
AAPL, MSFT, TENCENT = Symbol("AAPL", "US"), Symbol("MSFT", "US"), Symbol("700", "HK")
KINDS_SQL = "SELECT rows_written, rows_new, rows_revised, rows_unchanged FROM runs WHERE run_id = ?"

pytestmark = pytest.mark.timeout(60)


def trades(run: Any, symbol: Symbol, closes: Iterable[tuple[str, float | None]]) -> TaskResult:
    """An ok ``short_trades`` result of ``symbol`` with a row per (day, close)."""
    rows = tuple(run.trade_row(symbol, day, close) for day, close in closes)
    return run.result(symbol, "short_trades", rows=rows)


def revisions(query: Query, db: Path, run_id: str) -> int:
    """Rows the trigger archived for ``run_id``'s fetches, every table together."""
    return sum(
        query(db, f"SELECT COUNT(*) FROM {table}_revisions WHERE superseded_by = ?", (run_id,))[0][
            0
        ]
        for table in ("short_trades", "short_interest", "short_positions")
    )


async def test_each_row_is_new_revised_or_unchanged_as_the_file_says(
    run: Any, query: Query, db_path: Path
) -> None:
    days = [f"2026-05-{day:02d}" for day in range(11, 16)]
    async with Store(db_path) as store:
        await run.start(store, ["AAPL.US", "MSFT.US", "700.HK"])
        first = await store.write_results(
            run.id, [trades(run, AAPL, [(day, 1.0) for day in days])], run.tables
        )
        assert first == Written(rows=5, new=5, revised=0, unchanged=0)
        # Same values, one restated, one that did not parse (NULL: never erases, no change),
        # two new days, and one symbol of another market, all in one batch.
        again = [
            trades(
                run,
                AAPL,
                [
                    (days[0], 1.0),
                    (days[1], 1.0),
                    (days[2], 2.5),
                    (days[3], None),
                    (days[4], 1.0),
                    ("2026-05-18", 1.0),
                ],
            ),
            trades(run, MSFT, [("2026-05-18", 3.0)]),
            trades(run, TENCENT, [("2026-05-19", 4.0)]),
        ]
        second = await store.write_results(run.id, again, run.tables)
        assert second == Written(rows=8, new=3, revised=1, unchanged=4)
        assert store.written(run.id) == first + second == Written(13, 8, 1, 4)
    assert query(db_path, KINDS_SQL, (run.id,)) == [(13, 8, 1, 4)]
    assert revisions(query, db_path, run.id) == 1
    assert query(db_path, "SELECT COUNT(*) FROM short_trades") == [(8,)]
    assert query(db_path, "SELECT close FROM short_trades WHERE trade_date = ?", (days[3],)) == [
        (1.0,)
    ]


async def test_a_day_twice_in_one_batch_is_new_once_then_an_update(
    run: Any, query: Query, db_path: Path
) -> None:
    async with Store(db_path) as store:
        await run.start(store, ["AAPL.US"])
        batch = [
            trades(run, AAPL, [("2026-05-14", 1.0)]),
            trades(run, AAPL, [("2026-05-14", 1.0), ("2026-05-15", 1.0)]),
            trades(run, AAPL, [("2026-05-15", 2.0)]),
        ]
        written = await store.write_results(run.id, batch, run.tables)
    assert written == Written(rows=4, new=2, revised=1, unchanged=1)
    assert query(db_path, KINDS_SQL, (run.id,)) == [(4, 2, 1, 1)]


async def test_more_keys_than_one_query_takes_are_all_looked_up(
    run: Any, query: Query, db_path: Path
) -> None:
    many = KEY_CHUNK * 2 + 7
    days = [f"{2000 + n // 300}-{1 + n // 25 % 12:02d}-{1 + n % 25:02d}" for n in range(many)]
    assert len(set(days)) == many
    async with Store(db_path) as store:
        await run.start(store, ["AAPL.US"])
        # Every other day stored first; then all of them, a third of the stored ones restated.
        await store.write_results(
            run.id, [trades(run, AAPL, [(day, 1.0) for day in days[::2]])], run.tables
        )
        stored = len(days[::2])
        closes = [(day, 2.0 if n % 6 == 0 else 1.0) for n, day in enumerate(days)]
        written = await store.write_results(run.id, [trades(run, AAPL, closes)], run.tables)
    restated = len(range(0, many, 6))
    assert written == Written(many, many - stored, restated, stored - restated)
    assert revisions(query, db_path, run.id) == restated


async def test_a_batch_rolled_back_counts_nothing(run: Any, query: Query, db_path: Path) -> None:
    async with Store(db_path) as store:
        await run.start(store, ["AAPL.US"])
        kept = await store.write_results(
            run.id, [trades(run, AAPL, [("2026-05-14", 1.0)])], run.tables
        )
        doomed = [
            trades(run, AAPL, [("2026-05-14", 9.0), ("2026-05-15", 1.0)]),
            run.result(AAPL, "bogus", rows=(run.trade_row(AAPL, "2026-05-16", 1.0),)),
        ]
        with pytest.raises(StoreError, match="no_such_table"):
            await store.write_results(run.id, doomed, run.broken)
        assert store.written(run.id) == kept == Written(1, 1, 0, 0)
    assert query(db_path, KINDS_SQL, (run.id,)) == [(1, 1, 0, 0)]
    assert revisions(query, db_path, run.id) == 0


async def test_each_run_has_its_own_tally(run: Any, query: Query, db_path: Path) -> None:
    async with Store(db_path) as store:
        await run.start(store, ["AAPL.US"])
        await run.start(store, ["AAPL.US"], run_id="run-2")
        await store.write_results(run.id, [trades(run, AAPL, [("2026-05-14", 1.0)])], run.tables)
        await store.write_results("run-2", [trades(run, AAPL, [("2026-05-14", 1.0)])], run.tables)
        assert store.written(run.id) == Written(1, 1, 0, 0)
        assert store.written("run-2") == Written(1, 0, 0, 1)
        assert store.written("never") == Written()
    assert query(db_path, KINDS_SQL, ("run-2",)) == [(1, 0, 0, 1)]


# The served day ----------------------------------------------------------------------------


async def test_a_run_keeps_the_served_day_it_is_given(
    run: Any, query: Query, db_path: Path
) -> None:
    async with Store(db_path) as store:
        await run.start(store, ["AAPL.US"])
        await store.start_run(
            "simulated", "s.txt", [], lambda added: {"symbols": 0}, served_day="2026-05-19"
        )
    assert query(db_path, "SELECT run_id, served_day FROM runs ORDER BY run_id") == [
        (run.id, None),
        ("simulated", "2026-05-19"),
    ]


# Requests per UTC day ----------------------------------------------------------------------


async def test_requests_add_up_per_day_and_are_committed_at_once(
    query: Query, db_path: Path
) -> None:
    async with Store(db_path) as store:
        assert await store.requests_on("2026-05-19") == 0
        await store.add_requests("2026-05-19", 50)
        # Seen by another connection while the store is still open: committed.
        assert query(db_path, "SELECT day, requests FROM requests_by_day") == [("2026-05-19", 50)]
        await store.add_requests("2026-05-19", 7)
        await store.add_requests("2026-05-19", -20)  # a reservation given back
        await store.add_requests("2026-05-20", 1)
        assert await store.requests_on("2026-05-19") == 37
        assert await store.requests_on("2026-05-20") == 1
        assert await store.requests_on("2026-05-21") == 0
        for day in ("2026-5-19", "20260519", "2026-05-19T00:00Z", ""):
            with pytest.raises(ValueError, match="YYYY-MM-DD"):
                await store.add_requests(day, 1)
            with pytest.raises(ValueError, match="YYYY-MM-DD"):
                await store.requests_on(day)
    assert query(db_path, "SELECT day, requests FROM requests_by_day ORDER BY day") == [
        ("2026-05-19", 37),
        ("2026-05-20", 1),
    ]


class PausingStore(Store):
    """A store whose next ``short_trades`` upsert waits for ``go``: a batch held mid-transaction.

    Then it fails with ``fail``, if one is given, as a full disk would.
    """

    def __init__(self, path: Path, fail: BaseException | None = None) -> None:
        super().__init__(path)
        self.inside = asyncio.Event()  #: set once the batch's transaction is open
        self.go = asyncio.Event()
        self.fail = fail

    async def _sql(self, sql: str, params: Iterable[Any] = (), *, many: bool = False) -> Any:
        if many and sql.startswith("INSERT INTO short_trades") and not self.go.is_set():
            self.inside.set()
            await self.go.wait()
            if self.fail is not None:
                raise self.fail
        return await super()._sql(sql, params, many=many)


@pytest.mark.parametrize("fails", [False, True], ids=["committed", "rolled-back"])
async def test_requests_added_during_a_batch_join_its_transaction(
    run: Any, query: Query, db_path: Path, fails: bool
) -> None:
    error = StoreError("database h.sqlite: database or disk is full") if fails else None
    async with PausingStore(db_path, error) as store:
        await run.start(store, ["AAPL.US"])
        writing = asyncio.create_task(
            store.write_results(run.id, [trades(run, AAPL, [("2026-05-14", 1.0)])], run.tables)
        )
        await asyncio.wait_for(store.inside.wait(), 10)
        assert store.db.in_transaction
        await store.add_requests("2026-05-19", 3)
        # Inside the batch's open transaction: another connection does not see it yet.
        assert query(db_path, "SELECT COUNT(*) FROM requests_by_day") == [(0,)]
        store.go.set()
        if fails:
            with pytest.raises(StoreError, match="disk is full"):
                await writing
        else:
            assert await writing == Written(1, 1, 0, 0)
        assert not store.db.in_transaction
    expected = [] if fails else [("2026-05-19", 3)]
    assert query(db_path, "SELECT day, requests FROM requests_by_day") == expected
    assert query(db_path, "SELECT COUNT(*) FROM short_trades") == [(0 if fails else 1,)]
