"""The batch writer commits what it is given by size and by time, refuses work once finished,
and a writer that fails ends its group at once, a submitter waiting on it included.

Each test writes a fresh file in ``tmp_path`` and watches it through another connection.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from harvester.errors import StoreError
from harvester.model import Symbol, TaskStatus
from harvester.store.store import Store, Written
from harvester.sweep.writer import BatchWriter

AAPL = Symbol("AAPL", "US")

Query = Callable[..., list[tuple[Any, ...]]]


async def test_batch_writer_commits_everything_submitted_by_close(
    run: Any, query: Query, db_path: Path
) -> None:
    symbols = [Symbol(f"S{i}", "US") for i in range(25)]
    async with Store(db_path) as store:
        await run.start(store, [s.canonical for s in symbols])
        writer = BatchWriter(store, run.id, run.tables, interval=10.0, max_tasks=7)
        async with writer:
            for symbol in symbols:
                await writer.submit(run.traded(symbol))
                await writer.submit(run.result(symbol, "short_interest", TaskStatus.NO_DATA))
        assert (writer.tasks, writer.rows) == (50, 25)
        assert writer.commits >= 50 // 7
        await writer.finish()  # finishing twice is harmless
    assert query(db_path, "SELECT COUNT(*) FROM short_trades") == [(25,)]
    counts = query(db_path, "SELECT endpoint, status, COUNT(*) FROM tasks GROUP BY 1, 2")
    assert sorted(counts) == [("short_interest", "no_data", 25), ("short_trades", "ok", 25)]


async def test_batch_writer_commits_a_lone_result_within_its_interval(
    run: Any, db_path: Path
) -> None:
    interval = 0.25
    async with Store(db_path) as store:
        await run.start(store, ["AAPL.US"])
        loop = asyncio.get_running_loop()
        async with BatchWriter(store, run.id, run.tables, interval=interval) as writer:
            with closing(sqlite3.connect(db_path)) as db:
                sql = "SELECT status FROM tasks WHERE symbol = 'AAPL.US' AND endpoint = ?"
                submitted = loop.time()
                await writer.submit(run.result(AAPL, "short_trades"))
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


class GatedStore:
    """A store whose commits wait for ``gate``: the writer falling behind, made to order."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.batches: list[int] = []

    async def write_results(self, run_id: str, batch: list[Any], tables: Any) -> Written:
        self.batches.append(len(batch))
        await self.gate.wait()
        return Written()


async def test_a_writer_that_falls_behind_holds_back_new_results(run: Any) -> None:
    # One batch in its commit and ``queue_size`` results queued behind it, then submit
    # waits: the fetching pauses instead of contending with the commit.
    store = GatedStore()
    accepted = 0

    async def submit_all(writer: BatchWriter) -> None:
        nonlocal accepted
        for _ in range(100):
            await writer.submit(run.result(AAPL, "short_trades"))
            accepted += 1

    async with BatchWriter(
        store,
        run.id,
        run.tables,
        interval=0.01,  # type: ignore[arg-type]
        max_tasks=10,
        queue_size=4,
    ) as writer:
        submitting = asyncio.create_task(submit_all(writer))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while not store.batches and loop.time() < deadline:
            await asyncio.sleep(0.005)  # until the first commit has started
        for _ in range(20):
            await asyncio.sleep(0)  # let the submitter run as far as it can
        while_stuck = accepted
        store.gate.set()  # before any assert: a failing test must not hang on close
        await submitting
    assert store.batches and store.batches[0] + 4 == while_stuck
    assert sum(store.batches) == accepted == 100


async def test_submitting_to_a_closed_writer_is_an_error(run: Any, db_path: Path) -> None:
    async with Store(db_path) as store:
        await run.start(store, ["AAPL.US"])
        writer = BatchWriter(store, run.id, run.tables)
        async with writer:
            pass
        with pytest.raises(RuntimeError, match="closed"):
            await writer.submit(run.result(AAPL, "short_trades"))
    assert run.statuses()[("AAPL.US", "short_trades")] == "pending"


class FailingStore(GatedStore):
    """A store whose first commit waits for ``gate`` and then fails, as a full disk does."""

    async def write_results(self, run_id: str, batch: list[Any], tables: Any) -> Written:
        await super().write_results(run_id, batch, tables)
        raise StoreError("database h.sqlite: database or disk is full")


async def test_a_writer_that_dies_wakes_a_blocked_submitter_with_its_one_error(run: Any) -> None:
    # The commit fails while the submitter waits on a full queue: before the writer and the
    # submitter shared one task group, the submitter waited for ever.
    store = FailingStore()
    blocked = asyncio.Event()

    async def submit_all(writer: BatchWriter) -> None:
        for _ in range(100):
            if writer._queue.full():  # the next put waits for the writer
                blocked.set()
            await writer.submit(run.result(AAPL, "short_trades"))

    with pytest.raises(StoreError, match="disk is full"):  # one error, not an ExceptionGroup
        async with (
            asyncio.timeout(5),
            BatchWriter(  # type: ignore[arg-type]
                store, run.id, run.tables, interval=0.01, max_tasks=10, queue_size=4
            ) as writer,
        ):
            submitting = asyncio.create_task(submit_all(writer))
            await blocked.wait()
            store.gate.set()  # the commit now fails with the submitter waiting
            await submitting
    assert submitting.cancelled()
