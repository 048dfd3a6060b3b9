"""From outside: ``export -o`` writes only where it should, and leaves no temporary file.

The CLI as a subprocess on real files in tmp_path. The database's own files (the file,
its ``-wal``, ``-shm``, ``-journal`` and ``.lock``), by any name, are refused in one
line and left as they were. A FIFO or a character device is written where it is and
stays what it was; a symlink is kept and the file it points to replaced. SIGTERM and
SIGHUP, like SIGINT, remove the temporary file and exit 128 + the signal. A write
error on stdout names stdout.

``/dev/stdout`` itself is run only where this process cannot write ``/dev``: as root, a
regression would put a plain file in its place for the whole machine. A symlink of our
own to ``/proc/self/fd/1`` is the same case, and ``/dev/fd/1`` cannot be renamed over.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from harvester.store import lock
from harvester.store.schema import MIGRATIONS, SCHEMA_VERSION

Run = Callable[..., subprocess.CompletedProcess[str]]
OnlyLine = Callable[[subprocess.CompletedProcess[str]], str]
WaitUntil = Callable[[Callable[[], object], float, str], None]
Env = Callable[..., dict[str, str]]

HARVESTER = [sys.executable, "-m", "harvester"]
DEADLINE = 30.0  # seconds any one process of these tests may take
NOTES = [(1, "one"), (2, None), (3, "three, with a comma")]
# A view of a billion rows made as they are read: an export of it runs until stopped.
ENDLESS = (
    "CREATE VIEW endless AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
    "SELECT i + 1 FROM n LIMIT 1000000000) SELECT i, 'row ' || i AS text FROM n"
)
OWN_FILES = dict(lock.OWN_FILES)  # suffix: how the refusal names it
OWN_FILES.pop("-journal")  # a WAL database has none; tested by name below


def make_db(path: Path) -> Path:
    """A harvester file at the current schema with a small ``notes`` table and ``endless``."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        for migration in MIGRATIONS:
            for statement in migration:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("CREATE TABLE notes (id INTEGER, body TEXT)")
        db.executemany("INSERT INTO notes VALUES (?, ?)", NOTES)
        db.execute(ENDLESS)
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """``k.sqlite`` in tmp_path (the CLI's working folder), in rollback mode: no -wal yet."""
    return make_db(tmp_path / "k.sqlite")


@pytest.fixture
def live_db(db: Path) -> Iterator[sqlite3.Connection]:
    """``db`` in WAL mode, held open with a committed row still only in its ``-wal``.

    Also a ``.lock`` file beside it, as older sweeps left. Yields the open connection;
    a kill -9 of its owner now would leave the row to be recovered from the -wal.
    """
    connection = sqlite3.connect(db, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA wal_autocheckpoint = 0")
        connection.execute("INSERT INTO notes VALUES (4, 'only in the wal')")
        db.with_name(db.name + ".lock").write_text("12345\n")
        yield connection
    finally:
        connection.close()


@pytest.fixture
def notes_csv(run: Run, db: Path) -> str:
    """What ``export notes`` writes on stdout: what every other target must receive."""
    result = run("export", "notes", "--db", db.name)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 + len(NOTES)
    return result.stdout


def contents(folder: Path) -> dict[str, bytes | str]:
    """Every entry of ``folder``: a symlink's target, a regular file's bytes, else its kind."""
    found: dict[str, bytes | str] = {}
    for entry in folder.iterdir():
        mode = entry.lstat().st_mode
        found[entry.name] = (
            f"-> {os.readlink(entry)}"
            if stat.S_ISLNK(mode)
            else entry.read_bytes()
            if stat.S_ISREG(mode)
            else oct(mode)
        )
    return found


def temporaries(folder: Path) -> list[str]:
    """The export's temporary files left in ``folder``."""
    return [entry.name for entry in folder.iterdir() if entry.name.endswith(".tmp")]


def name_of(way: str, file: Path, tmp_path: Path) -> str:
    """An -o argument naming ``file`` (in tmp_path) in one of several ways."""
    if way == "plain":
        return file.name
    if way == "dot-slash":
        return f"./{file.name}"
    if way == "up-and-back":
        return f"../{tmp_path.name}/{file.name}"
    other = tmp_path / f"{way}.csv"
    if way == "symlink":
        other.symlink_to(file.name)
    else:
        os.link(file, other)
    return other.name


# The database's own files ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("way", ["plain", "dot-slash", "up-and-back", "symlink", "hard-link"])
@pytest.mark.parametrize("suffix", list(OWN_FILES))
def test_an_own_file_of_the_database_by_any_name_is_refused(
    suffix: str,
    way: str,
    tmp_path: Path,
    db: Path,
    live_db: sqlite3.Connection,
    run: Run,
    only_line: OnlyLine,
) -> None:
    file = db.with_name(db.name + suffix)
    assert file.is_file()
    target = name_of(way, file, tmp_path)
    before = contents(tmp_path)
    line = only_line(run("export", "notes", "--db", db.name, "-o", target))
    assert f"-o {target}: that is {OWN_FILES[suffix]}; name another file" in line
    assert contents(tmp_path) == before
    live_db.close()  # the last connection: checkpoints the -wal into the file
    with closing(sqlite3.connect(db)) as check:
        assert check.execute("SELECT COUNT(*) FROM notes").fetchone() == (len(NOTES) + 1,)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("suffix", "what"), [(suffix, dict(lock.OWN_FILES)[suffix]) for suffix in ("-wal", "-journal")]
)
def test_a_log_that_does_not_exist_yet_is_refused_by_its_name(
    suffix: str,
    what: str,
    tmp_path: Path,
    db: Path,
    run: Run,
    only_line: OnlyLine,
) -> None:
    before = contents(tmp_path)
    line = only_line(run("export", "notes", "--db", db.name, "-o", db.name + suffix))
    assert f"that is {what}" in line
    assert contents(tmp_path) == before


