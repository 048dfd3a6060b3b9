"""Fixtures for every folder: the swept database with short positions in it.

The simulated gateway speaks the gateway dialect, which does not serve short positions,
so the shared swept file (tests/fixtures_swept.py) has ``short_positions`` empty. These
fixtures add rows as an OpenAPI sweep would store them, written with the store's own
upserts (narrowed per market), at two fixed moments: every row at ``FETCHED``, and one of
them restated at ``RESTATED``. Loaded by tests/conftest.py as a plugin.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from fixtures_swept import Swept

from harvester import catalog
from harvester.store.upserts import table_spec

FETCHED = "2026-05-16T01:00:00.000Z"  #: when every row below was stored
RESTATED = "2026-05-17T01:00:00.000Z"  #: when 700.HK's 2026-05-15 was restated
_DAYS = (
    ("AAPL.US", ("2026-04-15", "2026-04-30", "2026-05-15")),
    ("MSFT.US", ("2026-04-30", "2026-05-15")),
    ("700.HK", ("2026-05-01", "2026-05-08", "2026-05-15")),
    ("9988.HK", ("2026-05-08",)),
)


def _row(symbol: str, day: str, i: int, cost: float = 87.25) -> tuple[Any, ...]:
    """A full-width row (catalog order), NULL where the symbol's market fills nothing."""
    if symbol.endswith(".US"):
        return (
            symbol,
            "US",
            day,
            10**6 * i,
            250_000 * i,
            1.5 * i,
            None,
            None,
            None,
            0.01 * i,
            100.5,
        )
    return (symbol, "HK", day, None, None, None, 2.5e8 * i, 1.5e8, cost, 0.02 * i, 640.0 + i)


def _write(db: Path, rows: list[tuple[Any, ...]], run_id: str, fetched_at: str) -> None:
    spec = table_spec(catalog.SHORT_POSITIONS)
    with closing(sqlite3.connect(db)) as conn, conn:
        for market in ("US", "HK"):
            sql, pick = spec.narrowing(market)
            conn.executemany(
                sql, [(*pick(row), run_id, fetched_at) for row in rows if row[1] == market]
            )


def _add_positions(db: Path) -> None:
    """Short positions for four swept symbols; 700.HK's newest restated (its ``cost``)."""
    rows = [_row(symbol, day, i) for symbol, days in _DAYS for i, day in enumerate(days, 1)]
    _write(db, rows, "openapi-1", FETCHED)
    _write(db, [_row("700.HK", "2026-05-15", 3, cost=99.75)], "openapi-2", RESTATED)


@pytest.fixture(scope="session")
def add_positions() -> Callable[[Path], None]:
    """``add_positions(db)``: write the short positions (and the restatement) into ``db``."""
    return _add_positions


@pytest.fixture(scope="session")
def positioned(swept: Swept, tmp_path_factory: pytest.TempPathFactory) -> Swept:
    """A copy of the swept database with short positions: read it, never write it."""
    folder = tmp_path_factory.mktemp("positioned")
    with (
        closing(sqlite3.connect(swept.db)) as source,
        closing(sqlite3.connect(folder / "harvest.sqlite")) as target,
    ):
        source.backup(target)
    for name in ("harvester.toml", "symbols.txt"):
        shutil.copy(swept.db.parent / name, folder / name)
    copy = Swept(
        folder / "harvest.sqlite", folder / "harvester.toml", folder / "symbols.txt", swept.result
    )
    _add_positions(copy.db)
    return copy
