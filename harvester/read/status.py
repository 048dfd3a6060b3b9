"""Reading the database for ``status`` and ``check``: read-only, never blocking a sweep.

A run marked ``running`` is live only while a sweep holds the database's lock;
one left so by a crash or ``kill -9`` is *orphaned* (``--resume`` finishes it).
The lock is looked at before and after each read, without taking it, and the
read is done again until both looks agree, so a sweep that starts or ends in
the meantime is never taken for a crash.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from harvester.catalog import ENDPOINTS
from harvester.model import SUPPORTED_MARKETS, RunStatus
from harvester.store.database import (
    TASK_COUNTS_SQL,
    is_empty,
    missing,
    open_read_only,
    refuse_folder,
    snapshot,
    tasks_by_endpoint,
    translate,
)
from harvester.store.lock import LockHolder, lock_watch

T = TypeVar("T")
READ_TRIES = 5  # reads tried until the lock looks the same before and after one

# Each market's newest day in one data table. ``GROUP BY market`` reads every row (0.37 s
# for a million rows, warm); this walks the primary key (symbol, trade_date) one symbol at a
# time, the newest day of each found at the end of its range: 22 ms for a million rows of
# 2,000 symbols, 80 ms of 10,000 (docs/operations.md, check).
NEWEST_SQL = """
WITH RECURSIVE symbols(symbol) AS (
    SELECT MIN(symbol) FROM {table}
    UNION ALL
    SELECT (SELECT MIN(symbol) FROM {table} WHERE symbol > symbols.symbol)
    FROM symbols WHERE symbol IS NOT NULL
), newest(market, day) AS (
    SELECT (SELECT market FROM {table} WHERE symbol = symbols.symbol LIMIT 1),
           (SELECT MAX(trade_date) FROM {table} WHERE symbol = symbols.symbol)
    FROM symbols WHERE symbol IS NOT NULL
)
SELECT market, MAX(day) FROM newest GROUP BY market
"""


@dataclass(frozen=True, slots=True)
class Reading(Generic[T]):
    """What one read found, and the sweep holding the lock throughout it (None: no sweep)."""

    value: T
    holder: LockHolder | None


def read_consistent(path: Path, read: Callable[[sqlite3.Connection], T]) -> Reading[T]:
    """``read(connection)`` in one read transaction, between two looks at the lock that agree.

    The connection is read-only with ``sqlite3.Row`` rows. A missing or unreadable
    file is a StoreError of one line.
    """
    refuse_folder(path)
    if not path.is_file():
        raise missing(path)
    # The watch is opened before the connection and closed after it (harvester.store.lock).
    with lock_watch(path) as look:
        db = open_read_only(path)
        try:
            db.row_factory = sqlite3.Row
            for _ in range(READ_TRIES):
                before = look()
                value = snapshot(db, read)
                after = look()
                if before == after:
                    break
            return Reading(value, after)
        except sqlite3.Error as exc:
            raise translate(path, exc) from exc
        finally:
            db.close()


def read_runs(db: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` runs, every column, with ``tasks``: ``{endpoint: {status: n}}``.

    An empty file (0 bytes: no sweep wrote it yet) has no run.
    """
    if is_empty(db):
        return []
    runs = [
        dict(row)
        for row in db.execute(
            "SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?", (limit,)
        )
    ]
    for run in runs:
        run["tasks"] = tasks_by_endpoint(db.execute(TASK_COUNTS_SQL, (run["run_id"],)))
    return runs


def mark_orphans(runs: list[dict[str, Any]], holder: LockHolder | None) -> None:
    """Set each run's ``orphaned``: marked ``running`` while no sweep holds the lock."""
    for run in runs:
        run["orphaned"] = run["status"] == RunStatus.RUNNING.value and holder is None


def read_status(path: Path, limit: int = 5) -> list[dict[str, Any]]:
    """Recent runs with their task counts by endpoint and status, and ``orphaned``; read-only."""
    reading = read_consistent(path, lambda db: read_runs(db, limit))
    mark_orphans(reading.value, reading.holder)
    return reading.value


def read_newest(
    db: sqlite3.Connection, tables: tuple[str, ...] = tuple(e.name for e in ENDPOINTS)
) -> list[dict[str, str]]:
    """Each data set's newest stored ``trade_date`` per market: ``{endpoint, market, newest}``.

    In the order of ``tables``, then US before HK; a market without rows, or a table the
    file's schema version does not have, is left out.
    """
    present = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    newest = []
    for table in (name for name in tables if name in present):
        days = dict(db.execute(NEWEST_SQL.format(table=table)).fetchall())
        newest += [
            {"endpoint": table, "market": market, "newest": days[market]}
            for market in SUPPORTED_MARKETS
            if market in days
        ]
    return newest


def newest_line(newest: list[dict[str, str]]) -> str:
    """``newest stored day: US short_trades 2026-05-15, HK short_trades 2026-05-18, ...``."""
    days = ", ".join(f"{pair['market']} {pair['endpoint']} {pair['newest']}" for pair in newest)
    return f"newest stored day: {days or 'none (no data rows yet)'}"


def read_newest_days(path: Path) -> list[dict[str, str]]:
    """``read_newest`` of every data set, read-only, for ``status``."""
    return read_consistent(path, read_newest).value
