"""Interruptions, outages, a second instance, stale runs and the database file itself."""

from __future__ import annotations

import asyncio
import logging
import os
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import make_settings, query

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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def gateway_process(
    port: int, *extra: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """``harvester simulate`` in its own process on ``port``; ended by its pid."""
    process = subprocess.Popen(
        [sys.executable, "-m", "harvester", "simulate", "--port", str(port), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 15)
        assert ready, "the simulated gateway printed nothing within 15s"
        assert "listening" in process.stdout.readline()
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


def served(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats", timeout=5) as answer:
        return int(__import__("json").loads(answer.read())["total"])


def wait_for_ok(db: Path, at_least: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline:
        try:
            done = query(db, "SELECT COUNT(*) FROM tasks WHERE status = 'ok'")[0][0]
        except sqlite3.OperationalError:
            done = 0  # not created yet
        if done >= at_least:
            return done
        time.sleep(0.05)
    raise AssertionError(f"only {done} tasks ok after {timeout}s")


def write_config(path: Path, port: int, rate: float, **sweep: object) -> Path:
    lines = [f'[gateway]\nbase_url = "http://127.0.0.1:{port}"\ntimeout = 2.0\n', "[sweep]\n",
             "backoff_base = 0.05\n", *(f"{k} = {v}\n" for k, v in sweep.items())]
    for name in ("short_trades", "short_interest"):
        lines.append(f"[endpoints.{name}]\nrate = {rate}\nconcurrency = 4\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def sweep_cmd(config: Path, symbols: Path, db: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "harvester", "sweep", "--config", str(config),
            "--symbols", str(symbols), "--db", str(db), *extra]


def sweep_until(command: list[str], db: Path, ok: int) -> subprocess.Popen[str]:
    """Start a sweep and return once ``ok`` tasks are committed; it is ended if that fails."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_ok(db, ok)
    except BaseException:
        process.kill()
        process.communicate()
        raise
    return process


def universe(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "symbols.txt"
    path.write_text("".join(f"Z{i}.US\n" for i in range(count)), encoding="utf-8")
    return path


# Stopping ---------------------------------------------------------------------------------


async def test_a_stop_lets_requests_in_flight_finish_and_commit(tmp_path: Path) -> None:
    symbols = "".join(f"F{i}.US\n" for i in range(40))
    async with Gateway(GatewaySettings(latency=0.2)) as gateway:
        settings = make_settings(tmp_path, gateway.url, symbols, sweep={"workers": 4},
                                 endpoints={"concurrency": 4})
        progress, stop = Progress(), asyncio.Event()
        running = asyncio.create_task(run_sweep(settings, progress=progress, stop=stop))
        while progress.done < 8:
            await asyncio.sleep(0.01)
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


async def test_the_grace_period_cuts_off_slow_requests(tmp_path: Path) -> None:
    async with Gateway(GatewaySettings(latency=5.0)) as gateway:
        settings = make_settings(tmp_path, gateway.url, "S1.US\nS2.US\n",
                                 sweep={"grace_period": 0.2})
        stop = asyncio.Event()
        running = asyncio.create_task(run_sweep(settings, stop=stop))
        while gateway.stats.total < 4:
            await asyncio.sleep(0.01)
        started = time.monotonic()
        stop.set()
        summary = await running
        assert time.monotonic() - started < 2.0
    assert summary.status is RunStatus.INTERRUPTED
    db = Path(settings.sweep.db)
    assert query(db, "SELECT COUNT(*) FROM tasks WHERE status = 'pending'") == [(4,)]
    assert query(db, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.slow
def test_sigterm_exits_143_and_a_second_sigint_stops_at_once(tmp_path: Path) -> None:
    port = free_port()
    symbols = universe(tmp_path, 60)
    config = write_config(tmp_path / "c.toml", port, 20.0, grace_period=60.0)
    db = tmp_path / "h.sqlite"
    with gateway_process(port, "--latency", "0.3"):
        first = sweep_until(sweep_cmd(config, symbols, db), db, 10)
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=30)
        assert first.returncode == 143, err
        assert "interrupted" in out
        assert query(db, "SELECT status FROM runs") == [("interrupted",)]

        # Now a long grace period and slow answers: the second SIGINT must not wait for it.
        slow = write_config(tmp_path / "slow.toml", port, 5.0, grace_period=60.0)
        second = subprocess.Popen(sweep_cmd(slow, symbols, db, "--resume"),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        second.send_signal(signal.SIGINT)
        # A signal within SAME_REQUEST of the first is the same request (GNU timeout sends
        # two); this one comes later, as a person pressing Ctrl-C again would.
        time.sleep(SAME_REQUEST + 0.2)
        began = time.monotonic()
        second.send_signal(signal.SIGINT)
        second.communicate(timeout=30)
        assert second.returncode == 130
        assert time.monotonic() - began < 5
        assert query(db, "PRAGMA integrity_check") == [("ok",)]

        done = subprocess.run(sweep_cmd(config, symbols, db, "--resume"), capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    assert query(db, "SELECT status FROM runs") == [("completed",)]
    assert query(db, "SELECT status, COUNT(*) FROM tasks GROUP BY 1") == [("ok", 120)]


# Outages ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_gateway_restarted_mid_sweep_costs_no_task(tmp_path: Path) -> None:
    port = free_port()
    symbols = universe(tmp_path, 120)
    config = write_config(tmp_path / "c.toml", port, 40.0, max_attempts=3)
    db = tmp_path / "h.sqlite"
    with gateway_process(port):
        sweep = sweep_until(sweep_cmd(config, symbols, db, "--json"), db, 40)
    # The gateway process is gone now; the sweep meets refused connections.
    time.sleep(3)
    with gateway_process(port):
        _, err = sweep.communicate(timeout=60)
    assert sweep.returncode == 0, err
    assert "looks down" in err and "answers again" in err
    assert query(db, "SELECT status, COUNT(*) FROM tasks GROUP BY 1") == [("ok", 240)]
    assert query(db, "SELECT status FROM runs") == [("completed",)]


@pytest.mark.slow
def test_a_gateway_that_stays_down_exits_75_and_resume_finishes(tmp_path: Path) -> None:
    port = free_port()
    symbols = universe(tmp_path, 80)
    config = write_config(tmp_path / "c.toml", port, 40.0, outage_max=2.0)
    db = tmp_path / "h.sqlite"
    with gateway_process(port):
        sweep = sweep_until(sweep_cmd(config, symbols, db), db, 20)
    _, err = sweep.communicate(timeout=60)
    assert sweep.returncode == 75, err
    assert "gateway is unavailable" in err
    assert query(db, "SELECT status FROM runs") == [("interrupted",)]
    assert query(db, "SELECT COUNT(*) FROM tasks WHERE status = 'failed'") == [(0,)]
    with gateway_process(port):
        done = subprocess.run(sweep_cmd(config, symbols, db, "--resume"), capture_output=True,
                              text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert query(db, "SELECT status, resumes FROM runs") == [("completed", 1)]
    assert query(db, "SELECT status, COUNT(*) FROM tasks GROUP BY 1") == [("ok", 160)]


async def test_an_unreachable_gateway_interrupts_without_failing_tasks(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"http://127.0.0.1:{free_port()}", "A.US\nB.US\nC.US\n",
                             sweep={"outage_max": 0.5, "max_attempts": 20})
    summary = await run_sweep(settings)
    assert summary.stop_kind is StopKind.OUTAGE
    assert summary.stop_reason is not None and "gateway is unavailable" in summary.stop_reason
    assert summary.status is RunStatus.INTERRUPTED
    db = Path(settings.sweep.db)
    assert query(db, "SELECT DISTINCT status FROM tasks") == [("pending",)]


# A second instance ------------------------------------------------------------------------


async def test_a_second_sweep_on_a_locked_database_is_refused(tmp_path: Path) -> None:
    async with Gateway() as gateway:
        settings = make_settings(tmp_path, gateway.url, "AAPL.US\n")
        held = rf"another harvester sweep \(pid {os.getpid()}\)"
        with DatabaseLock(Path(settings.sweep.db)), pytest.raises(StoreError, match=held):
            await run_sweep(settings)
        assert gateway.stats.total == 0
        summary = await run_sweep(settings)  # released: the next sweep runs
    assert summary.status is RunStatus.COMPLETED


async def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from harvester.lock import DatabaseLock; DatabaseLock(Path(sys.argv[1])).acquire(); "
         "print('held', flush=True); time.sleep(60)", str(db)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match=str(holder.pid)):
            DatabaseLock(db).acquire()
    finally:
        holder.kill()
        holder.communicate()
    async with Gateway() as gateway:
        settings = make_settings(tmp_path, gateway.url, "AAPL.US\n")
        summary = await run_sweep(settings)
    assert summary.status is RunStatus.COMPLETED


@pytest.mark.slow
def test_cli_second_instance_exits_2_and_status_still_reads(tmp_path: Path) -> None:
    port = free_port()
    symbols = universe(tmp_path, 80)
    config = write_config(tmp_path / "c.toml", port, 10.0)
    db = tmp_path / "h.sqlite"
    with gateway_process(port):
        first = sweep_until(sweep_cmd(config, symbols, db), db, 2)
        try:
            second = subprocess.run(sweep_cmd(config, symbols, db), capture_output=True,
                                    text=True, timeout=30)
            status = subprocess.run([sys.executable, "-m", "harvester", "status", "--db",
                                     str(db)], capture_output=True, text=True, timeout=30)
        finally:
            first.send_signal(signal.SIGINT)
            first.communicate(timeout=30)
    assert second.returncode == 2
    assert f"pid {first.pid}" in second.stderr and "Traceback" not in second.stderr
    assert status.returncode == 0 and "running" in status.stdout
    assert query(db, "SELECT COUNT(*) FROM runs") == [(1,)]


# Stale runs -------------------------------------------------------------------------------


async def test_resume_leaves_a_stale_run_and_starts_a_new_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with Gateway() as gateway:
        settings = make_settings(tmp_path, gateway.url, "AAPL.US\n700.HK\n")
        stop = asyncio.Event()
        stop.set()  # stopped before it fetched anything: an unfinished run
        old = await run_sweep(settings, stop=stop)
        db = Path(settings.sweep.db)
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE runs SET started_at = '2026-01-01T00:00:00.000Z'")
        new = await run_sweep(settings, resume=True)
    assert new.run_id != old.run_id and not new.resumed
    assert new.status is RunStatus.COMPLETED
    assert query(db, "SELECT run_id, status, stop_reason FROM runs ORDER BY started_at") == [
        (old.run_id, "interrupted", "too old to resume (over 20 hours)"),
        (new.run_id, "completed", None),
    ]
    assert any("resume_max_age" in message for message in caplog.messages)


async def test_a_run_left_running_by_a_crash_is_resumed_or_closed(tmp_path: Path) -> None:
    async with Gateway() as gateway:
        settings = make_settings(tmp_path, gateway.url, "AAPL.US\n")
        stop = asyncio.Event()
        stop.set()
        first = await run_sweep(settings, stop=stop)
        db = Path(settings.sweep.db)
        with sqlite3.connect(db) as conn:  # as a kill -9 leaves it
            conn.execute("UPDATE runs SET status = 'running', finished_at = NULL")
        second = await run_sweep(settings)  # not --resume: a new run; the crashed one is closed
    assert second.run_id != first.run_id
    assert query(db, "SELECT run_id, status, stop_reason FROM runs ORDER BY started_at") == [
        (first.run_id, "interrupted", "left by a crash"), (second.run_id, "completed", None)]


# The file itself --------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["unwritable folder", "not sqlite", "newer schema"])
async def test_a_bad_database_file_is_refused_before_any_request(
    tmp_path: Path, case: str
) -> None:
    async with Gateway() as gateway:
        settings = make_settings(tmp_path, gateway.url, "AAPL.US\n")
        db = Path(settings.sweep.db)
        if case == "unwritable folder":
            # /proc refuses new files even to root, for whom folder modes do not bind.
            from dataclasses import replace
            settings = replace(settings, sweep=replace(settings.sweep, db="/proc/h.sqlite"))
        elif case == "not sqlite":
            db.write_bytes(b"PK\x03\x04 this is a zip file, not a database" * 100)
        else:
            with sqlite3.connect(db) as conn:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        with pytest.raises(StoreError) as refused:
            await run_sweep(settings)
        assert gateway.stats.total == 0
    message = str(refused.value)
    assert "\n" not in message
    expected = {"unwritable folder": "is the folder writable",
                "not sqlite": "not an SQLite database", "newer schema": "newer"}[case]
    assert expected in message


def _v1_database(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript((HERE / "data" / "schema_v1.sql").read_text(encoding="utf-8"))
    assert query(path, "PRAGMA user_version") == [(1,)]


async def test_the_first_released_schema_is_migrated_in_place(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    _v1_database(db)
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


async def test_a_migrated_file_resumes_its_unfinished_run(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    _v1_database(db)
    async with Gateway() as gateway:
        settings = make_settings(tmp_path, gateway.url, "AAPL.US\n",
                                 sweep={"db": str(db), "resume_max_age": 1e5})
        summary = await run_sweep(settings, resume=True)
        assert gateway.stats.total == 1  # only the one pending task
    assert summary.run_id == "20260521T020000Z-bbbbbb" and summary.resumed
    assert summary.status is RunStatus.COMPLETED


async def test_a_failing_migration_leaves_the_file_at_its_old_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import harvester.schema
    import harvester.store

    db = tmp_path / "old.sqlite"
    _v1_database(db)
    broken = (*harvester.schema.MIGRATIONS, ("ALTER TABLE runs ADD COLUMN extra TEXT",
                                             "THIS IS NOT SQL",))
    monkeypatch.setattr(harvester.store, "MIGRATIONS", broken)
    monkeypatch.setattr(harvester.store, "SCHEMA_VERSION", len(broken))
    with pytest.raises(StoreError):
        async with Store(db):
            pass
    assert query(db, "PRAGMA user_version") == [(1,)]
    columns = [row[1] for row in query(db, "PRAGMA table_info(runs)")]
    assert "stop_reason" not in columns and "extra" not in columns
