"""A write that fails part-way through a sweep ends it at once, from outside, with real files.

The CLI runs as a subprocess against ``--simulate`` on a file whose run's universe is
already recorded. Mid-sweep, a disk fills (a per-process file size limit, or a real
2 MB tmpfs where this machine lets the test mount one) or another program holds the
write lock longer than ``busy_timeout``. Before the sweep's writer shared a task group
with its workers, the workers waited for ever on the dead writer's queue and the sweep
hung until a signal. Now it exits 2 with one line within 10 s, the run is left for
``--resume``, nothing committed is lost, and ``--resume`` finishes the run.
"""

from __future__ import annotations

import contextlib
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]
Query = Callable[..., list[tuple[Any, ...]]]
ErrorLine = Callable[[subprocess.CompletedProcess[str]], str]

BOUND = 10.0  # seconds from the fault to the exit, the bound
ROOM = 300_000  # bytes a file may grow by before the disk is full: a few hundred tasks
SYMBOLS = 3000
# Few workers, fast answers: while a commit runs, every worker ends up waiting to submit,
# which is how the old writer, dying, left them all waiting for ever (3 of 3 runs).
FEW_WORKERS = {"HARVESTER_SWEEP_WORKERS": "4"}


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:  # in the child: every file it writes stops growing at ``limit``
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.fixture
def recorded(
    tmp_path: Path,
    universe: Callable[..., Path],
    fast_toml: str,
    sweep_args: Callable[..., list[str]],
    harvester: Run,
) -> Callable[[Path, tuple[str, ...]], list[str]]:
    """``recorded(db, extra)``: sweep arguments for ``db``, whose run's universe is recorded.

    A daily quota of one request stops the first sweep after its first request (exit 76),
    so the run's 6,000 tasks are recorded and all but one pending.
    """
    config = tmp_path / "fast.toml"
    config.write_text(fast_toml, encoding="utf-8")
    symbols = universe(SYMBOLS, "D")

    def make(db: Path, extra: tuple[str, ...]) -> list[str]:
        args = sweep_args(config, symbols, db, "--simulate", "-q", *extra)
        first = harvester(*args, env={"HARVESTER_GATEWAY_DAILY_QUOTA": "1"})
        assert first.returncode == 76, first.stderr
        return [*args, "--resume"]

    return make


def _after_a_fault(
    harvester: Run,
    error_line: ErrorLine,
    query: Query,
    db: Path,
    args: list[str],
    result: subprocess.CompletedProcess[str],
    took: float,
) -> None:
    """Exit 2 in time with one line, a sound file, the run left for --resume that ends it."""
    line = error_line(result)
    assert took < BOUND, f"{took:.1f}s to end after the fault: {line}"
    assert str(db.name) in line and "--resume" in line, line
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    ((status, reason),) = query(db, "SELECT status, stop_reason FROM runs")
    assert status in ("interrupted", "running"), status  # running: the disk took no more
    if status == "interrupted":
        assert reason.startswith("stopped by an error: database"), reason
    committed = set(query(db, "SELECT symbol, endpoint, updated_at FROM tasks WHERE status = 'ok'"))
    assert 1 < len(committed) < 2 * SYMBOLS  # it fetched and committed some, not all
    done = harvester(*args)
    assert done.returncode == 0, done.stderr
    assert query(db, "SELECT status FROM runs") == [("completed",)]
    assert query(db, "SELECT status, COUNT(*) FROM tasks GROUP BY 1") == [("ok", 2 * SYMBOLS)]
    # What was committed before the fault stayed, and the resume did not fetch it again.
    assert committed <= set(query(db, "SELECT symbol, endpoint, updated_at FROM tasks"))


@pytest.mark.slow
@pytest.mark.parametrize("mode", [(), ("--full",)], ids=["nightly", "full"])
def test_a_disk_that_fills_mid_sweep_ends_it_with_exit_2(
    tmp_path: Path,
    recorded: Callable[..., list[str]],
    harvester: Run,
    error_line: ErrorLine,
    query: Query,
    mode: tuple[str, ...],
) -> None:
    db = tmp_path / "h.sqlite"
    args = recorded(db, mode)
    limit = db.stat().st_size + ROOM
    started = time.monotonic()
    result = harvester(
        *args, preexec_fn=_file_size_limit(limit), env=FEW_WORKERS, timeout=3 * BOUND
    )
    _after_a_fault(harvester, error_line, query, db, args, result, time.monotonic() - started)


@contextlib.contextmanager
def _small_filesystem(folder: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of ``size`` mounted on ``folder``; skips where mounting is not allowed."""
    folder.mkdir()
    mount = shutil.which("mount")
    if mount is None:
        pytest.skip("no mount command")
    mounted = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


@pytest.mark.slow
def test_a_real_small_filesystem_that_fills_mid_sweep_ends_it_with_exit_2(
    tmp_path: Path,
    recorded: Callable[..., list[str]],
    harvester: Run,
    error_line: ErrorLine,
    query: Query,
) -> None:
    db = tmp_path / "h.sqlite"
    args = recorded(db, ())
    with _small_filesystem(tmp_path / "small", "2m") as small:
        on_small = small / db.name
        shutil.copy(db, on_small)
        small_args = [str(on_small) if arg == str(db) else arg for arg in args]
        started = time.monotonic()
        result = harvester(*small_args, env=FEW_WORKERS, timeout=3 * BOUND)
        took = time.monotonic() - started
        assert "disk is full" in error_line(result)
        # Room again, on the same filesystem: the resume finishes there.
        grown = subprocess.run(
            ["mount", "-o", "remount,size=64m", str(small)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert grown.returncode == 0, grown.stderr
        _after_a_fault(harvester, error_line, query, on_small, small_args, result, took)


# Sleeps only to hold the write lock until the test kills it (by its pid).
HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
time.sleep(120)
"""


@pytest.mark.slow
def test_a_write_lock_held_mid_sweep_past_busy_timeout_ends_it_with_exit_2(
    tmp_path: Path,
    recorded: Callable[..., list[str]],
    harvester: Run,
    start_sweep: Callable[..., subprocess.Popen[str]],
    first_line: Callable[..., str],
    error_line: ErrorLine,
    query: Query,
) -> None:
    # busy_timeout 5.5 s: the sweep gives up on the lock once, then closes its books with at
    # most a second more (not another 5.5 s), so it ends within the 10 s bound.
    db = tmp_path / "h.sqlite"
    args = recorded(db, ())
    slow = {
        **FEW_WORKERS,
        "HARVESTER_SWEEP_BUSY_TIMEOUT": "5.5",
        "HARVESTER_ENDPOINTS_SHORT_TRADES_RATE": "50",
        "HARVESTER_ENDPOINTS_SHORT_INTEREST_RATE": "50",
    }
    sweep = start_sweep(args, db=db, ok=20, env=slow)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert first_line(holder).strip() == "holding"
        held = time.monotonic()
        out, err = sweep.communicate(timeout=3 * BOUND)
        took = time.monotonic() - held
    finally:
        holder.kill()
        holder.communicate()
    result = subprocess.CompletedProcess(args, sweep.returncode, out, err)
    assert "another program holds its write lock" in error_line(result)
    _after_a_fault(harvester, error_line, query, db, args, result, took)
