"""What the file says about a run: the work left to resume, and the read-only status.

``remaining_work`` yields pending and failed tasks grouped by symbol across pages;
``read_status`` counts tasks without touching the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import harvester.store.store
from harvester.errors import StoreError
from harvester.model import Symbol, TaskStatus, WorkItem
from harvester.read.status import read_status
from harvester.store.store import Store

AAPL = Symbol("AAPL", "US")


# Remaining work ----------------------------------------------------------------------------

FIVE = ["A.US", "B.US", "700.HK", "D.US", "E.US"]


async def collect(store: Store, run: Any, endpoints: tuple[str, ...] = ()) -> list[WorkItem]:
    """The run's remaining work, of ``endpoints`` (all of the run's unless told)."""
    wanted = list(endpoints or run.endpoints)
    return [item async for item in store.remaining_work(run.id, wanted)]


async def test_remaining_work_yields_pending_and_failed_grouped_by_symbol(
    run: Any,
    db_path: Path,
) -> None:
    def sym(text: str) -> Symbol:
        return harvester.store.store.symbol_from_canonical(text)

    async with Store(db_path) as store:
        await run.start(store, FIVE)
        await store.write_results(
            run.id,
            [
                run.result(sym("A.US"), "short_trades"),
                run.result(sym("A.US"), "short_interest", TaskStatus.NO_DATA),
                run.result(sym("B.US"), "short_trades", TaskStatus.FAILED),
                run.result(sym("B.US"), "short_interest", TaskStatus.UNSUPPORTED),
                run.result(sym("700.HK"), "short_trades", TaskStatus.INVALID),
                run.result(sym("700.HK"), "short_interest", TaskStatus.OK),
                run.result(sym("E.US"), "short_interest", TaskStatus.FAILED),
            ],
            run.tables,
        )
        assert await collect(store, run) == [
            WorkItem(Symbol("B", "US"), ("short_trades",)),
            WorkItem(Symbol("D", "US"), run.endpoints),
            WorkItem(Symbol("E", "US"), run.endpoints),
        ]
        assert await collect(store, run, ("short_interest",)) == [
            WorkItem(Symbol("D", "US"), ("short_interest",)),
            WorkItem(Symbol("E", "US"), ("short_interest",)),
        ]


@pytest.mark.parametrize("page", [1, 2, 3, 4, 10])
async def test_remaining_work_groups_across_page_boundaries(
    run: Any, db_path: Path, monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    monkeypatch.setattr(harvester.store.store, "PAGE", page)
    async with Store(db_path) as store:
        await run.start(store, FIVE)
        items = await collect(store, run)
    assert items == [
        WorkItem(Symbol("A", "US"), run.endpoints),
        WorkItem(Symbol("B", "US"), run.endpoints),
        WorkItem(Symbol("700", "HK"), run.endpoints),
        WorkItem(Symbol("D", "US"), run.endpoints),
        WorkItem(Symbol("E", "US"), run.endpoints),
    ]


async def test_remaining_work_of_a_finished_run_is_empty(run: Any, db_path: Path) -> None:
    async with Store(db_path) as store:
        await run.start(store, ["AAPL.US"])
        done = [run.result(AAPL, "short_trades"), run.result(AAPL, "short_interest")]
        await store.write_results(run.id, done, run.tables)
        assert await collect(store, run) == []


async def test_remaining_work_only_reads_its_own_run(run: Any, db_path: Path) -> None:
    async with Store(db_path) as store:
        await run.start(store, ["A.US"], run_id="other")
        await run.start(store, ["B.US"])
        assert await collect(store, run) == [WorkItem(Symbol("B", "US"), run.endpoints)]


# Read-only status ------------------------------------------------------------------------


async def test_read_status_counts_tasks_and_leaves_the_file_untouched(
    run: Any, db_path: Path
) -> None:
    async with Store(db_path) as store:
        await run.start(store, ["AAPL.US", "700.HK", "MSFT.US"])
        await store.write_results(
            run.id,
            [
                run.traded(AAPL),
                run.result(AAPL, "short_interest", TaskStatus.NO_DATA),
                run.result(Symbol("700", "HK"), "short_trades", TaskStatus.FAILED),
                run.result(Symbol("MSFT", "US"), "short_trades", TaskStatus.OK),
            ],
            run.tables,
        )
    before = (db_path.stat().st_mtime_ns, db_path.read_bytes())
    runs = read_status(db_path)
    assert (db_path.stat().st_mtime_ns, db_path.read_bytes()) == before
    assert len(runs) == 1
    assert runs[0]["run_id"] == run.id
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