@pytest.mark.slow
def test_the_log_beside_a_symlinked_database_name_is_refused(
    tmp_path: Path,
    db: Path,
    run: Run,
    only_line: OnlyLine,
) -> None:
    (tmp_path / "alias.sqlite").symlink_to(db.name)
    before = contents(tmp_path)
    for target in ("alias.sqlite-wal", "k.sqlite-wal", "alias.sqlite"):
        line = only_line(run("export", "notes", "--db", "alias.sqlite", "-o", target))
        assert f"-o {target}: that is the database" in line
    assert contents(tmp_path) == before


# Targets that are not regular files ----------------------------------------------------


@contextlib.contextmanager
def fifo_read_by(fifo: Path, *command: str) -> Iterator[subprocess.Popen[bytes]]:
    """A FIFO made at ``fifo`` and a reader process (``command`` FIFO) we end by its pid."""
    os.mkfifo(fifo)
    reader = subprocess.Popen([*command, str(fifo)], stdout=subprocess.PIPE)
    try:
        yield reader
    finally:
        if reader.poll() is None:
            reader.kill()
        reader.communicate(timeout=DEADLINE)


@pytest.mark.slow
def test_a_fifo_gets_the_rows_and_stays_a_fifo(
    tmp_path: Path,
    db: Path,
    run: Run,
    notes_csv: str,
) -> None:
    fifo = tmp_path / "rows.fifo"
    with fifo_read_by(fifo, "cat") as reader:
        result = run("export", "notes", "--db", db.name, "-o", fifo.name, timeout=DEADLINE)
        assert (result.returncode, result.stderr) == (0, "")
        assert stat.S_ISFIFO(fifo.lstat().st_mode)
        out, _ = reader.communicate(timeout=DEADLINE)
        assert out.decode() == notes_csv
    assert temporaries(tmp_path) == []


