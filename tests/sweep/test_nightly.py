"""The nightly run's promises, attacked from outside as a real night would.

Real processes, real files, a real gateway on loopback:

* one writer per database file, whatever path, symlink or hard link names it;
* one symbol that upstream cannot serve is that symbol's failure, not an outage;
* a finished task is committed on its own, even while its sibling endpoint hangs, and a
  hanging endpoint holds only its own worker;
* SQLite trouble at start-up (a full disk, another program's write lock) is one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]
Query = Callable[..., list[tuple[Any, ...]]]
ErrorLine = Callable[[subprocess.CompletedProcess[str]], str]
Start = Callable[..., subprocess.Popen[str]]
INTEGRITY = "PRAGMA integrity_check"


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGINT a sweep we started and collect its output."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    return process.communicate(timeout=60)


# 1. One writer per file ---------------------------------------------------------------------


@pytest.mark.slow
def test_a_symlink_to_the_database_gets_the_same_lock(
    tmp_path: Path,
    sweep_files: Callable[..., Any],
    gateway_process: Callable[..., Any],
    start_sweep: Start,
    harvester: Run,
    error_line: ErrorLine,
    query: Query,
) -> None:
    files = sweep_files(80, 10.0)
    db = files.db
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = elsewhere / "link.sqlite"
    link.symlink_to(db)
    folder_link = tmp_path / "same-folder"
    folder_link.symlink_to(tmp_path)
    with gateway_process(files.port):
        # The README's cron line on both: --resume must not take over a live run.
        first = start_sweep(files.args("--resume"), db=db, ok=2)
        try:
            through_link = harvester(*files.args("--resume", db=link))
            through_folder = harvester(*files.args("--resume", db=folder_link / "h.sqlite"))
            relative = harvester(
                *files.args("--resume", db=Path("elsewhere/../h.sqlite")), cwd=tmp_path
            )
        finally:
            stop(first)
    for second in (through_link, through_folder, relative):
        assert f"pid {first.pid}" in error_line(second)
    assert first.returncode == 130
    assert query(db, "SELECT COUNT(*), MAX(resumes) FROM runs") == [(1, 0)]
    assert query(db, INTEGRITY) == [("ok",)]


@pytest.mark.slow
def test_a_database_with_two_hard_links_is_refused(
    tmp_path: Path,
    sweep_files: Callable[..., Any],
    gateway_process: Callable[..., Any],
    start_sweep: Start,
    harvester: Run,
    error_line: ErrorLine,
    query: Query,
) -> None:
    files = sweep_files(80, 20.0)
    db = files.db
    hard = tmp_path / "hard.sqlite"
    with gateway_process(files.port):
        first = start_sweep(files.args(), db=db, ok=2)
        try:
            os.link(db, hard)  # made while the first sweep writes
            through_link = harvester(*files.args("--resume", db=hard))
        finally:
            _, err = stop(first)
        by_first_name = harvester(*files.args("--resume"))
        hard.unlink()
        done = harvester(*files.args("--resume"))
    assert first.returncode == 130, err
    for refused in (through_link, by_first_name):
        assert "2 hard links" in error_line(refused)
    assert done.returncode == 0, done.stderr
    assert query(db, INTEGRITY) == [("ok",)]
    assert query(db, "SELECT COUNT(*), status FROM runs") == [(1, "completed")]
    assert query(db, "SELECT status, COUNT(*) FROM tasks GROUP BY 1") == [("ok", 160)]


# 2. One bad symbol is not an outage ---------------------------------------------------------


def _simulated(tmp_path: Path, scripted: dict[str, str], **sweep: object) -> Path:
    lines = [
        "[sweep]\n",
        "backoff_base = 0.01\n",
        "outage_max = 5.0\n",
        *(f"{key} = {value}\n" for key, value in sweep.items()),
    ]
    for name in ("short_trades", "short_interest"):
        lines.append(f"[endpoints.{name}]\nrate = 200.0\nconcurrency = 4\n")
    lines.append("[simulate.scripted]\n")
    lines.extend(f'"{symbol}" = [{script}]\n' for symbol, script in scripted.items())
    path = tmp_path / "sim.toml"
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def simulated_sweep(
    tmp_path: Path, sweep_args: Callable[..., list[str]]
) -> Callable[..., tuple[list[str], Path]]:
    """``simulated_sweep(symbols, scripted={}, **sweep)``: ``--simulate`` arguments and the db."""

    def make(
        symbols: Path, scripted: dict[str, str] | None = None, **sweep: object
    ) -> tuple[list[str], Path]:
        config = _simulated(tmp_path, scripted or {}, **sweep)
        db = tmp_path / "h.sqlite"
        return sweep_args(config, symbols, db, "--simulate"), db

    return make


@pytest.mark.parametrize(
    ("good", "bad", "workers", "paused"),
    [
        # One bad symbol is never taken for an outage: not even a pause.
        (["G1.US", "G2.US", "G3.US", "G4.US", "G5.US"], ["BAD.US"], 8, False),
        # Three bad ones last, one at a time: nothing answers between their failures, so
        # the guard may pause, and the canary (a good request sent again) ends the pause.
        (["G1.US", "G2.US", "G3.US", "G4.US", "G5.US"], ["B1.US", "B2.US", "B3.US"], 1, True),
    ],
)
def test_symbols_that_always_answer_502_fail_on_their_own(
    tmp_path: Path,
    simulated_sweep: Callable[..., tuple[list[str], Path]],
    harvester: Run,
    write_file: Callable[[Path, str], Path],
    query: Query,
    good: list[str],
    bad: list[str],
    workers: int,
    paused: bool,
) -> None:
    symbols = write_file(tmp_path / "s.txt", "".join(f"{s}\n" for s in good + bad))
    args, db = simulated_sweep(
        symbols, {symbol: '"http_502_html", "*"' for symbol in bad}, workers=workers
    )
    result = harvester(*args, "--json")
    assert result.returncode == 3, result.stderr
    assert "unavailable" not in result.stderr
    if not paused:
        assert "looks down" not in result.stderr
    assert query(db, "SELECT status, stop_reason FROM runs") == [("completed", None)]
    failed = query(
        db, "SELECT symbol, error_code FROM tasks WHERE status = 'failed' ORDER BY 1, endpoint"
    )
    assert failed == [(symbol, "http_502") for symbol in sorted(bad) for _ in range(2)]
    # max_attempts is 5; a request sent while the guard probed (the three-in-a-row case)
    # is recorded but costs the task nothing.
    attempts = query(db, "SELECT MIN(attempts), MAX(attempts) FROM tasks WHERE status = 'failed'")
    assert attempts[0][0] == 5 and attempts[0][1] <= 5 + 1
    assert query(db, "SELECT COUNT(*) FROM tasks WHERE status = 'ok'") == [(2 * len(good),)]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_symbol_that_fails_every_night_retires_and_check_tolerates_it_meanwhile(
    tmp_path: Path,
    simulated_sweep: Callable[..., tuple[list[str], Path]],
    harvester: Run,
    write_file: Callable[[Path, str], Path],
    query: Query,
) -> None:
    """One symbol answers HTTP 502 every night: three nights it fails (check exits 3, or 0
    with --max-failed 2, naming it), then it is retired until its recheck (skipped, no
    request) and check is green without a tolerance."""
    symbols = write_file(tmp_path / "s.txt", "G1.US\nG2.US\n700.HK\nBAD.US\n")
    args, db = simulated_sweep(symbols, {"BAD.US": '"http_502_html", "*"'}, max_attempts=2)
    today = ("--today", "2026-05-18")  # the simulated gateway's served day
    for _ in range(3):
        assert harvester(*args, "-q").returncode == 3
        failing = harvester("check", "--db", str(db), *today)
        assert failing.returncode == 3 and "BAD.US" in failing.stdout
        tolerated = harvester("check", "--db", str(db), *today, "--max-failed", "2")
        assert tolerated.returncode == 0, tolerated.stdout
        assert "within --max-failed 2: BAD.US short_interest" in tolerated.stdout
    fourth = harvester(*args, "-q", "--json")
    assert fourth.returncode == 0, fourth.stderr
    latest = "(SELECT run_id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1)"
    assert query(
        db,
        f"SELECT endpoint, status, attempts FROM tasks WHERE symbol = 'BAD.US' "
        f"AND run_id = {latest} ORDER BY endpoint",
    ) == [("short_interest", "skipped", 0), ("short_trades", "skipped", 0)]
    skipped = query(
        db, f"SELECT error_message FROM tasks WHERE symbol = 'BAD.US' AND run_id = {latest}"
    )
    assert all(m.startswith("failed in each of its last 3 answers") for (m,) in skipped)
    assert harvester("check", "--db", str(db), *today).returncode == 0


# 3. A finished task commits on its own ------------------------------------------------------


@pytest.mark.slow
async def test_a_hanging_sibling_does_not_hold_back_a_finished_task(
    tmp_path: Path,
    hanging_sibling: Callable[..., Any],
    universe: Callable[..., Path],
    sweep_args: Callable[..., list[str]],
    until: Callable[[Callable[[], object], float, str], Awaitable[None]],
    ok_tasks: Callable[..., int],
    query: Query,
) -> None:
    count = 6
    symbols = universe(count, "H")
    db = tmp_path / "h.sqlite"
    async with hanging_sibling() as (url, state):
        config = tmp_path / "c.toml"
        config.write_text(
            f'[gateway]\nbase_url = "{url}"\ntimeout = 120.0\n'
            "[sweep]\ncommit_interval = 0.25\nworkers = 8\n"
            "[endpoints.short_interest]\nconcurrency = 8\n",
            encoding="utf-8",
        )
        sweep = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "harvester",
            *sweep_args(config, symbols, db),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await until(
                lambda: state["answered"] == count and state["hanging"] == count,
                30,
                "every short_trades answered while short_interest hangs",
            )
            answered_at = state["last_answer"]
            await until(lambda: ok_tasks(db, "short_trades") == count, 10, "short_trades committed")
            waited = time.monotonic() - answered_at
            assert state["hanging"] == count  # still hanging: nothing was released
        finally:
            sweep.kill()  # as kill -9 would: nothing committed may be lost
            await sweep.wait()
    assert sweep.returncode == -signal.SIGKILL
    assert query(db, "SELECT endpoint, status, COUNT(*) FROM tasks GROUP BY 1, 2") == [
        ("short_interest", "pending", count),
        ("short_trades", "ok", count),
    ]
    assert query(db, "SELECT COUNT(*) FROM short_trades") == [(2 * count,)]
    # commit_interval is 0.25 s; the rest is this test's polling and a loaded CI machine.
    assert waited < 3.0, waited


@pytest.mark.slow
async def test_a_hanging_endpoint_holds_only_its_own_worker(
    tmp_path: Path,
    hanging_sibling: Callable[..., Any],
    universe: Callable[..., Path],
    sweep_args: Callable[..., list[str]],
    until: Callable[[Callable[[], object], float, str], Awaitable[None]],
    ok_tasks: Callable[..., int],
) -> None:
    # workers = 2: four workers, one per symbol and endpoint. A symbol's tasks are queued
    # side by side, so the short_trades of H0..H3 are fetched before the fourth worker
    # takes H3's short_interest and every worker hangs. A worker per symbol that waits
    # for both its endpoints would stop after H0 and H1.
    symbols = universe(6, "H")
    db = tmp_path / "h.sqlite"
    async with hanging_sibling() as (url, state):
        config = tmp_path / "c.toml"
        config.write_text(
            f'[gateway]\nbase_url = "{url}"\ntimeout = 120.0\n'
            "[sweep]\nworkers = 2\n[endpoints.short_interest]\nconcurrency = 8\n",
            encoding="utf-8",
        )
        sweep = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "harvester",
            *sweep_args(config, symbols, db),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await until(
                lambda: state["hanging"] == 4 and ok_tasks(db, "short_trades") == 4,
                30,
                "four short_interest requests hanging, four short_trades committed",
            )
            assert state["answered"] == 4  # every worker is held: nothing more went out
        finally:
            sweep.kill()
            await sweep.wait()


# 4. SQLite trouble at start-up --------------------------------------------------------------


def _small_disk(limit: int) -> Any:
    def apply() -> None:  # runs in the child: every file it writes stops growing at ``limit``
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.slow
def test_a_disk_that_fills_while_the_universe_is_recorded(
    simulated_sweep: Callable[..., tuple[list[str], Path]],
    universe: Callable[..., Path],
    harvester: Run,
    error_line: ErrorLine,
    query: Query,
) -> None:
    args, db = simulated_sweep(universe(3000, "D"))
    full = harvester(*args, preexec_fn=_small_disk(160_000))
    line = error_line(full)
    assert str(db) in line and "--resume" in line, line
    assert query(db, INTEGRITY) == [("ok",)]
    assert query(db, "SELECT COUNT(*) FROM runs") == [(0,)]  # the half-recorded run rolled back
    done = harvester(*args, "--resume")
    assert done.returncode == 0, done.stderr
    assert query(db, "SELECT status, symbols FROM runs") == [("completed", 3000)]


# Sleeps only to hold the write lock for the time the test case names.
HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("CREATE TABLE IF NOT EXISTS other_tool (x)")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


@pytest.mark.slow
@pytest.mark.parametrize(("held", "busy_timeout", "expected"), [(30.0, 0.5, 2), (1.0, 20.0, 0)])
def test_another_programs_write_lock_is_waited_for_then_one_line(
    tmp_path: Path,
    simulated_sweep: Callable[..., tuple[list[str], Path]],
    write_file: Callable[[Path, str], Path],
    harvester: Run,
    first_line: Callable[..., str],
    error_line: ErrorLine,
    query: Query,
    held: float,
    busy_timeout: float,
    expected: int,
) -> None:
    args, db = simulated_sweep(write_file(tmp_path / "s.txt", "AAPL.US\n700.HK\n"))
    assert harvester(*args).returncode == 0  # a database in WAL mode, as every night finds it
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(db), str(held)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert first_line(holder).strip() == "holding"
        result = harvester(*args, env={"HARVESTER_SWEEP_BUSY_TIMEOUT": str(busy_timeout)})
    finally:
        holder.kill()
        holder.communicate()
    if expected == 2:
        line = error_line(result)
        assert "another program holds its write lock" in line and "busy_timeout" in line
        assert query(db, "SELECT COUNT(*) FROM runs") == [(1,)]
    else:
        assert result.returncode == 0, result.stderr
        assert query(db, "SELECT COUNT(*), MIN(status) FROM runs") == [(2, "completed")]
    assert query(db, INTEGRITY) == [("ok",)]


def _corrupt(db: Path) -> None:
    """Scramble the middle of the short_trades table's pages, as two WALs for one file did."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'short_trades'"
        ).fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    data = bytearray(db.read_bytes())
    for page in range(root, pages):  # every page after the table's root: cells and pointers
        start = page * page_size + 100
        data[start : start + 64] = bytes(range(64))
    db.write_bytes(bytes(data))


@pytest.mark.slow
def test_a_corrupt_file_is_refused_before_any_request(
    simulated_sweep: Callable[..., tuple[list[str], Path]],
    universe: Callable[..., Path],
    harvester: Run,
    error_line: ErrorLine,
    query: Query,
) -> None:
    args, db = simulated_sweep(universe(200, "C"))
    assert harvester(*args).returncode == 0
    _corrupt(db)
    try:
        found = query(db, INTEGRITY)
    except sqlite3.DatabaseError:  # the scrambled pages may hold the schema's tail too
        found = [("malformed",)]
    assert found != [("ok",)]
    for attempt in (args, [*args, "--resume"]):
        line = error_line(harvester(*attempt))
        assert "the file is corrupt" in line and str(db) in line
