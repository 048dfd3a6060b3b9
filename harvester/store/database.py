"""Opening the SQLite file safely: a preflight, the pragmas, a corruption check, the migrations.

Also the one translation of an SQLite error into a StoreError of one line
naming the file and what to do, used by every step of the store and by the
read-only commands, which open the file through ``reading``.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from harvester.errors import StoreError
from harvester.store.lock import folder_message
from harvester.store.schema import MIGRATIONS, SCHEMA_VERSION

_RESUME = "then run the sweep again with --resume"
T = TypeVar("T")
VIEWS_VERSION = 3  #: the schema version whose migration added the views
HISTORY_VERSION = 5  #: the schema version whose migration added the history (``*_versions``)
POSITIONS_VERSION = 6  #: the schema version whose migration added ``short_positions``
#: The data tables a later migration added, and its version; the others came with the first.
_ADDED = {"short_positions": POSITIONS_VERSION}


def added_in(table: str) -> int:
    """The schema version whose migration made the data table ``table`` (and its views)."""
    return _ADDED.get(table, 1)


def translate(path: Path, exc: sqlite3.Error, busy_timeout: float = 0.0) -> StoreError:
    """The one place an SQLite error becomes a StoreError: one line naming the file."""
    text = str(exc)
    if "unable to open" in text:
        return StoreError(
            f"database {path}: cannot open it (does its folder exist and is it writable?)"
        )
    if "not a database" in text:
        return StoreError(f"database {path}: the file is not an SQLite database")
    if "locked" in text or "busy" in text:
        return StoreError(
            f"database {path}: another program holds its write lock (waited {busy_timeout:g}s); "
            f"close it (an sqlite3 shell in a transaction, a pandas to_sql...) or raise "
            f"[sweep] busy_timeout, {_RESUME}"
        )
    if "full" in text:
        return StoreError(f"database {path}: the disk is full ({text}); free some space, {_RESUME}")
    if "disk I/O" in text or "readonly" in text:
        return StoreError(
            f"database {path}: cannot write it ({text}); check the disk and the "
            f"file's permissions, {_RESUME}"
        )
    if "malformed" in text:
        return corrupt(path, text)
    return StoreError(f"database {path}: {text}")


def _newer(path: Path, version: int) -> StoreError:
    """The error for a file a newer harvester wrote."""
    return StoreError(
        f"database {path}: schema version {version} is newer than this "
        f"harvester knows ({SCHEMA_VERSION}); upgrade the harvester"
    )


def corrupt(path: Path, detail: str) -> StoreError:
    """The error for a corrupt file, whoever found it."""
    return StoreError(
        f"database {path}: the file is corrupt ({detail}); restore it from a copy, "
        "or move it aside and the next sweep starts a new one"
    )


def connect_checked(target: str | Path, *, uri: bool = False) -> sqlite3.Connection:
    """A stdlib connection whose file header has been read; sqlite3.Error if it cannot be."""
    conn = sqlite3.connect(target, uri=uri)
    try:
        conn.execute("PRAGMA schema_version").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _preflight(path: Path) -> None:
    """Open the file once with the stdlib driver and read its header.

    aiosqlite (0.22) leaves its worker thread posting to a closed loop when
    ``connect`` fails, which prints a thread traceback at exit; failing here
    first keeps a bad path to one clear line.
    """
    try:
        connect_checked(path).close()
    except sqlite3.Error as exc:
        raise translate(path, exc) from exc


async def open_database(path: Path, busy_timeout: float) -> aiosqlite.Connection:
    """A connection in WAL mode to a sound file at the current schema version, or a StoreError."""
    _preflight(path)
    db = None
    try:
        db = await aiosqlite.connect(path, isolation_level=None)
        await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        await db.execute("PRAGMA journal_mode = WAL")
        # WAL with synchronous=NORMAL survives a crash of the process; only a power
        # loss can drop the last commits, and resume fetches those again.
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.execute("PRAGMA foreign_keys = ON")
        await _check(db, path)
        await _migrate(db, path)
    except BaseException as exc:
        if db is not None:
            await db.close()
        if isinstance(exc, sqlite3.Error):
            raise translate(path, exc, busy_timeout) from exc
        raise
    return db


async def _check(db: aiosqlite.Connection, path: Path) -> None:
    """Refuse a corrupt file before writing to it: a sweep must not build on a broken file.

    ``quick_check`` reads every page once (0.3 s for 2 million rows here); the
    full ``integrity_check`` would also compare every index, five times slower.
    """
    async with db.execute("PRAGMA quick_check(1)") as cursor:
        row = await cursor.fetchone()
    if row is not None and row[0] != "ok":
        raise corrupt(path, row[0])


async def _migrate(db: aiosqlite.Connection, path: Path) -> None:
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    version = row[0] if row else 0
    if version > SCHEMA_VERSION:
        raise _newer(path, version)
    if version == SCHEMA_VERSION:
        return
    # Every pending step and the version bump in one transaction: the file is at its
    # old version or the new one, never between.
    await db.execute("BEGIN IMMEDIATE")
    try:
        for number in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[number - 1]:
                await db.execute(statement)
        await db.execute(f"PRAGMA user_version = {int(SCHEMA_VERSION)}")
        await db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            await db.execute("ROLLBACK")
        raise


def open_read_only(path: Path) -> sqlite3.Connection:
    """Open the file read-only; a copy we cannot write beside is read as immutable.

    In WAL mode even a reader needs the ``-shm`` file, which it cannot create
    in a read-only folder. With no ``-wal`` file beside it, the database file
    is the whole database, so reading it as immutable is exact.
    """
    uri = path.resolve().as_uri()
    try:
        return connect_checked(f"{uri}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        if Path(f"{path}-wal").exists():
            raise translate(path, exc) from exc
    try:
        return connect_checked(f"{uri}?immutable=1", uri=True)
    except sqlite3.Error as exc:
        raise translate(path, exc) from exc


def is_empty(db: sqlite3.Connection) -> bool:
    """True for a database with nothing in it, as ``touch`` or ``sqlite3 x.sqlite ''`` leave it.

    SQLite reads a file of 0 bytes as such a database, and a sweep starts its schema there.
    """
    return (
        db.execute("PRAGMA user_version").fetchone()[0] == 0
        and db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
    )


#: A run's tasks counted by endpoint and status; ``?`` is the run's id. ``tasks_by_endpoint``
#: folds its rows.
TASK_COUNTS_SQL = "SELECT endpoint, status, COUNT(*) FROM tasks WHERE run_id = ? GROUP BY 1, 2"


def tasks_by_endpoint(rows: Iterable[Sequence[Any]]) -> dict[str, dict[str, int]]:
    """``{endpoint: {status: count}}`` from the rows of ``TASK_COUNTS_SQL``."""
    counts: dict[str, dict[str, int]] = {}
    for endpoint, status, count in rows:
        counts.setdefault(endpoint, {})[status] = count
    return counts


def missing(path: Path) -> StoreError:
    """The one line every command gives for a database file that does not exist."""
    return StoreError(
        f"database {path}: no such file (run a sweep first, or name the file with --db)"
    )


def refuse_folder(path: Path) -> None:
    """One line for a path that names a folder, where SQLite would say it cannot open it."""
    if path.is_dir():
        raise StoreError(folder_message(path))


def readable_version(db: sqlite3.Connection, path: Path, *, at_least: int = 1) -> int:
    """The file's schema version, or a StoreError if this harvester cannot read it as asked.

    Refused: a file of a newer schema, an empty one (0 bytes: no sweep wrote it yet), one
    with no schema version and something in it (not ours), and one older than
    ``at_least`` (a sweep migrates it in place).
    """
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise _newer(path, version)
    if is_empty(db):
        raise StoreError(
            f"database {path} is empty: no sweep has written it yet (harvester sweep --db {path})"
        )
    if version == 0:
        raise StoreError(
            f"database {path}: not a harvester database (no schema version); "
            "name the file a sweep writes, with --db or [sweep] db"
        )
    if version < at_least:
        lacks = (
            f"has no views (they came with version {VIEWS_VERSION})"
            if version < VIEWS_VERSION
            else f"predates version {at_least}, which this needs"
        )
        raise StoreError(
            f"database {path}: schema version {version} {lacks}; run a sweep on "
            f"it once to migrate it in place (harvester sweep --db {path})"
        )
    return version


@contextlib.contextmanager
def reading(path: Path, *, at_least: int = 1) -> Iterator[sqlite3.Connection]:
    """The file opened read-only at a schema this harvester reads; SQLite errors translated."""
    refuse_folder(path)
    if not path.is_file():
        raise missing(path)
    db = open_read_only(path)
    try:
        readable_version(db, path, at_least=at_least)
        yield db
    except sqlite3.Error as exc:
        raise translate(path, exc) from exc
    finally:
        db.close()


def snapshot(db: sqlite3.Connection, read: Callable[[sqlite3.Connection], T]) -> T:
    """``read(db)`` in one read transaction: every query of it sees the same state of the file."""
    db.execute("BEGIN")
    try:
        return read(db)
    finally:
        db.execute("ROLLBACK")
