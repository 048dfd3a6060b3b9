"""The SQLite store: one connection in WAL mode, explicit transactions, batched upserts.

A task's final status is written in the same transaction as its rows, so a
crash never leaves rows without their task or a task marked done without its
rows. Only the sweep writes; ``status`` opens the file read-only.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite

from harvester.errors import StoreError
from harvester.model import RunStatus, Symbol, TaskResult, WorkItem
from harvester.schema import MIGRATIONS, SCHEMA_VERSION

_RUN_COUNTERS = frozenset({"symbols", "duplicates", "malformed_lines", "requests",
                           "rows_written", "warnings", "resumes"})
PAGE = 1000  # tasks read per query when streaming a run's remaining work
Picker = Callable[[tuple[Any, ...]], tuple[Any, ...]]  # picks a row's stored values


def now() -> str:
    """The current UTC time as ISO 8601 text with milliseconds and ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class TableSpec:
    """Where one endpoint's rows go: its table and its data columns, in row order.

    ``markets`` names, per market, the data columns its records can fill; the
    others are always NULL for that market's symbols, so they are left out of
    its upserts rather than bound as NULL row after row.
    """

    endpoint: str
    table: str
    columns: tuple[str, ...]
    markets: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def upsert_sql(self, columns: Sequence[str] | None = None) -> str:
        """The upsert for a row ``(symbol, market, trade_date, *columns, run_id, fetched_at)``.

        ``columns`` defaults to all the data columns.
        """
        data = self.columns if columns is None else tuple(columns)
        names = ("symbol", "market", "trade_date", *data, "run_id", "fetched_at")
        # A value that did not parse arrives as NULL: it never erases a stored value.
        updates = ", ".join(
            f"{name} = COALESCE(excluded.{name}, {name})" if name in data
            else f"{name} = excluded.{name}"
            for name in names if name not in ("symbol", "trade_date")
        )
        # Table and column names come from the adapters' code, never from input.
        return (
            f"INSERT INTO {self.table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
            f"ON CONFLICT (symbol, trade_date) DO UPDATE SET {updates}"
        )

    def narrowing(self, market: str) -> tuple[str, Picker]:
        """The upsert for ``market``'s rows, and what picks their values out of a full row."""
        kept = dict(self.markets).get(market, self.columns)
        positions = [0, 1, 2, *(3 + self.columns.index(name) for name in kept)]
        return self.upsert_sql(kept), itemgetter(*positions)


@dataclass(frozen=True, slots=True)
class RunRow:
    """A row of ``runs``."""

    run_id: str
    started_at: str
    status: RunStatus


def symbol_from_canonical(text: str) -> Symbol:
    """Rebuild a Symbol from its stored canonical form."""
    code, _, market = text.rpartition(".")
    return Symbol(code, market)


_RESUME = "then run the sweep again with --resume"


def _translate(path: Path, exc: sqlite3.Error, busy_timeout: float = 0.0) -> StoreError:
    """The one place an SQLite error becomes a StoreError: one line naming the file."""
    text = str(exc)
    if "unable to open" in text:
        return StoreError(f"database {path}: cannot open it (does its folder exist and is it "
                          "writable?)")
    if "not a database" in text:
        return StoreError(f"database {path}: the file is not an SQLite database")
    if "locked" in text or "busy" in text:
        return StoreError(
            f"database {path}: another program holds its write lock (waited {busy_timeout:g}s); "
            f"close it (an sqlite3 shell in a transaction, a pandas to_sql...) or raise "
            f"[sweep] busy_timeout, {_RESUME}")
    if "full" in text:
        return StoreError(f"database {path}: the disk is full ({text}); free some space, {_RESUME}")
    if "disk I/O" in text or "readonly" in text:
        return StoreError(f"database {path}: cannot write it ({text}); check the disk and the "
                          f"file's permissions, {_RESUME}")
    if "malformed" in text:
        return StoreError(f"database {path}: the file is corrupt ({text}); restore it from a "
                          "copy or move it aside to start a new one")
    return StoreError(f"database {path}: {text}")


def _preflight(path: Path) -> None:
    """Open the file once with the stdlib driver and read its header.

    aiosqlite (0.22) leaves its worker thread posting to a closed loop when
    ``connect`` fails, which prints a thread traceback at exit; failing here
    first keeps a bad path to one clear line.
    """
    try:
        conn = sqlite3.connect(path)
    except sqlite3.Error as exc:
        raise _translate(path, exc) from exc
    try:
        conn.execute("PRAGMA schema_version").fetchone()
    except sqlite3.Error as exc:
        raise _translate(path, exc) from exc
    finally:
        conn.close()


