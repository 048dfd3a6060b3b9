"""A sweep stopped by a signal or by a gateway outage ends resumably and loses no task.

Requests in flight finish and commit, the grace period cuts slow ones off, SIGTERM and a
second SIGINT from the CLI, a gateway restarted mid-sweep or staying down, and a gateway
that never answered.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from harvester.cli import SAME_REQUEST
from harvester.model import RunStatus, StopKind
from harvester.simulate import Gateway, GatewaySettings
from harvester.sweep.run import run_sweep

Query = Callable[..., list[tuple[Any, ...]]]
Until = Callable[[Callable[[], object], float, str], Awaitable[None]]
WaitUntil = Callable[[Callable[[], object], float, str], None]


# Stopping ---------------------------------------------------------------------------------


async def test_a_stop_lets_requests_in_flight_finish_and_commit(
    watch: Any, make_settings: Callable[..., Any], query: Query, until: Until
) -> None:
    symbols = "".join(f"F{i}.US\n" for i in range(40))
    async with Gateway(GatewaySettings(latency=0.2)) as gateway:
        settings = make_settings(
            gateway.url, symbols, sweep={"workers": 4}, endpoints={"concurrency": 4}
        )
        stop = asyncio.Event()
        running = asyncio.create_task(run_sweep(settings, stop=stop, show=watch))
        await until(lambda: watch.done >= 8 or running.done(), 30, "8 tasks done")
        stop.set()
        summary = await running
        sent = gateway.stats.total
        db = Path(settings.sweep.db)
        # Every request the gateway answered was committed with its task: none was dropped.
        assert query(db, "SELECT SUM(attempts) FROM tasks") == [(sent,)]
        assert summary.stop_kind is StopKind.SIGNAL
        assert summary.status is RunStatus.INTERRUPTED
        assert query(db, "SELECT status, stop_reason FROM runs") == [
            ("interrupted", "stopped by a signal")
        ]
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
        await until(
            lambda: gateway.stats.total >= 4 or running.done(), 30, "all 4 requests at the gateway"
        )
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
    tmp_path: Path,
    sweep_files: Callable[..., Any],
    gateway_process: Callable[..., Any],
    start_sweep: Callable[..., subprocess.Popen[str]],
    harvester: Callable[..., Any],
    write_config: Callable[..., Path],
    served: Callable[[str], int],
    wait_until: WaitUntil,
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
    tmp_path: Path,
    sweep_files: Callable[..., Any],
    gateway_process: Callable[..., Any],
    start_sweep: Callable[..., subprocess.Popen[str]],
    wait_until: WaitUntil,
    query: Query,
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
    sweep_files: Callable[..., Any],
    gateway_process: Callable[..., Any],
    start_sweep: Callable[..., subprocess.Popen[str]],
    harvester: Callable[..., Any],
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
    settings = make_settings(
        f"http://127.0.0.1:{free_port()}",
        "A.US\nB.US\nC.US\n",
        sweep={"outage_max": 0.5, "max_attempts": 20},
    )
    summary = await run_sweep(settings)
    assert summary.stop_kind is StopKind.OUTAGE
    assert summary.stop_reason is not None and "gateway is unavailable" in summary.stop_reason
    assert summary.status is RunStatus.INTERRUPTED
    db = Path(settings.sweep.db)
    assert query(db, "SELECT DISTINCT status FROM tasks") == [("pending",)]
