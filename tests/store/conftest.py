"""Fixtures for the store tests: a fresh file in tmp_path, and the run the tests write to it.

What a test checks is read back from the file through a separate ``sqlite3`` connection (the
``query`` fixture of tests/conftest.py), never through the store under test.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from harvester import catalog
from harvester.model import Symbol, TaskResult, TaskStatus
from harvester.store.store import Store
from harvester.store.upserts import TableSpec

Rows = list[tuple[Any, ...]]

_TABLES = {
    endpoint.name: TableSpec(
        endpoint.name, endpoint.name, tuple(column.name for column in endpoint.columns)
    )
    for endpoint in catalog.ENDPOINTS
}


class SampleRun:
    """A run the tests write: its id, endpoints and table specs, sample rows and results."""

    id = "run-1"
    endpoints = ("short_trades", "short_interest")
    tables: ClassVar[dict[str, TableSpec]] = _TABLES
    #: Points the "bogus" endpoint at a table that does not exist, so its upsert fails.
    broken: ClassVar[dict[str, TableSpec]] = {
        **_TABLES,
        "bogus": TableSpec("bogus", "no_such_table", _TABLES["short_trades"].columns),
    }

    def __init__(self, path: Path, query: Callable[..., Rows]) -> None:
        self.path = path
        self._query = query

    @staticmethod
    def trade_row(symbol: Symbol, day: str, close: float) -> tuple[Any, ...]:
        """A ``short_trades`` row as the adapter makes it."""
        return (symbol.canonical, symbol.market, day, 100, 0, 400, None, None, None, 0.25, close)

    @staticmethod
    def result(
        symbol: Symbol,
        endpoint: str,
        status: TaskStatus = TaskStatus.OK,
        rows: tuple[tuple[Any, ...], ...] = (),
        **extra: Any,
    ) -> TaskResult:
        """One task's outcome after a single attempt."""
        return TaskResult(symbol, endpoint, status, 1, rows, **extra)

    def traded(
        self,
        symbol: Symbol,
        day: str = "2026-05-15",
        close: float = 1.0,
        *,
        endpoint: str = "short_trades",
    ) -> TaskResult:
        """An ok result carrying one ``short_trades`` row of ``day`` (as ``endpoint``'s)."""
        return self.result(symbol, endpoint, rows=(self.trade_row(symbol, day, close),))

    async def start(
        self,
        store: Store,
        symbols: list[str],
        endpoints: tuple[str, ...] | None = None,
        run_id: str | None = None,
    ) -> None:
        """Record the run (or ``run_id``) with every symbol's tasks pending."""
        endpoints = endpoints or self.endpoints
        tasks = [(s, e, TaskStatus.PENDING.value, None) for s in symbols for e in endpoints]
        await store.start_run(
            run_id or self.id,
            "symbols.txt",
            tasks,
            lambda added: {"symbols": added // len(endpoints)},
        )

    def statuses(self) -> dict[tuple[str, str], str]:
        """``{(symbol, endpoint): status}`` of the run's tasks, as the file holds them."""
        rows = self._query(
            self.path, "SELECT symbol, endpoint, status FROM tasks WHERE run_id = ?", (self.id,)
        )
        return {(symbol, endpoint): status for symbol, endpoint, status in rows}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the store under test keeps its file; nothing is there yet."""
    return tmp_path / "harvest.sqlite"


@pytest.fixture
def run(db_path: Path, query: Callable[..., Rows]) -> SampleRun:
    """The run the tests write to ``db_path``, and its task statuses read back."""
    return SampleRun(db_path, query)


# Short positions, which no sweep of the simulated gateway stores (it speaks the gateway
# dialect): rows as an OpenAPI adapter makes them, written with the store's own upserts.