class Store:
    """The sweep's database; use as ``async with Store(path) as store``."""

    def __init__(self, path: Path, *, busy_timeout: float = 30.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout  #: seconds to wait for another program's write lock
        self._db: aiosqlite.Connection | None = None
        self._upserts: dict[tuple[TableSpec, str], tuple[str, Picker]] = {}

    def __repr__(self) -> str:
        return f"<Store {self.path} open={self._db is not None}>"

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection."""
        if self._db is None:
            raise RuntimeError("Store used outside 'async with'")
        return self._db

    async def __aenter__(self) -> Store:
        _preflight(self.path)
        try:
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            await self._db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            await self._db.execute("PRAGMA journal_mode = WAL")
            # WAL with synchronous=NORMAL survives a crash of the process; only a power
            # loss can drop the last commits, and resume fetches those again.
            await self._db.execute("PRAGMA synchronous = NORMAL")
            await self._db.execute("PRAGMA foreign_keys = ON")
            await self._check()
            await self._migrate()
        except sqlite3.Error as exc:
            await self.close()
            raise self._translate(exc) from exc
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection; harmless when already closed."""
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    async def _check(self) -> None:
        """Refuse a corrupt file before writing to it: a sweep must not build on a broken file.

        ``quick_check`` reads every page once (0.3 s for 2 million rows here); the
        full ``integrity_check`` would also compare every index, five times slower.
        """
        async with self.db.execute("PRAGMA quick_check(1)") as cursor:
            row = await cursor.fetchone()
        if row is not None and row[0] != "ok":
            raise StoreError(f"database {self.path}: the file is corrupt ({row[0]}); restore it "
                             "from a copy, or move it aside and the next sweep starts a new one")

    async def _migrate(self) -> None:
        async with self.db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        version = row[0] if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(f"database {self.path}: schema version {version} is newer than this "
                             f"harvester knows ({SCHEMA_VERSION}); upgrade the harvester")
        if version == SCHEMA_VERSION:
            return
        # Every pending step and the version bump in one transaction: the file is at its
        # old version or the new one, never between.
        async with self.transaction():
            for number in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[number - 1]:
                    await self.db.execute(statement)
            await self.db.execute(f"PRAGMA user_version = {int(SCHEMA_VERSION)}")

    def _translate(self, exc: sqlite3.Error) -> StoreError:
        return _translate(self.path, exc, self.busy_timeout)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
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

    # Runs ------------------------------------------------------------------------------

    async def latest_unfinished_run(self) -> RunRow | None:
        """The newest run that is still ``running`` or ``interrupted``."""
        sql = ("SELECT run_id, started_at, status FROM runs WHERE status != 'completed' "
               "ORDER BY started_at DESC, rowid DESC LIMIT 1")
        async with self._reading(), self.db.execute(sql) as cursor:
            row = await cursor.fetchone()
        return RunRow(row[0], row[1], RunStatus(row[2])) if row else None

    async def insert_run(self, run_id: str, symbols_file: str) -> None:
        """Record a new run as ``running``; call inside a transaction."""
        await self.db.execute(
            "INSERT INTO runs (run_id, started_at, status, symbols_file) VALUES (?, ?, ?, ?)",
            (run_id, now(), RunStatus.RUNNING.value, symbols_file),
        )

    async def add_tasks(
        self, run_id: str, tasks: Iterable[tuple[str, str, str, str | None]]
    ) -> int:
        """Insert ``(symbol, endpoint, status, message)`` tasks, ignoring duplicates; count new."""
        before = self.db.total_changes
        stamp = now()
        await self.db.executemany(
            "INSERT OR IGNORE INTO tasks (run_id, symbol, endpoint, status, error_message, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(run_id, symbol, endpoint, status, message, stamp)
             for symbol, endpoint, status, message in tasks],
        )
        return self.db.total_changes - before

    async def update_run(self, run_id: str, **counts: int) -> None:
        """Add to a run's counters (``symbols``, ``requests``, ``rows_written``...)."""
        unknown = set(counts) - _RUN_COUNTERS
        if unknown:
            raise ValueError(f"not a run counter: {sorted(unknown)}")
        if counts:
            # Column names come from the allow-list above, never from input.
            assignments = ", ".join(f"{name} = {name} + ?" for name in counts)
            await self.db.execute(f"UPDATE runs SET {assignments} WHERE run_id = ?",
                                  (*counts.values(), run_id))

    async def set_run_status(
        self, run_id: str, status: RunStatus, stop_reason: str | None = None
    ) -> None:
        """Set a run's status and why it stopped; a finished run gets its ``finished_at``."""
        finished = None if status is RunStatus.RUNNING else now()
        await self.db.execute(
            "UPDATE runs SET status = ?, finished_at = ?, stop_reason = ? WHERE run_id = ?",
            (status.value, finished, stop_reason, run_id),
        )

    async def interrupt_running(self, reason: str, keep: str | None = None) -> int:
        """Close ``running`` runs (left by a crash: the caller holds the lock) as interrupted."""
        cursor = await self.db.execute(
            "UPDATE runs SET status = 'interrupted', finished_at = ?, stop_reason = ? "
            "WHERE status = 'running' AND run_id IS NOT ?",
            (now(), reason, keep),
        )
        return cursor.rowcount

    # Tasks -----------------------------------------------------------------------------

    async def remaining_work(
        self, run_id: str, endpoints: Sequence[str]
    ) -> AsyncIterator[WorkItem]:
        """Stream the run's ``pending`` and ``failed`` tasks grouped by symbol, in file order.

        Pages by rowid so no cursor stays open across the writer's commits.
        """
        wanted = set(endpoints)
        last = 0
        held: tuple[str, list[str]] | None = None
        sql = ("SELECT rowid, symbol, endpoint FROM tasks WHERE run_id = ? AND rowid > ? "
               "AND status IN ('pending', 'failed') ORDER BY rowid LIMIT ?")
        while True:
            async with self._reading(), self.db.execute(sql, (run_id, last, PAGE)) as cursor:
                rows = list(await cursor.fetchall())
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
    ) -> int:
        """Upsert the results' rows and set their tasks' statuses in one transaction."""
        stamp = now()
        by_table: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        for result in results:
            if result.rows:
                key = (result.endpoint, result.symbol.market)
                by_table.setdefault(key, []).extend(result.rows)
        task_rows = [
            (r.status.value, r.attempts, len(r.rows), r.warnings, r.error_code, r.error_message,
             stamp, run_id, r.symbol.canonical, r.endpoint)
            for r in results
        ]
        warnings = sum(result.warnings for result in results)
        return await self._write(run_id, stamp, by_table, task_rows, warnings, tables)

    async def _write(
        self,
        run_id: str,
        stamp: str,
        by_table: Mapping[tuple[str, str], list[tuple[Any, ...]]],
        task_rows: list[tuple[Any, ...]],
        warnings: int,
        tables: Mapping[str, TableSpec],
    ) -> int:
        suffix = (run_id, stamp)
        async with self.transaction():
            for (endpoint, market), rows in by_table.items():
                sql, pick = self._narrowing(tables[endpoint], market)
                await self.db.executemany(sql, [pick(row) + suffix for row in rows])
            written = sum(len(rows) for rows in by_table.values())
            await self.db.execute(
                "UPDATE runs SET rows_written = rows_written + ?, warnings = warnings + ? "
                "WHERE run_id = ?",
                (written, warnings, run_id),
            )
            await self.db.executemany(
                "UPDATE tasks SET status = ?, attempts = attempts + ?, rows = ?, warnings = ?, "
                "error_code = ?, error_message = ?, updated_at = ? "
                "WHERE run_id = ? AND symbol = ? AND endpoint = ?",
                task_rows,
            )
        return written

    def _narrowing(
        self, spec: TableSpec, market: str
    ) -> tuple[str, Picker]:
        found = self._upserts.get((spec, market))
        if found is None:
            found = self._upserts[spec, market] = spec.narrowing(market)
        return found

    async def task_counts(self, run_id: str) -> dict[str, dict[str, int]]:
        """``{endpoint: {status: count}}`` for a run."""
        sql = "SELECT endpoint, status, COUNT(*) FROM tasks WHERE run_id = ? GROUP BY 1, 2"
        counts: dict[str, dict[str, int]] = {}
        async with self._reading(), self.db.execute(sql, (run_id,)) as cursor:
            async for endpoint, status, count in cursor:
                counts.setdefault(endpoint, {})[status] = count
        return counts


