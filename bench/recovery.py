"""Cases about whole commands: ``resume`` (kill -9 halfway, ``--resume``) and ``cold_start``."""

from __future__ import annotations

import logging
import signal
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import universe
from bench.gateway import GatewayProcess
from bench.options import Options, rate_limited_timeout
from bench.procs import BenchError, Child, harvester_argv
from bench.result import CaseResult, median_of
from bench.sweep import ENDPOINTS, ROOT, Limits, Sweeper, shipped_endpoints, summary_of

log = logging.getLogger(__name__)

RESUME_SYMBOLS, RESUME_SYMBOLS_QUICK = 2_000, 300
RESUME_RATE = 100.0
RESUME_BURST = 1
RESUME_CONCURRENCY = 16
RESUME_WORKERS = 64
RESUME_LATENCY = 0.05
COMMIT_LAG = 0.25  # seconds of finished work a kill may lose: the commit interval
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
    limits = Limits(rate=RESUME_RATE, burst=RESUME_BURST, concurrency=RESUME_CONCURRENCY,
                    workers=RESUME_WORKERS)
    timeout = rate_limited_timeout(size * len(ENDPOINTS), limits.total_rate)
    attempts: list[tuple[int, int, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-resume-") as tmp:
        folder = Path(tmp)
        symbols = universe.write(folder / "symbols.txt", size)
        with GatewayProcess(["--latency", str(RESUME_LATENCY)], folder) as gateway:
            sweeper = Sweeper(gateway, folder, limits)
            whole = sweeper.run(symbols, folder / "whole.sqlite", timeout=timeout).stats.total
            for i in range(options.runs):
                db = folder / f"killed{i}.sqlite"
                gateway.reset()
                killed_at = _kill_halfway(sweeper, symbols, db, whole // 2, timeout)
                finished = sweeper.start(symbols, db, "--resume", timeout=timeout).wait()
                summary_of(finished, "the resumed sweep")
                served = gateway.stats().total
                log.info("resume: run %d/%d: killed at %d requests, %d in total, %d uninterrupted",
                         i + 1, options.runs, killed_at, served, whole)
                attempts.append((served, killed_at, _check(db)))
    served, killed_at, checks = median_of(attempts, lambda attempt: attempt[0])
    allowance = limits.in_flight + COMMIT_LAG * limits.total_rate
    bound = 1 + allowance / whole
    ratio = served / whole
    sound = all(a[2]["pending_after"] == 0 and a[2]["integrity"] == "ok"
                and a[2]["runs_after"] == ["completed"] for a in attempts)
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
    return CaseResult(name="resume", figures=figures,
                      shown=(("served_total",), ("uninterrupted",)), ratio=ratio,
                      target=f"≤ {bound:.4f}", ok=ratio <= bound and sound)


def cold_start(options: Options) -> CaseResult:
    """``sweep --simulate`` on the shipped files: wall time over what its rate limit needs."""
    rates = {name: float(table.get("rate", 10.0)) for name, table in shipped_endpoints().items()}
    total_rate = sum(rates.values())
    runs: list[tuple[float, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        folder = Path(tmp)
        symbols = sum(1 for line in (ROOT / "symbols.txt").read_text().splitlines()
                      if line.split("#", 1)[0].strip())
        timeout = rate_limited_timeout(symbols * len(ENDPOINTS) * 1.1, total_rate)
        for i in range(options.runs):
            argv = harvester_argv("sweep", "--simulate", "--db", str(folder / f"h{i}.sqlite"),
                                  "--json", "-q")
            finished = Child(argv, cwd=ROOT, folder=folder, name=f"cold{i}",
                             timeout=timeout).wait()
            summary = summary_of(finished, "sweep --simulate")
            log.info("cold_start: run %d/%d: %d requests, wall %.2fs, sweep %.2fs", i + 1,
                     options.runs, summary["requests"], finished.wall, summary["elapsed"])
            runs.append((finished.wall, summary))
    wall, summary = median_of(runs, lambda run: run[0])
    need = summary["requests"] / total_rate
    figures = {
        "wall_s": round(wall, 3),
        "need_s": round(need, 3),
        "requests": summary["requests"],
        "configured_rps": total_rate,
        "sweep_elapsed_s": summary["elapsed"],
        "runs": options.runs,
        "wall_runs_s": [round(run[0], 3) for run in runs],
    }
    return CaseResult(name="cold_start", figures=figures, shown=(("wall_s",), ("need_s",)),
                      ratio=wall / need, target="report", ok=None)

