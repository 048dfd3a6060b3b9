"""``harvester check`` and the orphaned-run flag of ``status``, on real files and real sweeps.

Each exit code of ``check`` is reached the way a night reaches it: a clean sweep (0), the
shared swept file with its failing symbol (3), a sweep stopped by SIGINT (4) or SIGKILL
(4, and ``status`` flags the run), a sweep running now (5), a run too old (6), a file
with no run (7), and a file that is missing, not SQLite or too new (2). The lock's holder
is found without taking the lock.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from harvester.read.check import Finding, Problem, exit_code, find_problems
from harvester.simulate.settings import DEFAULT_TODAY
from harvester.store.lock import DatabaseLock, LockHolder, _holder_in, lock_watch
from harvester.store.store import Store

Run = Callable[..., subprocess.CompletedProcess[str]]
Start = Callable[..., subprocess.Popen[str]]
ErrorLine = Callable[[subprocess.CompletedProcess[str]], str]

CLEAN_SYMBOLS = "AAPL.US\nUS.MSFT\n00700.HK\nNODATA.US\n"
CLEAN_SIMULATE = '[simulate]\nlatency = 0.0\nno_data = ["NODATA.US"]\n'
FAST = "[sweep]\nbackoff_base = 0.0\n"
# Slow on purpose: 5 requests a second per endpoint over 200 symbols takes 40 s, so a
# test has all the time it needs to look at the sweep while it runs, then stop it.
SLOW = (
    "[sweep]\nbackoff_base = 0.0\ngrace_period = 2.0\n"
    "[endpoints.short_trades]\nrate = 5.0\n[endpoints.short_interest]\nrate = 5.0\n"
    "[simulate]\nlatency = 0.0\n"
)
#: The day the simulated gateway serves: its data is as new as it should be then, so the
#: files swept from it are judged as of that day, not of the clock's.
SERVED = DEFAULT_TODAY.isoformat()


def lock_holder(db: Path, **watch: Any) -> LockHolder | None:
    """One look at ``db``'s lock, as ``status`` and ``check`` take it."""
    with lock_watch(db, **watch) as look:
        return look()


def check(
    harvester: Run, db: Path, *extra: str, today: str = SERVED
) -> tuple[int, dict[str, Any], str]:
    """``check --json`` and ``check`` on ``db`` as of ``today``: the exit code, JSON, text."""
    as_json = harvester("check", "--db", str(db), "--today", today, "--json", *extra)
    text = harvester("check", "--db", str(db), "--today", today, *extra)
    assert as_json.returncode == text.returncode, (as_json.stderr, text.stderr)
    assert as_json.stderr == text.stderr == "", as_json.stderr
    return text.returncode, json.loads(as_json.stdout), text.stdout


def codes(found: dict[str, Any]) -> list[int]:
    """The problem codes of a ``check --json`` object, in order."""
    return [problem["code"] for problem in found["problems"]]


def copy_db(source: Path, target: Path) -> Path:
    """A consistent copy of a database file (its WAL included)."""
    with closing(sqlite3.connect(source)) as old, closing(sqlite3.connect(target)) as new:
        old.backup(new)
    return target


def edit(db: Path, sql: str, params: tuple[Any, ...] = ()) -> None:
    """One committed change to a copy."""
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(sql, params)


