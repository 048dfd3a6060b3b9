"""One sweep per database file: an advisory lock beside the file itself, holding the owner's pid.

The lock is ``flock`` on ``<real path>.lock``, where the real path has every
symlink resolved, so the same file reached through a symlink, a relative path
or ``..`` gets the same lock. A file with more than one hard link is refused:
SQLite names its WAL after the path it was opened by, so two names for one
file mean two WALs and a corrupt file. The kernel drops the lock when its
process ends, however it ends, so a lock left by a killed sweep never blocks
the next one. Readers (``status``, sqlite3, pandas) never take it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from pathlib import Path
from types import TracebackType

from harvester.errors import StoreError


def real_path(database: Path) -> Path:
    """The file a database path names, with every symlink resolved."""
    return Path(os.path.realpath(database))


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
        real = real_path(database)
        self.path = real.with_name(real.name + ".lock")
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
