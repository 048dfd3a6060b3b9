"""The sweep's SQLite file: one connection in WAL mode, and every step it takes in one transaction.

The store owns its transactions: each public method is one whole step
(``start_run``, ``resume_run``, ``finish_run``, ``write_results``...), so a
caller can never leave one half done. Every SQLite error, whatever the step,
is translated here, once, into a StoreError of one line naming the file. A
task's final status is written in the same transaction as its rows, so a crash
never leaves rows without their task or a task marked done without its rows, and
what each row did to the file (new, revised or rewritten unchanged) is counted
in that transaction too.
Only the sweep writes; ``status`` reads through harvester.read.status.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite

from harvester.errors import StoreError
from harvester.model import (
    UNFINISHED,
    FailedTask,
    RunStatus,
    TaskResult,
    TaskStatus,
    WorkItem,
    symbol_from_canonical,
    tasks_in,
    utc_text,
)
from harvester.store.database import (
    TASK_COUNTS_SQL,
    open_database,
    tasks_by_endpoint,
    translate,
)
from harvester.store.upserts import Picker, TableSpec

PAGE = 1000  # tasks read per query when streaming a run's remaining work
TASK_CHUNK = 2000  # task rows per insert while recording a new run's universe
KEY_CHUNK = 400  # (symbol, trade_date) keys per query when looking for stored rows
TaskRow = tuple[str, str, str, str | None]  # (symbol, endpoint, status, message) of a new task
_UNFINISHED = tuple(status.value for status in UNFINISHED)


def now() -> str:
    """The current UTC time as ISO 8601 text with milliseconds and ``Z``."""
    return utc_text(datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class RunRow:
    """A row of ``runs``."""

    run_id: str
    started_at: str
    status: RunStatus
    stop_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Written:
    """Rows upserted, and what each did to the file: ``rows == new + revised + unchanged``."""

    rows: int = 0  #: rows received and upserted
    new: int = 0  #: no row of their symbol and day was stored before
    revised: int = 0  #: changed a stored row's data (the trigger kept its old values)
    unchanged: int = 0  #: rewrote a stored row with the data it held

    def __add__(self, other: Written) -> Written:
        return Written(
            self.rows + other.rows,
            self.new + other.new,
            self.revised + other.revised,
            self.unchanged + other.unchanged,
        )


_RUN_COUNTERS = frozenset(
    {
        "symbols",
        "duplicates",
        "malformed_lines",
        "requests",
        "refused",
        "rows_written",
        "rows_new",
        "rows_revised",
        "rows_unchanged",
        "warnings",
        "resumes",
    }
)


class Store:
    """The sweep's database; use as ``async with Store(path) as store``."""

    def __init__(self, path: Path, *, busy_timeout: float = 30.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout  #: seconds to wait for another program's write lock
        self._db: aiosqlite.Connection | None = None
        self._upserts: dict[tuple[TableSpec, str], tuple[str, Picker]] = {}
        self._written: dict[str, Written] = {}  # by run: what this store's commits wrote

    def __repr__(self) -> str:
        return f"<Store {self.path} open={self._db is not None}>"

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection."""
        if self._db is None:
            raise RuntimeError("Store used outside 'async with'")
        return self._db

    async def __aenter__(self) -> Store:
        self._db = await open_database(self.path, self.busy_timeout)
        return self

    async def wait_at_most(self, seconds: float) -> None:
        """From now on, wait at most ``seconds`` for another program's write lock."""
        self.busy_timeout = min(self.busy_timeout, seconds)
        try:
            await self.db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection; harmless when already closed."""
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    def _translate(self, exc: sqlite3.Error) -> StoreError:
        return translate(self.path, exc, self.busy_timeout)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error or cancellation.

        Every SQLite error inside, the BEGIN and the COMMIT included, comes out
        as one StoreError naming the file.
        """
        try:
            await self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        try:
            yield
            await self.db.execute("COMMIT")
        except BaseException as exc:
            if self.db.in_transaction:
                # A failed ROLLBACK (a disk gone bad) must not hide why we got here.
                with contextlib.suppress(sqlite3.Error):
                    await self.db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._translate(exc) from exc
            raise

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[None]:
        """Translate the SQLite errors of a read outside a transaction."""
        try:
            yield
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    async def _sql(
        self, sql: str, params: Iterable[Any] = (), *, many: bool = False
    ) -> aiosqlite.Cursor:
        """Run one statement: the one place SQL reaches the connection (tests inject faults)."""
        if many:
            return await self.db.executemany(sql, params)  # type: ignore[arg-type]
        return await self.db.execute(sql, tuple(params))

    async def read(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        """All rows of a read-only query, its SQLite errors translated (for the nightly mode)."""
        return await self._rows(sql, params)

    async def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        """All rows of a query, its SQLite errors translated."""
        async with self._reading():
            cursor = await self._sql(sql, params)
            try:
                return list(await cursor.fetchall())
            finally:
                await cursor.close()

    # Runs: each method is one whole step in one transaction ----------------------------

    async def latest_unfinished_run(self, kind: str = "sweep") -> RunRow | None:
        """The newest run of ``kind`` (``sweep`` or ``backfill``) still ``running`` or
        ``interrupted``."""
        rows = await self._rows(
            "SELECT run_id, started_at, status, stop_reason FROM runs "
            "WHERE status != 'completed' AND kind = ? ORDER BY started_at DESC, rowid DESC LIMIT 1",
            (kind,),
        )
        if not rows:
            return None
        run_id, started_at, status, stop_reason = rows[0]
        return RunRow(run_id, started_at, RunStatus(status), stop_reason)

    async def start_run(
        self,
        run_id: str,
        symbols_file: str,
        tasks: Iterable[TaskRow],
        totals: Callable[[int], Mapping[str, int]],
        kind: str = "sweep",
        *,
        served_day: str | None = None,
    ) -> Mapping[str, int]:
        """Record a new ``running`` run and its tasks, in one transaction.

        ``tasks`` may be a lazy stream (the symbols file); once it is read,
        ``totals(new tasks)`` gives the run's counters (``symbols``,
        ``duplicates``...) or raises, which leaves no trace of the run.
        ``served_day`` (``YYYY-MM-DD``) is the simulated gateway's served day, for a
        sweep with ``--simulate``; None against any other upstream.
        """
        async with self._transaction():
            await self._sql(
                "INSERT INTO runs (run_id, started_at, status, symbols_file, kind, served_day) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, now(), RunStatus.RUNNING.value, symbols_file, kind, served_day),
            )
            added, stream = 0, iter(tasks)
            while chunk := list(islice(stream, TASK_CHUNK)):
                added += await self._add_tasks(run_id, chunk)
            counters = totals(added)
            await self._add_to_run(run_id, counters)
        return counters

    async def resume_run(self, run_id: str, crashed: str) -> None:
        """Make ``run_id`` the running run again; any other left ``running`` is closed."""
        async with self._transaction():
            await self._close_running(crashed, keep=run_id)
            await self._set_status(run_id, RunStatus.RUNNING)
            await self._add_to_run(run_id, {"resumes": 1})

    async def close_run(self, run_id: str, reason: str) -> None:
        """Close an unfinished run as ``interrupted``, saying why (too old to resume)."""
        async with self._transaction():
            await self._set_status(run_id, RunStatus.INTERRUPTED, reason)

    async def close_crashed_runs(self, reason: str) -> int:
        """Close every run left ``running`` (by a crash: the caller holds the lock)."""
        async with self._transaction():
            return await self._close_running(reason)

    async def finish_run(
        self, run_id: str, requests: int, stop_reason: str | None, refused: int = 0
    ) -> tuple[RunStatus, dict[str, dict[str, int]]]:
        """Add this invocation's requests (``refused`` of them with a 429) and close the books:
        ``completed`` if nothing is left.

        Returns the run's status and its task counts. ``stop_reason`` is kept
        only when tasks are left ``pending``.
        """
        async with self._transaction():
            counts = await self.task_counts(run_id)
            pending = tasks_in(counts, TaskStatus.PENDING)
            status = RunStatus.INTERRUPTED if pending else RunStatus.COMPLETED
            await self._add_to_run(run_id, {"requests": requests, "refused": refused})
            await self._set_status(run_id, status, stop_reason if pending else None)
        return status, counts

    async def _add_tasks(self, run_id: str, tasks: Sequence[TaskRow]) -> int:
        before, stamp = self.db.total_changes, now()
        await self._sql(
            "INSERT OR IGNORE INTO tasks (run_id, symbol, endpoint, status, error_message, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(run_id, *task, stamp) for task in tasks],
            many=True,
        )
        return self.db.total_changes - before

    async def _add_to_run(self, run_id: str, counters: Mapping[str, int]) -> None:
        unknown = set(counters) - _RUN_COUNTERS
        if unknown:
            raise ValueError(f"not a run counter: {sorted(unknown)}")
        if counters:
            # Column names come from the allow-list above, never from input.
            assignments = ", ".join(f"{name} = {name} + ?" for name in counters)
            await self._sql(
                f"UPDATE runs SET {assignments} WHERE run_id = ?", (*counters.values(), run_id)
            )

    async def _set_status(
        self, run_id: str, status: RunStatus, stop_reason: str | None = None
    ) -> None:
        finished = None if status is RunStatus.RUNNING else now()
        await self._sql(
            "UPDATE runs SET status = ?, finished_at = ?, stop_reason = ? WHERE run_id = ?",
            (status.value, finished, stop_reason, run_id),
        )

    async def _close_running(self, reason: str, keep: str | None = None) -> int:
        cursor = await self._sql(
            "UPDATE runs SET status = 'interrupted', finished_at = ?, stop_reason = ? "
            "WHERE status = 'running' AND run_id IS NOT ?",
            (now(), reason, keep),
        )
        return cursor.rowcount

    # Tasks -----------------------------------------------------------------------------

    async def remaining_work(
        self, run_id: str, endpoints: Sequence[str]
    ) -> AsyncIterator[WorkItem]:
        """Stream the run's unfinished tasks grouped by symbol, in file order.

        Pages by rowid so no cursor stays open across the writer's commits.
        """
        wanted = set(endpoints)
        last = 0
        held: tuple[str, list[str]] | None = None
        sql = (
            "SELECT rowid, symbol, endpoint FROM tasks WHERE run_id = ? AND rowid > ? "
            f"AND status IN ({', '.join('?' * len(_UNFINISHED))}) ORDER BY rowid LIMIT ?"
        )
        while True:
            rows = await self._rows(sql, (run_id, last, *_UNFINISHED, PAGE))
            for rowid, symbol, endpoint in rows:
                last = rowid
                if endpoint not in wanted:
                    continue
                if held is not None and held[0] == symbol:
                    held[1].append(endpoint)
                    continue
                if held is not None:
                    yield WorkItem(symbol_from_canonical(held[0]), tuple(held[1]))
                held = (symbol, [endpoint])
            if len(rows) < PAGE:
                break
        if held is not None:
            yield WorkItem(symbol_from_canonical(held[0]), tuple(held[1]))

    async def write_results(
        self, run_id: str, results: Sequence[TaskResult], tables: Mapping[str, TableSpec]
    ) -> Written:
        """Upsert the results' rows and set their tasks' statuses in one transaction.

        Returns the rows written, classified; the run's ``rows_*`` counters grow by them
        in the same transaction.
        """
        stamp = now()
        by_table: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
        for result in results:
            if result.rows:
                markets = by_table.setdefault(result.endpoint, {})
                markets.setdefault(result.symbol.market, []).extend(result.rows)
        task_rows = [
            (
                r.status.value,
                r.attempts,
                len(r.rows),
                r.warnings,
                r.error_code,
                r.error_message,
                stamp,
                run_id,
                r.symbol.canonical,
                r.endpoint,
            )
            for r in results
        ]
        warnings = sum(result.warnings for result in results)
        written = Written()
        async with self._transaction():
            for endpoint, by_market in by_table.items():
                written += await self._upsert(tables[endpoint], by_market, (run_id, stamp))
            await self._add_to_run(
                run_id,
                {
                    "rows_written": written.rows,
                    "rows_new": written.new,
                    "rows_revised": written.revised,
                    "rows_unchanged": written.unchanged,
                    "warnings": warnings,
                },
            )
            await self._sql(
                "UPDATE tasks SET status = ?, attempts = attempts + ?, rows = ?, warnings = ?, "
                "error_code = ?, error_message = ?, updated_at = ? "
                "WHERE run_id = ? AND symbol = ? AND endpoint = ?",
                task_rows,
                many=True,
            )
        self._written[run_id] = self.written(run_id) + written
        return written

    def written(self, run_id: str) -> Written:
        """What this store's commits wrote for ``run_id`` since it opened: one sweep's share."""
        return self._written.get(run_id, Written())

    async def _upsert(
        self,
        spec: TableSpec,
        by_market: Mapping[str, Sequence[tuple[Any, ...]]],
        suffix: tuple[str, str],
    ) -> Written:
        """Upsert one table's rows, inside the caller's transaction, and classify them.

        Exact, at two or three indexed queries per table and batch. New: the distinct
        keys no stored row had before (one key twice in a batch is new once, then an
        update). Revised: the rows the table's trigger archived, which it does exactly
        when an update changes a data column, so a value that did not parse (NULL, which
        never replaces a stored one) changes nothing by itself. Unchanged: the rest.
        """
        rows = [row for batch in by_market.values() for row in batch]
        keys = list({(row[0], row[2]) for row in rows})  # (symbol, trade_date)
        stored = 0
        for start in range(0, len(keys), KEY_CHUNK):
            chunk = keys[start : start + KEY_CHUNK]
            # The keys drive the join, so each is one search of the primary key; the
            # row value form, (symbol, trade_date) IN (VALUES ...), scans the whole table.
            stored += await self._one(
                f"SELECT COUNT(*) FROM (VALUES {', '.join(['(?, ?)'] * len(chunk))}) AS k "
                f"CROSS JOIN {spec.table} AS t ON t.symbol = k.column1 "
                "AND t.trade_date = k.column2",
                [value for key in chunk for value in key],
            )
        # Revisions only grow within our transaction: those after its last rowid are ours.
        revisions = f"{spec.table}_revisions"
        last = await self._one(f"SELECT COALESCE(MAX(rowid), 0) FROM {revisions}")
        for market, batch in by_market.items():
            sql, pick = self._narrowing(spec, market)
            await self._sql(sql, [pick(row) + suffix for row in batch], many=True)
        revised = await self._one(f"SELECT COUNT(*) FROM {revisions} WHERE rowid > ?", (last,))
        new = len(keys) - stored
        return Written(len(rows), new, revised, len(rows) - new - revised)

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> Any:
        """The one value a query gives, through ``_sql``; its errors are the caller's."""
        cursor = await self._sql(sql, params)
        try:
            row = await cursor.fetchone()
        finally:
            await cursor.close()
        return row[0] if row is not None else None

    def _narrowing(self, spec: TableSpec, market: str) -> tuple[str, Picker]:
        found = self._upserts.get((spec, market))
        if found is None:
            found = self._upserts[spec, market] = spec.narrowing(market)
        return found

    async def task_counts(self, run_id: str) -> dict[str, dict[str, int]]:
        """``{endpoint: {status: count}}`` for a run."""
        return tasks_by_endpoint(await self._rows(TASK_COUNTS_SQL, (run_id,)))

    async def failed_tasks(self, run_id: str, limit: int) -> list[FailedTask]:
        """The run's first ``limit`` tasks that ended ``failed``, by symbol and endpoint."""
        rows = await self._rows(
            "SELECT symbol, endpoint, error_code, error_message FROM tasks "
            "WHERE run_id = ? AND status = ? ORDER BY symbol, endpoint LIMIT ?",
            (run_id, TaskStatus.FAILED.value, limit),
        )
        return [FailedTask(*row) for row in rows]

    # Requests per UTC day ----------------------------------------------------------------

    async def add_requests(self, day: str, count: int) -> None:
        """Add ``count`` requests to UTC day ``day`` (``YYYY-MM-DD``); a negative ``count``
        gives back part of an unused reservation.

        One statement, committed at once when no transaction is open. The connection is
        shared: called while the writer's transaction is open (between two of its
        statements), it joins that transaction and shares its fate, committed with the
        batch or rolled back with it.
        """
        _check_day(day)
        async with self._reading():
            await self._sql(
                "INSERT INTO requests_by_day (day, requests) VALUES (?, ?) "
                "ON CONFLICT (day) DO UPDATE SET requests = requests + excluded.requests",
                (day, count),
            )

    async def requests_on(self, day: str) -> int:
        """Requests recorded for UTC day ``day`` (``YYYY-MM-DD``); 0 when none was."""
        _check_day(day)
        rows = await self._rows("SELECT requests FROM requests_by_day WHERE day = ?", (day,))
        return int(rows[0][0]) if rows else 0


def _check_day(day: str) -> None:
    """Refuse a day not written ``YYYY-MM-DD``: the table's key is compared as text."""
    try:
        valid = date.fromisoformat(day).isoformat() == day
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(f"not a day as YYYY-MM-DD: {day!r}")
