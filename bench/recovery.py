"""The ``resume`` case: requests a sweep killed with SIGKILL halfway and resumed spends.

A sweep is killed once the gateway has served half of what an uninterrupted
sweep needs, then run again with ``--resume``. The requests served in all,
over those of the uninterrupted sweep, must stay within 1 + ``resume_allowance``
/ uninterrupted, and the database must come out whole.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

from bench import universe
from bench.options import Options
from bench.procs import BenchError
from bench.result import CaseResult, judged, median_of
from bench.sweeper import (
    ENDPOINTS,
    Limits,
    Sweeper,
    rate_limited_timeout,
    summary_of,
    sweeping,
)
from bench.targets import resume_allowance

log = logging.getLogger(__name__)

RESUME_SYMBOLS, RESUME_SYMBOLS_QUICK = 2_000, 300
RESUME_RATE = 100.0
RESUME_BURST = 1
RESUME_CONCURRENCY = 16
RESUME_WORKERS = 64
RESUME_LATENCY = 0.05
POLL = 0.02  # seconds between looks at the gateway's count while waiting to kill


def _kill_halfway(sweeper: Sweeper, symbols: Path, db: Path, half: int, timeout: float) -> int:
    """Start a sweep, SIGKILL it once the gateway has seen ``half`` requests; return its count."""
    # Started directly, not through the launcher, so that SIGKILL hits the sweep itself.
    child = sweeper.start(symbols, db, timeout=timeout, measured=False)
    deadline = time.monotonic() + timeout
    try:
        while (seen := sweeper.gateway.stats().total) < half:
            if not child.running():
                raise BenchError(f"the sweep ended after {seen} requests, before being killed")
            if time.monotonic() > deadline:
                raise BenchError(f"the sweep sent only {seen} requests in {timeout:g}s")
            time.sleep(POLL)
    finally:
        child.kill()
        finished = child.wait(10.0)
    if finished.exit_code != -signal.SIGKILL:
        raise BenchError(f"the killed sweep exited {finished.exit_code}, not by SIGKILL")
    return seen


def _check(db: Path) -> dict[str, Any]:
    """Every task final, the run completed and the file sound, read with the stdlib driver."""
    conn = sqlite3.connect(db)
    try:
        pending = conn.execute("SELECT COUNT(*) FROM tasks WHERE status = 'pending'").fetchone()[0]
        runs = [row[0] for row in conn.execute("SELECT status FROM runs")]
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()
    return {"pending_after": pending, "runs_after": runs, "integrity": integrity}


def resume(options: Options) -> CaseResult:
    """Requests served by a killed-and-resumed sweep over those of an uninterrupted one."""
    size = options.pick(RESUME_SYMBOLS, RESUME_SYMBOLS_QUICK)
    limits = Limits(
        rate=RESUME_RATE, burst=RESUME_BURST, concurrency=RESUME_CONCURRENCY, workers=RESUME_WORKERS
    )
    timeout = rate_limited_timeout(size * len(ENDPOINTS), limits.total_rate)
    attempts: list[tuple[int, int, dict[str, Any]]] = []
    with sweeping("resume", ["--latency", str(RESUME_LATENCY)], limits) as sweeper:
        folder, gateway = sweeper.folder, sweeper.gateway
        symbols = universe.write(folder / "symbols.txt", size)
        whole = sweeper.run(symbols, folder / "whole.sqlite", timeout=timeout).stats.total
        for i in range(options.runs):
            db = folder / f"killed{i}.sqlite"
            gateway.reset()
            killed_at = _kill_halfway(sweeper, symbols, db, whole // 2, timeout)
            finished = sweeper.start(symbols, db, "--resume", timeout=timeout).wait()
            summary_of(finished, "the resumed sweep")
            served = gateway.stats().total
            log.info(
                "resume: run %d/%d: killed at %d requests, %d in total, %d uninterrupted",
                i + 1,
                options.runs,
                killed_at,
                served,
                whole,
            )
            attempts.append((served, killed_at, _check(db)))
    served, killed_at, checks = median_of(attempts, lambda attempt: attempt[0])
    allowance = resume_allowance(limits.in_flight, limits.total_rate)
    bound = 1 + allowance / whole
    sound = all(
        a[2]["pending_after"] == 0
        and a[2]["integrity"] == "ok"
        and a[2]["runs_after"] == ["completed"]
        for a in attempts
    )
    figures = {
        "symbols": size,
        "served_total": served,
        "uninterrupted": whole,
        "killed_at": killed_at,
        "extra_requests": served - whole,
        "allowance": allowance,
        "bound": round(bound, 4),
        **checks,
        "runs": options.runs,
        "served_runs": [attempt[0] for attempt in attempts],
    }
    return judged(
        "resume",
        figures,
        (("served_total",), ("uninterrupted",)),
        served / whole,
        mark=bound,
        sound=sound,
    )
