"""A second instance, and runs an earlier one left: locks refuse or release, stale runs close.

A sweep on a locked database is refused (in process and from the CLI), a lock left by a
killed process does not block, a run too old to resume is closed and one left running by a
crash is resumed or closed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harvester.errors import StoreError
from harvester.model import RunStatus
from harvester.simulate import Gateway
from harvester.store.lock import DatabaseLock
from harvester.sweep.run import run_sweep

Query = Callable[..., list[tuple[Any, ...]]]


# A second instance ------------------------------------------------------------------------


async def test_a_second_sweep_on_a_locked_database_is_refused(
    make_settings: Callable[..., Any],
) -> None:
    async with Gateway() as gateway:
        settings = make_settings(gateway.url, "AAPL.US\n")
        held = rf"another harvester sweep \(pid {os.getpid()}\)"
        with DatabaseLock(Path(settings.sweep.db)), pytest.raises(StoreError, match=held):
            await run_sweep(settings)
        assert gateway.stats.total == 0
        summary = await run_sweep(settings)  # released: the next sweep runs
    assert summary.status is RunStatus.COMPLETED


async def test_a_lock_left_by_a_killed_process_does_not_block(
    tmp_path: Path, make_settings: Callable[..., Any], first_line: Callable[..., str]
) -> None:
    db = tmp_path / "h.sqlite"
    # The holder sleeps only to stay alive holding the lock until this test kills it.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from harvester.store.lock import DatabaseLock; "
            "DatabaseLock(Path(sys.argv[1])).acquire(); "
            "print('held', flush=True); time.sleep(60)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert first_line(holder).strip() == "held"
        with pytest.raises(StoreError, match=str(holder.pid)):
            DatabaseLock(db).acquire()
    finally:
        holder.kill()
        holder.communicate()
    async with Gateway() as gateway:
        settings = make_settings(gateway.url, "AAPL.US\n")
        summary = await run_sweep(settings)
    assert summary.status is RunStatus.COMPLETED


@pytest.mark.slow
def test_cli_second_instance_exits_2_and_status_still_reads(
    sweep_files: Callable[..., Any],
    gateway_process: Callable[..., Any],
    start_sweep: Callable[..., subprocess.Popen[str]],
    harvester: Callable[..., Any],
    query: Query,
) -> None:
    files = sweep_files(80, 10.0)
    with gateway_process(files.port):
        first = start_sweep(files.args(), db=files.db, ok=2)
        try:
            second = harvester(*files.args(), timeout=30)
            status = harvester("status", "--db", str(files.db), timeout=30)
        finally:
            first.send_signal(signal.SIGINT)
            first.communicate(timeout=30)
    assert second.returncode == 2
    assert f"pid {first.pid}" in second.stderr and "Traceback" not in second.stderr
    assert status.returncode == 0 and "running" in status.stdout
    assert query(files.db, "SELECT COUNT(*) FROM runs") == [(1,)]


# Stale runs -------------------------------------------------------------------------------


async def test_resume_leaves_a_stale_run_and_starts_a_new_one(
    make_settings: Callable[..., Any], query: Query, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with Gateway() as gateway:
        settings = make_settings(gateway.url, "AAPL.US\n700.HK\n")
        stop = asyncio.Event()
        stop.set()  # stopped before it fetched anything: an unfinished run
        old = await run_sweep(settings, stop=stop)
        db = Path(settings.sweep.db)
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE runs SET started_at = '2026-01-01T00:00:00.000Z'")
        conn.close()
        new = await run_sweep(settings, resume=True)
    assert new.run_id != old.run_id and not new.resumed
    assert new.status is RunStatus.COMPLETED
    assert query(db, "SELECT run_id, status, stop_reason FROM runs ORDER BY started_at") == [
        (old.run_id, "interrupted", "too old to resume (over 20 hours)"),
        (new.run_id, "completed", None),
    ]
    assert any("resume_max_age" in message for message in caplog.messages)


async def test_a_run_left_running_by_a_crash_is_resumed_or_closed(
    make_settings: Callable[..., Any], query: Query
) -> None:
    async with Gateway() as gateway:
        settings = make_settings(gateway.url, "AAPL.US\n")
        stop = asyncio.Event()
        stop.set()
        first = await run_sweep(settings, stop=stop)
        db = Path(settings.sweep.db)
        with sqlite3.connect(db) as conn:  # as a kill -9 leaves it
            conn.execute("UPDATE runs SET status = 'running', finished_at = NULL")
        conn.close()
        second = await run_sweep(settings)  # not --resume: a new run; the crashed one is closed
    assert second.run_id != first.run_id
    assert query(db, "SELECT run_id, status, stop_reason FROM runs ORDER BY started_at") == [
        (first.run_id, "interrupted", "left by a crash"),
        (second.run_id, "completed", None),
    ]