def _open_read_only(path: Path) -> sqlite3.Connection:
    """Open the file read-only; a copy we cannot write beside is read as immutable.

    In WAL mode even a reader needs the ``-shm`` file, which it cannot create
    in a read-only folder. With no ``-wal`` file beside it, the database file
    is the whole database, so reading it as immutable is exact.
    """
    uri = path.resolve().as_uri()
    db = None
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True)
        db.execute("PRAGMA schema_version").fetchone()
        return db
    except sqlite3.Error as exc:
        if db is not None:
            db.close()
        if Path(f"{path}-wal").exists():
            raise _translate(path, exc) from exc
    try:
        db = sqlite3.connect(f"{uri}?immutable=1", uri=True)
        db.execute("PRAGMA schema_version").fetchone()
    except sqlite3.Error as exc:
        raise _translate(path, exc) from exc
    return db


def read_status(path: Path, limit: int = 5) -> list[dict[str, Any]]:
    """Recent runs with their task counts by endpoint and status, read-only."""
    if not path.is_file():
        raise StoreError(f"database {path}: no such file")
    db = _open_read_only(path)
    try:
        db.row_factory = sqlite3.Row
        runs = [dict(row) for row in db.execute(
            "SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?", (limit,))]
        for run in runs:
            run["tasks"] = {}
            for endpoint, status, count in db.execute(
                "SELECT endpoint, status, COUNT(*) FROM tasks WHERE run_id = ? GROUP BY 1, 2",
                (run["run_id"],),
            ):
                run["tasks"].setdefault(endpoint, {})[status] = count
        return runs
    except sqlite3.Error as exc:
        raise _translate(path, exc) from exc
    finally:
        db.close()

