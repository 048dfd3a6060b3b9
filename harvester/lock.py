"""One sweep per database: an advisory lock on a file beside it, holding the owner's pid.

The lock is ``flock`` on ``<db>.lock``: the kernel drops it when the process
ends, however it ends, so a lock left by a killed sweep never blocks the next
one. Readers (``status``, sqlite3, pandas) never take it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from harvester.errors import StoreError


class DatabaseLock:
    """Held for a whole sweep: ``with DatabaseLock(db):``; a second holder gets a StoreError."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = database.with_name(database.name + ".lock")
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
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"database {self.database}: cannot create its lock file "
                             f"{self.path.name} ({exc.strerror}); is the folder writable?") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(f"database {self.database} is being written by another harvester "
                             f"sweep (pid {owner}); wait for it or stop it first") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock; harmless when not held."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing drops the flock