def hours_ago(hours: float) -> str:
    """An ISO 8601 UTC time ``hours`` ago, as the store writes it."""
    stamp = datetime.now(UTC) - timedelta(hours=hours)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file swept once to ``completed`` with no failed task (one symbol has no data)."""
    folder = tmp_path_factory.mktemp("clean")
    (folder / "c.toml").write_text(FAST + CLEAN_SIMULATE, encoding="utf-8")
    (folder / "s.txt").write_text(CLEAN_SYMBOLS, encoding="utf-8")
    db = folder / "h.sqlite"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "harvester",
            "sweep",
            "--simulate",
            "--config",
            str(folder / "c.toml"),
            "--symbols",
            str(folder / "s.txt"),
            "--db",
            str(db),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return db


@pytest.fixture
def slow_sweep(tmp_path: Path, universe: Callable[..., Path]) -> tuple[list[str], Path]:
    """Arguments of a ``--simulate`` sweep that takes 40 s, and its database."""
    config = tmp_path / "slow.toml"
    config.write_text(SLOW, encoding="utf-8")
    db = tmp_path / "h.sqlite"
    return [
        "sweep",
        "--simulate",
        "--config",
        str(config),
        "--symbols",
        str(universe(200)),
        "--db",
        str(db),
    ], db


# 0 and 3: a completed run, with and without failures --------------------------------------


def test_a_clean_completed_run_is_ok(harvester: Run, clean: Path) -> None:
    code, found, text = check(harvester, clean)
    assert code == 0
    assert text.startswith("ok: run ") and "completed" in text and "6 tasks ok" in text
    assert "(2 no_data)" in text and len(text.splitlines()) == 1
    assert found["ok"] is True and found["exit_code"] == 0 and found["problems"] == []
    assert found["run"]["status"] == "completed" and found["run"]["orphaned"] is False
    assert found["sweep_running"] is False and found["sweep_pid"] is None
    # no_data is listed (why a symbol has no rows) but does not fail the check.
    assert [(t["symbol"], t["status"]) for t in found["tasks"]] == [
        ("NODATA.US", "no_data"),
        ("NODATA.US", "no_data"),
    ]
    assert found["task_counts"] == {"no_data": 2}


def test_failed_tasks_exit_3_and_are_named(harvester: Run, swept: Any) -> None:
    code, found, text = check(harvester, swept.db)
    assert code == 3
    [line] = text.splitlines()
    assert "2 tasks failed" in line and "FAILS.US short_interest" in line
    assert "FAILS.US short_trades" in line
    assert found["ok"] is False and codes(found) == [3]
    assert found["run"]["run_id"] == swept.rows("SELECT run_id FROM runs")[0][0]
    listed = [
        (t["symbol"], t["endpoint"], t["status"], t["error_code"], t["error_message"])
        for t in found["tasks"]
    ]
    stored = swept.rows(
        "SELECT symbol, endpoint, status, error_code, error_message FROM tasks "
        "WHERE status NOT IN ('ok', 'pending') "
        "ORDER BY status != 'failed', status, symbol, endpoint"
    )
    assert listed == [tuple(row) for row in stored]
    assert listed[0][:3] == ("FAILS.US", "short_interest", "failed") and listed[0][4]
    assert found["task_counts"] == {"failed": 2, "invalid": 2, "no_data": 2, "unsupported": 2}


# 4 and 5: a sweep running now, stopped, or killed -----------------------------------------


@pytest.mark.slow
def test_a_running_sweep_exits_5_and_once_stopped_4(
    harvester: Run,
    start_sweep: Start,
    slow_sweep: tuple[list[str], Path],
) -> None:
    args, db = slow_sweep
    process = start_sweep(args, db=db, ok=2)
    code, found, text = check(harvester, db)
    status = harvester("status", "--db", str(db), "--json")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err

    assert code == 5, text
    assert f"a sweep is running now (pid {process.pid}, run " in text
    assert found["sweep_running"] is True and found["sweep_pid"] == process.pid
    assert codes(found) == [5] and found["run"]["status"] == "running"
    assert found["run"]["orphaned"] is False
    assert json.loads(status.stdout)[0]["orphaned"] is False

    code, found, text = check(harvester, db)
    assert code == 4 and codes(found) == [4]
    assert "is interrupted (stopped by a signal)" in text and "harvester sweep --resume" in text
    assert found["sweep_running"] is False and found["run"]["status"] == "interrupted"


@pytest.mark.slow
def test_a_killed_sweep_leaves_an_orphaned_run_check_exits_4_status_flags_it(
    harvester: Run,
    start_sweep: Start,
    slow_sweep: tuple[list[str], Path],
) -> None:
    args, db = slow_sweep
    process = start_sweep(args, db=db, ok=2)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert lock_holder(db) is None

    code, found, text = check(harvester, db)
    assert code == 4 and codes(found) == [4]
    assert "is marked running but no sweep holds the database's lock" in text
    assert found["run"]["status"] == "running" and found["run"]["orphaned"] is True

    status = harvester("status", "--db", str(db))
    as_json = harvester("status", "--db", str(db), "--json")
    assert status.returncode == as_json.returncode == 0
    assert "running (no sweep holds it: crashed or killed; resume with --resume)" in status.stdout
    assert json.loads(as_json.stdout)[0]["orphaned"] is True


# 6 and 7: too old, no run ------------------------------------------------------------------


def test_a_run_older_than_max_age_exits_6(harvester: Run, clean: Path, tmp_path: Path) -> None:
    db = copy_db(clean, tmp_path / "old.sqlite")
    edit(db, "UPDATE runs SET finished_at = ?", (hours_ago(30),))
    code, found, text = check(harvester, db)
    assert code == 6 and codes(found) == [6]
    assert "finished 30h00m ago: older than --max-age 26 hours" in text
    assert found["max_age_hours"] == 26
    assert check(harvester, db, "--max-age", "31")[0] == 0
    assert check(harvester, clean, "--max-age", "0.00001")[0] == 6


def test_several_problems_print_every_line_and_exit_with_the_first(
    harvester: Run,
    copy_swept: Callable[[], Any],
) -> None:
    db = copy_swept().db
    edit(db, "UPDATE runs SET finished_at = ?", (hours_ago(50),))
    code, found, text = check(harvester, db)
    assert codes(found) == [3, 6] and code == found["exit_code"] == 3
    assert len(text.splitlines()) == 2 and "FAILS.US" in text and "50h00m ago" in text
    edit(db, "UPDATE runs SET status = 'interrupted', stop_reason = 'stopped by a signal'")
    code, found, _ = check(harvester, db)
    assert codes(found) == [4, 3, 6] and code == 4


@pytest.mark.slow  # ~3 s: a sweep and checks as subprocesses
@pytest.mark.timeout(60)
def test_malformed_symbols_lines_are_a_warning_that_changes_no_exit_code(
    harvester: Run, clean: Path, tmp_path: Path
) -> None:
    assert check(harvester, clean)[1]["warnings"] == []
    db = copy_db(clean, tmp_path / "malformed.sqlite")
    edit(db, "UPDATE runs SET malformed_lines = 3, symbols_file = 'night.txt'")
    with closing(sqlite3.connect(db)) as conn:
        [(run_id,)] = conn.execute("SELECT run_id FROM runs").fetchall()
    warning = (
        f"warning: run {run_id} skipped 3 malformed lines of night.txt; harvester plan names "
        "them without a request (fix them, or comment them out)"
    )
    code, found, text = check(harvester, db)
    assert code == 0 and found["ok"] is True and found["problems"] == []
    assert found["warnings"] == [warning]
    ok, said = text.splitlines()
    assert ok.startswith("ok: run ") and said == warning
    # After the problems too, and the exit code stays theirs.
    edit(db, "UPDATE runs SET finished_at = ?", (hours_ago(30),))
    code, found, text = check(harvester, db)
    assert code == 6 and text.splitlines()[1:] == [warning]


async def test_a_file_with_no_run_exits_7(harvester: Run, tmp_path: Path) -> None:
    db = tmp_path / "empty.sqlite"
    async with Store(db):
        pass  # the schema, migrated, and no run
    code, found, text = check(harvester, db)
    assert code == 7 and codes(found) == [7]
    assert text == "no run in the database yet: run harvester sweep\n"
    assert found["run"] is None and found["tasks"] == []


# 2: the file itself, and usage -------------------------------------------------------------


def test_a_missing_file_is_one_line_and_exit_2(
    harvester: Run,
    error_line: ErrorLine,
    tmp_path: Path,
) -> None:
    db = tmp_path / "nothing.sqlite"
    for extra in ((), ("--json",)):
        result = harvester("check", "--db", str(db), *extra)
        assert error_line(result) == (
            f"harvester: error: database {db}: no such file (run a sweep first, or name the "
            "file with --db)"
        )
        assert result.stdout == ""
    assert not db.exists()


def test_a_bad_file_is_exit_2(
    harvester: Run,
    error_line: ErrorLine,
    clean: Path,
    tmp_path: Path,
) -> None:
    newer = copy_db(clean, tmp_path / "newer.sqlite")
    edit(newer, "PRAGMA user_version = 99")
    assert "schema version 99 is newer" in error_line(harvester("check", "--db", str(newer)))
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database\n" * 100)
    assert "not an SQLite database" in error_line(harvester("check", "--db", str(junk)))
    for bad in ("0", "-1", "nan", "soon"):
        line = error_line(harvester("check", "--db", str(clean), "--max-age", bad))
        assert "--max-age" in line and "not a positive number of hours" in line


def test_help_shows_an_example_and_the_exit_codes(harvester: Run) -> None:
    result = harvester("check", "-h")
    assert result.returncode == 0
    assert "harvester check --max-age 74" in result.stdout
    assert "5  a sweep is running now" in result.stdout


# The pure core: precedence, and the lock looked at without being taken ---------------------


def test_the_exit_code_is_the_first_problem_in_the_documented_order() -> None:
    every = [Problem(code, "x") for code in (8, 6, 3, 4, 5, 7)]
    assert exit_code(every) == 7
    assert exit_code(every[:5]) == 5
    assert exit_code(every[:4]) == 4
    assert exit_code(every[:3]) == 3
    assert exit_code(every[:2]) == 6
    assert exit_code(every[:1]) == 8
    assert exit_code([]) == 0


def test_no_run_while_a_sweep_starts_gives_both_lines() -> None:
    found = find_problems(Finding(None, [], LockHolder(42)), 26, datetime.now(UTC))
    assert [problem.code for problem in found] == [7, 5]
    assert "pid 42" in found[1].message


def test_the_holder_is_found_in_proc_locks_and_by_a_probe(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    assert lock_holder(db) is None and not db.exists()  # nothing created
    missing = tmp_path / "no-proc-locks"
    with DatabaseLock(db):
        assert lock_holder(db) == LockHolder(os.getpid())
        assert lock_holder(db, proc_locks=missing) == LockHolder(None)  # held, by whom unknown
    assert lock_holder(db) is None
    assert lock_holder(db, proc_locks=missing) is None
    # The probe let go at once: a sweep takes the lock right after.
    with DatabaseLock(db):
        pass


def test_proc_locks_lines_that_are_not_the_holder_are_ignored(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    db.write_text("", encoding="ascii")
    info = db.stat()
    device = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}"
    gone = 2**22 + 1  # above Linux's largest pid: no such process
    table = (
        f"1: POSIX  ADVISORY  WRITE 11 {device}:{info.st_ino} 0 EOF\n"  # SQLite's kind, not ours
        f"2: -> FLOCK  ADVISORY  WRITE 12 {device}:{info.st_ino} 0 EOF\n"  # a waiter
        f"3: FLOCK  ADVISORY  WRITE 13 {device}:{info.st_ino + 1} 0 EOF\n"  # another file
        f"4: FLOCK  ADVISORY  WRITE {gone} ff:ff:{info.st_ino} 0 EOF\n"  # another device
    )
    assert _holder_in(table, info) is None
    # A device that stat does not report (btrfs, overlayfs): the process has the file open.
    me = f"5: FLOCK  ADVISORY  WRITE {os.getpid()} ff:ff:{info.st_ino} 0 EOF\n"
    with db.open("rb"):
        assert _holder_in(table + me, info) == LockHolder(os.getpid())
    assert _holder_in(table + me, info) is None  # ... and not once it closed it
    # Its open files unreadable (another user's process): the inode decides.
    assert _holder_in(table + me, info, proc=tmp_path / "unreadable") is None
    unreadable = tmp_path / "proc"
    (unreadable / str(os.getpid())).mkdir(parents=True)
    (unreadable / str(os.getpid()) / "fd").mkdir(mode=0)
    if os.geteuid() != 0:  # root reads a folder of mode 0 all the same
        assert _holder_in(table + me, info, proc=unreadable) == LockHolder(os.getpid())


@pytest.mark.slow
def test_deleting_or_replacing_lock_files_never_lets_a_second_sweep_in(
    harvester: Run,
    start_sweep: Start,
    slow_sweep: tuple[list[str], Path],
    tmp_path: Path,
) -> None:
    # What a cleanup script does to stray *.lock files, and a file written over the name the
    # lock had before this version: neither is what the lock is held on.
    args, db = slow_sweep
    first = start_sweep(args, db=db, ok=2)
    try:
        stray = db.with_name(db.name + ".lock")
        stray.write_text("stale\n", encoding="ascii")
        for path in db.parent.glob("*.lock"):
            path.unlink()
        stray.write_text("", encoding="ascii")  # replaced by another file
        second = harvester(*args, "--resume")
        assert second.returncode == 2, second.stderr
        error = second.stderr.splitlines()[-1]
        assert error.startswith("harvester: error: ") and second.stderr.count("error") == 1
        assert f"another harvester sweep (pid {first.pid})" in error
        code, found, text = check(harvester, db)
        assert code == 5 and found["sweep_pid"] == first.pid, text
        status = json.loads(harvester("status", "--db", str(db), "--json").stdout)
        assert status[0]["status"] == "running" and status[0]["orphaned"] is False
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert first.returncode == 143
    # The first sweep alone ran: the second took over nothing and started no run.
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT COUNT(*), SUM(resumes) FROM runs").fetchone() == (1, 0)
