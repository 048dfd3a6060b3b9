"""One sweep per database file: an advisory lock on the database file itself.

The lock is ``flock`` on the database file, opened by its real path (every
symlink resolved), so the same file reached through a symlink, a relative path
or ``..`` gets the same lock. It is held on the file the sweep writes, not on a
file beside it, so no cleanup can defeat it: deleting or replacing a stray
``*.lock`` file changes nothing, and while a sweep lives a second one on the
same file is refused. ``flock`` locks and SQLite's own (POSIX record locks on
byte ranges) are independent of each other on Linux, so the lock never blocks
a reader. Closing any descriptor of a file drops the POSIX locks its process
holds on it, SQLite's included: so the lock's descriptor is opened before the
sweep's connections and closed after them (``run_sweep`` nests them so), and a
reader's look at the lock (``lock_watch``) is opened before its connection.

A file with more than one hard link is refused: SQLite names its WAL after the
path it was opened by, so two names for one file mean two WALs and a corrupt
file. The kernel drops the lock when its process ends, however it ends, so a
lock left by a killed sweep never blocks the next one. Readers (``status``,
``check``, sqlite3, pandas) never take it: ``lock_watch`` tells whether a
sweep holds it without taking it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from harvester.errors import StoreError

PROC_LOCKS = Path("/proc/locks")  # Linux: every lock held, with its holder's pid
PROC = Path("/proc")  # Linux: each process's open files, to tell a holder on another device


def folder_message(database: Path) -> str:
    """What a command says of a database path that names a folder."""
    return f"database {database} is a folder; name a file in it, e.g. --db harvest.sqlite"


def real_path(database: Path) -> Path:
    """The file a database path names, with every symlink resolved."""
    return Path(os.path.realpath(database))


#: The files of a database, by the suffix SQLite (or an older harvester) adds to its name.
OWN_FILES = (
    ("", "the database itself"),
    ("-wal", "the database's write-ahead log"),
    ("-shm", "the database's shared-memory index"),
    ("-journal", "the database's rollback journal"),
    (".lock", "the lock file older harvester versions used"),
)


def own_file(target: Path, database: Path) -> str | None:
    """Which of ``database``'s own files (``OWN_FILES``) writing ``target`` would replace.

    None if it is none of them. Each is looked for beside the database's real path and
    beside the name it was given (should that be a symlink, SQLite names the WAL after
    it). ``target`` is compared resolved, as a write follows its symlinks, and by
    inode when it exists (a hard link). A ``-wal`` that does not exist yet is one too:
    the next sweep would take the file for its log.
    """
    bases = {str(real_path(database)), str(real_path(database.parent) / database.name)}
    written, written_id = real_path(target), _identity(target)
    for base in bases:
        for suffix, what in OWN_FILES:
            name = Path(base + suffix)
            if written == name or (written_id is not None and written_id == _identity(name)):
                return what
    return None


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


def check_file(database: Path) -> None:
    """Refuse a database path that names a folder, or a file with more than one hard link."""
    try:
        info = os.stat(database)
    except FileNotFoundError:
        return  # a new file: SQLite creates it
    except OSError as exc:
        raise StoreError(f"database {database}: cannot read it ({exc.strerror})") from exc
    if stat.S_ISDIR(info.st_mode):
        raise StoreError(folder_message(database))
    if info.st_nlink > 1:
        raise StoreError(
            f"database {database} has {info.st_nlink} hard links; SQLite keeps one WAL per name, "
            "so two names for one file can corrupt it: remove the other links "
            "(find / -samefile FILE) or use a copy"
        )


class DatabaseLock:
    """Held for a whole sweep: ``with DatabaseLock(db):``; a second holder gets a StoreError.

    Enter it before opening the database and leave it after closing it (see the
    module's docstring: closing its descriptor earlier would drop SQLite's locks).
    """

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = real_path(database)  #: the file locked
        self._fd: int | None = None

    def __repr__(self) -> str:
        return f"<DatabaseLock {self.path} held={self._fd is not None}>"

    def __enter__(self) -> DatabaseLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock or raise a StoreError naming the process that holds it.

        A new database is created here, empty (SQLite takes an empty file for a
        new database), so that there is a file to lock.
        """
        check_file(self.database)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(
                f"database {self.database}: cannot open it for writing "
                f"({exc.strerror}); is the folder writable, and the file if it "
                "exists?"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd, PROC_LOCKS)
            os.close(fd)
            raise StoreError(
                f"database {self.database} is being written by another harvester "
                f"sweep ({holder or 'pid unknown'}); wait for it or stop it "
                "first"
            ) from None
        try:
            # Checked again under the lock: a link made since the first look is refused too.
            check_file(self.database)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock; harmless when not held."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing drops the flock


