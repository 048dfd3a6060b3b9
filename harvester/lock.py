"""One sweep per database file: an advisory lock beside the file itself, holding the owner's pid.

The lock is ``flock`` on ``<real path>.lock``, where the real path has every
symlink resolved, so the same file reached through a symlink, a relative path
or ``..`` gets the same lock. A file with more than one hard link is refused:
SQLite names its WAL after the path it was opened by, so two names for one
file mean two WALs and a corrupt file. The kernel drops the lock when its
process ends, however it ends, so a lock left by a killed sweep never blocks
the next one. Readers (``status``, ``check``, sqlite3, pandas) never take it:
``lock_holder`` tells whether a sweep holds it without taking it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from harvester.errors import StoreError

PROC_LOCKS = Path("/proc/locks")  # Linux: every lock held, with its holder's pid


def real_path(database: Path) -> Path:
    """The file a database path names, with every symlink resolved."""
    return Path(os.path.realpath(database))


def lock_path(database: Path) -> Path:
    """The lock file of a database file: ``<real path>.lock``."""
    real = real_path(database)
    return real.with_name(real.name + ".lock")


def check_file(database: Path) -> None:
    """Refuse a database path that names a folder, or a file with more than one hard link."""
    try:
        info = os.stat(database)
    except FileNotFoundError:
        return  # a new file: SQLite creates it
    except OSError as exc:
        raise StoreError(f"database {database}: cannot read it ({exc.strerror})") from exc
    if stat.S_ISDIR(info.st_mode):
        raise StoreError(f"database {database} is a folder; name a file in it, "
                         "e.g. --db harvest.sqlite")
    if info.st_nlink > 1:
        raise StoreError(
            f"database {database} has {info.st_nlink} hard links; SQLite keeps one WAL per name, "
            "so two names for one file can corrupt it: remove the other links "
            "(find / -samefile FILE) or use a copy"
        )


class DatabaseLock:
    """Held for a whole sweep: ``with DatabaseLock(db):``; a second holder gets a StoreError."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = lock_path(database)
        self._fd: int | None = None

    def __repr__(self) -> str:
        return f"<DatabaseLock {self.path} held={self._fd is not None}>"

    def __enter__(self) -> DatabaseLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock or raise a StoreError naming the process that holds it."""
        check_file(self.database)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"database {self.database}: cannot create its lock file "
                             f"{self.path} ({exc.strerror}); is the folder writable?") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(f"database {self.database} is being written by another harvester "
                             f"sweep (pid {owner}); wait for it or stop it first") from None
        try:
            # Checked again under the lock: a link made since the first look is refused too.
            check_file(self.database)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock; harmless when not held."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing drops the flock


@dataclass(frozen=True, slots=True)
class LockHolder:
    """A sweep holding a database's lock; ``pid`` is None when it cannot be told."""

    pid: int | None

    def __str__(self) -> str:
        return f"pid {self.pid}" if self.pid is not None else "pid unknown"


def lock_holder(database: Path, *, proc_locks: Path = PROC_LOCKS) -> LockHolder | None:
    """The sweep holding ``database``'s lock, or None when no sweep does; never takes the lock.

    On Linux the holder is looked up in ``/proc/locks`` by the lock file's inode,
    so a sweep starting at that very moment is never disturbed. Elsewhere a
    non-blocking shared lock is tried and let go at once: a sweep starting in that
    instant would find the lock taken and exit 2 (run it again). A lock file with
    no holder, or none at all, means no sweep runs.
    """
    path = lock_path(database)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"database {database}: cannot read its lock file {path} "
                         f"({exc.strerror})") from exc
    try:
        table = proc_locks.read_text(encoding="ascii", errors="replace")
    except OSError:
        return _probe(path)
    return _holder_in(table, info, _written_pid(path))


def _holder_in(table: str, info: os.stat_result, written: int | None) -> LockHolder | None:
    """The holder of the lock file ``info`` in a ``/proc/locks`` table.

    A line reads ``1: FLOCK  ADVISORY  WRITE 5120 fe:00:2312183 0 EOF`` (pid, then
    device in hex and inode); a waiter's has ``->`` after the number and holds
    nothing. The inode must match, and the device too, or else the pid the sweep
    wrote in the file (some filesystems, btrfs and overlayfs, report a device
    there that ``stat`` does not).
    """
    device = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}"
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK":
            continue
        pid, where = fields[4], fields[5]
        dev, _, inode = where.rpartition(":")
        if not (inode.isdigit() and pid.isdigit()) or int(inode) != info.st_ino:
            continue
        if dev == device or int(pid) == written:
            return LockHolder(int(pid))
    return None


def _written_pid(path: Path) -> int | None:
    """The pid a sweep wrote in its lock file (empty once it let go), or None."""
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _probe(path: Path) -> LockHolder | None:
    """Try a shared lock without waiting and let it go at once (where /proc/locks is missing)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return LockHolder(_written_pid(path))
    finally:
        os.close(fd)  # closing drops the shared lock, if we got it
    return None
