"""Interruptions, outages, a second instance, stale runs and the database file itself."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harvester.cli import SAME_REQUEST
from harvester.errors import StoreError
from harvester.lock import DatabaseLock
from harvester.model import RunStatus, StopKind
from harvester.report import Progress
from harvester.schema import SCHEMA_VERSION
from harvester.simulate import Gateway, GatewaySettings
from harvester.store import Store
from harvester.sweep import run_sweep

HERE = Path(__file__).resolve().parent
Query = Callable[..., list[tuple[Any, ...]]]
Until = Callable[[Callable[[], object], float, str], Awaitable[None]]
WaitUntil = Callable[[Callable[[], object], float, str], None]


# Stopping ---------------------------------------------------------------------------------


async def test_a_stop_lets_requests_in_flight_finish_and_commit(
    make_settings: Callable[..., Any], query: Query, until: Until
) -> None:
    symbols = "".join(f"F{i}.US\n" for i in range(40))
    async with Gateway(GatewaySettings(latency=0.2)) as gateway:
        settings = make_settings(gateway.url, symbols, sweep={"workers": 4},
                                 endpoints={"concurrency": 4})
        progress, stop = Progress(), asyncio.Event()
        running = asyncio.create_task(run_sweep(settings, progress=progress, stop=stop))
        await until(lambda: progress.done >= 8 or running.done(), 30, "8 tasks done")
        stop.set()
        summary = await running
        sent = gateway.stats.total
        db = Path(settings.sweep.db)
        # Every request the gateway answered was committed with its task: none was dropped.
        assert query(db, "SELECT SUM(attempts) FROM tasks") == [(sent,)]
        assert summary.stop_kind is StopKind.SIGNAL
        assert summary.status is RunStatus.INTERRUPTED
        assert query(db, "SELECT status, stop_reason FROM runs") == [
            ("interrupted", "stopped by a signal")]
        pending = query(db, "SELECT COUNT(*) FROM tasks WHERE status = 'pending'")[0][0]
        assert pending > 0
        resumed = await run_sweep(settings, resume=True)
        assert resumed.status is RunStatus.COMPLETED
        assert gateway.stats.total == 80  # every task fetched exactly once over both runs


async def test_the_grace_period_cuts_off_slow_requests(
    make_settings: Callable[..., Any], query: Query, until: Until
) -> None:
    async with Gateway(GatewaySettings(latency=5.0)) as gateway:
        settings = make_settings(gateway.url, "S1.US\nS2.US\n", sweep={"grace_period": 0.2})
        stop = asyncio.Event()
        running = asyncio.create_task(run_sweep(settings, stop=stop))
        await until(lambda: gateway.stats.total >= 4 or running.done(), 30,
                    "all 4 requests at the gateway")
        started = time.monotonic()
        stop.set()
        summary = await running
        assert time.monotonic() - started < 2.0
    assert summary.status is RunStatus.INTERRUPTED
    db = Path(settings.sweep.db)
    assert query(db, "SELECT COUNT(*) FROM tasks WHERE status = 'pending'") == [(4,)]
    assert query(db, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.slow
def test_sigterm_exits_143_and_a_second_sigint_stops_at_once(
    tmp_path: Path, sweep_files: Callable[..., Any], gateway_process: Callable[..., Any],
    start_sweep: Callable[..., subprocess.Popen[str]], harvester: Callable[..., Any],
    write_config: Callable[..., Path], served: Callable[[str], int], wait_until: WaitUntil,
    query: Query,
) -> None:
    files = sweep_files(60, 20.0, grace_period=60.0)
    db = files.db
    with gateway_process(files.port, "--latency", "0.3") as gateway:
        first = start_sweep(files.args(), db=db, ok=10)
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=30)
        assert first.returncode == 143, err
        assert "interrupted" in out
        assert query(db, "SELECT status FROM runs") == [("interrupted",)]

        # Now a long grace period and slow answers: the second SIGINT must not wait for it.
        slow = write_config(tmp_path / "slow.toml", files.port, 5.0, grace_period=60.0)
        before = served(gateway.url)
        second = start_sweep(files.args("--resume", config=slow))
        # Requests going out: the resumed sweep has its signal handlers and work in flight.
        wait_until(lambda: served(gateway.url) > before, 30, "the resumed sweep's requests")
        second.send_signal(signal.SIGINT)
        # A signal within SAME_REQUEST of the first is the same request (GNU timeout sends
        # two); this one comes later, as a person pressing Ctrl-C again would. This sleep is
        # the point of the test, not a wait for something to happen.
        time.sleep(SAME_REQUEST + 0.2)
        began = time.monotonic()
        second.send_signal(signal.SIGINT)
        second.communicate(timeout=30)
        assert second.returncode == 130
        assert time.monotonic() - began < 5
        assert query(db, "PRAGMA integrity_check") == [("ok",)]

        done = harvester(*files.args("--resume"))
        assert done.returncode == 0, done.stderr
    assert query(db, "SELECT status FROM runs") == [("completed",)]
    assert query(db, "SELECT status, COUNT(*) FROM tasks GROUP BY 1") == [("ok", 120)]


# Outages ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_gateway_restarted_mid_sweep_costs_no_task(
    tmp_path: Path, sweep_files: Callable[..., Any], gateway_process: Callable[..., Any],
    start_sweep: Callable[..., subprocess.Popen[str]], wait_until: WaitUntil, query: Query,
) -> None:
    files = sweep_files(120, 40.0, max_attempts=3)
    log = tmp_path / "sweep.err"  # a file, so the test can watch it while the sweep runs
    with gateway_process(files.port), log.open("w") as stderr:
        sweep = start_sweep(files.args("--json"), db=files.db, ok=40, stderr=stderr)
    # The gateway process is gone now; the sweep meets refused connections until it
    # decides the gateway is down, and only then does the gateway come back.
    wait_until(lambda: "looks down" in log.read_text(), 30, "the sweep saw the gateway down")
    with gateway_process(files.port):
        sweep.communicate(timeout=60)
    err = log.read_text()
    assert sweep.returncode == 0, err
    assert "looks down" in err and "answers again" in err
    assert query(files.db, "SELECT status, COUNT(*) FROM tasks GROUP BY 1") == [("ok", 240)]
    assert query(files.db, "SELECT status FROM runs") == [("completed",)]


@pytest.mark.slow
def test_a_gateway_that_stays_down_exits_75_and_resume_finishes(
    sweep_files: Callable[..., Any], gateway_process: Callable[..., Any],
    start_sweep: Callable[..., subprocess.Popen[str]], harvester: Callable[..., Any],
    query: Query,
) -> None:
    files = sweep_files(80, 40.0, outage_max=2.0)
    db = files.db
    with gateway_process(files.port):
        sweep = start_sweep(files.args(), db=db, ok=20)
    _, err = sweep.communicate(timeout=60)
    assert sweep.returncode == 75, err
    assert "gateway is unavailable" in err
    assert query(db, "SELECT status FROM runs") == [("interrupted",)]
    assert query(db, "SELECT COUNT(*) FROM tasks WHERE status = 'failed'") == [(0,)]
    with gateway_process(files.port):
        done = harvester(*files.args("--resume"))
    assert done.returncode == 0, done.stderr
    assert query(db, "SELECT status, resumes FROM runs") == [("completed", 1)]
    assert query(db, "SELECT status, COUNT(*) FROM tasks GROUP BY 1") == [("ok", 160)]


async def test_an_unreachable_gateway_interrupts_without_failing_tasks(
    make_settings: Callable[..., Any], free_port: Callable[[], int], query: Query
) -> None:
    settings = make_settings(f"http://127.0.0.1:{free_port()}", "A.US\nB.US\nC.US\n",
                             sweep={"outage_max": 0.5, "max_attempts": 20})
    summary = await run_sweep(settings)
    assert summary.stop_kind is StopKind.OUTAGE
    assert summary.stop_reason is not None and "gateway is unavailable" in summary.stop_reason
    assert summary.status is RunStatus.INTERRUPTED
    db = Path(settings.sweep.db)
    assert query(db, "SELECT DISTINCT status FROM tasks") == [("pending",)]


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
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from harvester.lock import DatabaseLock; DatabaseLock(Path(sys.argv[1])).acquire(); "
         "print('held', flush=True); time.sleep(60)", str(db)],
        stdout=subprocess.PIPE, text=True,
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
    sweep_files: Callable[..., Any], gateway_process: Callable[..., Any],
    start_sweep: Callable[..., subprocess.Popen[str]], harvester: Callable[..., Any],
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
        (first.run_id, "interrupted", "left by a crash"), (second.run_id, "completed", None)]


# The file itself --------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["unwritable folder", "not sqlite", "newer schema"])
async def test_a_bad_database_file_is_refused_before_any_request(
    make_settings: Callable[..., Any], case: str
) -> None:
    async with Gateway() as gateway:
        settings = make_settings(gateway.url, "AAPL.US\n")
        db = Path(settings.sweep.db)
        if case == "unwritable folder":
            # /proc refuses new files even to root, for whom folder modes do not bind.
            settings = replace(settings, sweep=replace(settings.sweep, db="/proc/h.sqlite"))
        elif case == "not sqlite":
            db.write_bytes(b"PK\x03\x04 this is a zip file, not a database" * 100)
        else:
            with sqlite3.connect(db) as conn:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
            conn.close()
        with pytest.raises(StoreError) as refused:
            await run_sweep(settings)
        assert gateway.stats.total == 0
    message = str(refused.value)
    assert "\n" not in message
    expected = {"unwritable folder": "is the folder writable",
                "not sqlite": "not an SQLite database", "newer schema": "newer"}[case]
    assert expected in message


@pytest.fixture
def v1_database(query: Query) -> Callable[[Path], Path]:
    """``v1_database(path)``: a file of the first released schema, with its data."""

    def make(path: Path) -> Path:
        with sqlite3.connect(path) as conn:
            conn.executescript((HERE / "data" / "schema_v1.sql").read_text(encoding="utf-8"))
        conn.close()
        assert query(path, "PRAGMA user_version") == [(1,)]
        return path

    return make


async def test_the_first_released_schema_is_migrated_in_place(
    tmp_path: Path, v1_database: Callable[[Path], Path], query: Query
) -> None:
    db = v1_database(tmp_path / "old.sqlite")
    before = {table: query(db, f"SELECT * FROM {table} ORDER BY 1, 2")
              for table in ("short_trades", "short_interest", "tasks")}
    async with Store(db):
        pass
    assert query(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    for table, rows in before.items():
        assert query(db, f"SELECT * FROM {table} ORDER BY 1, 2") == rows
    assert query(db, "SELECT run_id, status, stop_reason FROM runs ORDER BY 1") == [
        ("20260520T020000Z-aaaaaa", "completed", None),
        ("20260521T020000Z-bbbbbb", "interrupted", None),
    ]


async def test_a_migrated_file_resumes_its_unfinished_run(
    tmp_path: Path, v1_database: Callable[[Path], Path], make_settings: Callable[..., Any]
) -> None:
    db = v1_database(tmp_path / "h.sqlite")
    async with Gateway() as gateway:
        settings = make_settings(gateway.url, "AAPL.US\n",
                                 sweep={"db": str(db), "resume_max_age": 1e5})
        summary = await run_sweep(settings, resume=True)
        assert gateway.stats.total == 1  # only the one pending task
    assert summary.run_id == "20260521T020000Z-bbbbbb" and summary.resumed
    assert summary.status is RunStatus.COMPLETED


async def test_a_failing_migration_leaves_the_file_at_its_old_version(
    tmp_path: Path, v1_database: Callable[[Path], Path], query: Query,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import harvester.database
    import harvester.schema

    db = v1_database(tmp_path / "old.sqlite")
    broken = (*harvester.schema.MIGRATIONS, ("ALTER TABLE runs ADD COLUMN extra TEXT",
                                             "THIS IS NOT SQL",))
    monkeypatch.setattr(harvester.database, "MIGRATIONS", broken)
    monkeypatch.setattr(harvester.database, "SCHEMA_VERSION", len(broken))
    with pytest.raises(StoreError):
        async with Store(db):
            pass
    assert query(db, "PRAGMA user_version") == [(1,)]
    columns = [row[1] for row in query(db, "PRAGMA table_info(runs)")]
    assert "stop_reason" not in columns and "extra" not in columns