@pytest.mark.slow
def test_a_fifo_whose_reader_goes_away_ends_quietly_and_stays_a_fifo(
    tmp_path: Path,
    db: Path,
    clean_env: Env,
) -> None:
    fifo = tmp_path / "rows.fifo"
    with fifo_read_by(fifo, "head", "-c", "100") as reader:
        result = subprocess.run(
            [*HARVESTER, "export", "endless", "--db", db.name, "-o", fifo.name],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
        assert (result.returncode, result.stderr) == (141, "")
        assert stat.S_ISFIFO(fifo.lstat().st_mode)
        rows = "".join(f"{i},row {i}\n" for i in range(1, 20))
        assert reader.communicate(timeout=DEADLINE)[0] == f"i,text\n{rows}".encode()[:100]


@pytest.mark.slow
def test_a_character_device_is_written_and_stays_one(
    tmp_path: Path,
    db: Path,
    run: Run,
) -> None:
    # A null device of our own (1, 3): a regression can only replace this one.
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("cannot make a device node here (mknod needs CAP_MKNOD)")
    result = run("export", "notes", "--db", db.name, "-o", device.name)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    info = device.lstat()
    assert stat.S_ISCHR(info.st_mode) and info.st_rdev == os.makedev(1, 3)
    assert temporaries(tmp_path) == []


def _stdout_targets() -> list[str]:
    targets = ["/dev/fd/1", "own-link-to-proc-self-fd-1"]
    if not os.access("/dev", os.W_OK):
        targets.append("/dev/stdout")
    return targets


@pytest.mark.slow
@pytest.mark.parametrize("target", _stdout_targets())
def test_stdout_named_as_a_file_is_written_through_the_pipe(
    target: str,
    tmp_path: Path,
    db: Path,
    run: Run,
    notes_csv: str,
) -> None:
    if target.startswith("own-"):
        (tmp_path / target).symlink_to("/proc/self/fd/1")
    before = contents(tmp_path)
    result = run("export", "notes", "--db", db.name, "-o", target)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == notes_csv
    assert contents(tmp_path) == before


# Symlinks to regular files -----------------------------------------------------------------


@pytest.mark.slow
def test_a_symlink_is_kept_and_the_file_it_points_to_replaced(
    tmp_path: Path,
    db: Path,
    run: Run,
    notes_csv: str,
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    real = elsewhere / "real.csv"
    real.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    result = run("export", "notes", "--db", db.name, "-o", link.name)
    assert (result.returncode, result.stderr) == (0, "")
    assert os.readlink(link) == str(real)
    assert real.read_text() == notes_csv
    assert temporaries(tmp_path) == [] and temporaries(elsewhere) == []


@pytest.mark.slow
def test_a_dangling_symlink_gets_the_file_it_points_to(
    tmp_path: Path,
    db: Path,
    run: Run,
    notes_csv: str,
) -> None:
    link = tmp_path / "link.csv"
    link.symlink_to("new.csv")
    result = run("export", "notes", "--db", db.name, "-o", link.name)
    assert (result.returncode, result.stderr) == (0, "")
    assert os.readlink(link) == "new.csv"
    assert (tmp_path / "new.csv").read_text() == notes_csv
    assert temporaries(tmp_path) == []


# Signals and write errors ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "code", "says"),
    [
        (signal.SIGTERM, 143, "harvester: stopped by SIGTERM"),
        (signal.SIGHUP, 129, "harvester: stopped by SIGHUP"),
        (signal.SIGINT, 130, "harvester: stopped at once"),
    ],
)
def test_a_signal_mid_export_removes_the_temporary_file(
    signum: signal.Signals,
    code: int,
    says: str,
    tmp_path: Path,
    db: Path,
    clean_env: Env,
    wait_until: WaitUntil,
) -> None:
    target = tmp_path / "out.csv"
    target.write_text("before\n")
    process = subprocess.Popen(
        [*HARVESTER, "export", "endless", "--db", db.name, "-o", target.name],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: temporaries(tmp_path), DEADLINE, "the export's temporary file")
        [temporary] = temporaries(tmp_path)
        assert temporary.startswith(".out.csv.")
        wait_until(
            lambda: (tmp_path / temporary).stat().st_size > 0,
            DEADLINE,
            "rows in the temporary file",
        )
        process.send_signal(signum)
        out, err = process.communicate(timeout=DEADLINE)
    finally:
        if process.poll() is None:
            process.kill()  # ours, by its pid
            process.communicate(timeout=DEADLINE)
    assert process.returncode == code, err
    assert out == "" and err.splitlines() == [err.strip()] and err.startswith(says), err
    assert temporaries(tmp_path) == []
    assert target.read_text() == "before\n"


@pytest.mark.slow
def test_a_write_error_on_stdout_names_stdout(
    tmp_path: Path, db: Path, clean_env: Env, only_line: OnlyLine
) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with open("/dev/full", "wb") as full:
        result = subprocess.run(
            [*HARVESTER, "export", "notes", "--db", db.name],
            cwd=tmp_path,
            env=clean_env(),
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=DEADLINE,
        )
    line = only_line(result)
    assert line == "harvester: error: output stdout: cannot write it (No space left on device)"