@dataclass(frozen=True, slots=True)
class LockHolder:
    """A sweep holding a database's lock; ``pid`` is None when it cannot be told."""

    pid: int | None

    def __str__(self) -> str:
        return f"pid {self.pid}" if self.pid is not None else "pid unknown"


Look = Callable[[], LockHolder | None]


@contextlib.contextmanager
def lock_watch(database: Path, *, proc_locks: Path = PROC_LOCKS) -> Iterator[Look]:
    """Looks at ``database``'s lock without taking it: ``with lock_watch(db) as look: look()``.

    ``look()`` is the sweep holding the lock, or None. Open the watch before
    this process opens its own SQLite connection to the file, and leave it
    after closing that (see the module's docstring). On Linux the holder is
    looked up in ``/proc/locks`` by the file's inode, so a sweep starting at
    that very moment is never disturbed. Elsewhere a non-blocking shared lock
    is tried and let go at once: a sweep starting in that instant would find
    the lock taken and exit 2 (run it again). No file means no sweep.
    """
    try:
        fd = os.open(real_path(database), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        yield lambda: None
        return
    except OSError as exc:
        raise StoreError(f"database {database}: cannot read it ({exc.strerror})") from exc
    try:
        yield lambda: _holder(fd, proc_locks)
    finally:
        os.close(fd)


def _holder(fd: int, proc_locks: Path) -> LockHolder | None:
    """The holder of the flock on the file open as ``fd``, from ``/proc/locks`` or a probe."""
    try:
        table = proc_locks.read_text(encoding="ascii", errors="replace")
    except OSError:
        return _probe(fd)
    return _holder_in(table, os.fstat(fd))


def _holder_in(table: str, info: os.stat_result, *, proc: Path = PROC) -> LockHolder | None:
    """The holder of the file ``info`` in a ``/proc/locks`` table.

    A line reads ``1: FLOCK  ADVISORY  WRITE 5120 fe:00:2312183 0 EOF`` (pid, then
    device in hex and inode); a waiter's has ``->`` after the number and holds
    nothing. The inode must match, and the device too, or else the process must
    have the very file open (some filesystems, btrfs and overlayfs, report a
    device there that ``stat`` does not); when its open files cannot be read,
    the inode alone decides.
    """
    device = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}"
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK" or fields[2] != "ADVISORY":
            continue
        pid, where = fields[4], fields[5]
        dev, _, inode = where.rpartition(":")
        if not (inode.isdigit() and pid.isdigit()) or int(inode) != info.st_ino:
            continue
        if dev == device or _has_open(proc / pid / "fd", info) is not False:
            return LockHolder(int(pid))
    return None


def _has_open(fds: Path, info: os.stat_result) -> bool | None:
    """Whether a process (its ``/proc/PID/fd`` folder) has the file open; None if unreadable."""
    try:
        links = list(fds.iterdir())
    except FileNotFoundError:
        return False  # no such process (any more)
    except OSError:
        return None
    for link in links:
        with contextlib.suppress(OSError):
            found = os.stat(link)
            if (found.st_dev, found.st_ino) == (info.st_dev, info.st_ino):
                return True
    return False


def _probe(fd: int) -> LockHolder | None:
    """Try a shared lock without waiting and let it go at once (where /proc/locks is missing)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return LockHolder(None)
    fcntl.flock(fd, fcntl.LOCK_UN)
    return None
