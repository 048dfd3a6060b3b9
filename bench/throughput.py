"""The rate cases: ``utilisation`` and ``politeness`` (one throttled sweep), ``overhead``.

``utilisation`` is how much of its configured rate a throttled sweep uses,
``politeness`` how close it comes to the gateway's limit, and ``overhead``
the harvester's unthrottled rate over that of a bare aiohttp loop.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import universe
from bench.options import Options
from bench.procs import BenchError, Finished, run, tail
from bench.result import CaseResult, judged, median, median_of
from bench.sweeper import (
    ENDPOINTS,
    ROOT,
    UNTHROTTLED,
    UNTHROTTLED_GATEWAY,
    Limits,
    Sweeper,
    SweepRun,
    rate_limited_timeout,
    sweeping,
    unthrottled_timeout,
)

log = logging.getLogger(__name__)

# utilisation and politeness: one rate-limited sweep with faults.
UTIL_SYMBOLS, UTIL_SYMBOLS_QUICK = 5_000, 600
UTIL_RATE = 100.0  # requests/s per endpoint
UTIL_BURST = 1  # the shipped default: "burst as configured"
UTIL_CONCURRENCY = 16  # per endpoint
UTIL_WORKERS = 64
UTIL_LATENCY = 0.05
UTIL_ERROR_RATE = 0.02
UTIL_SEED = 1

# overhead: unthrottled harvester (UNTHROTTLED limits) against the bare loop, which gets
# the same requests in flight over both endpoints.
OVERHEAD_SYMBOLS, OVERHEAD_SYMBOLS_QUICK = 5_000, 1_000


def utilisation_politeness(options: Options) -> list[CaseResult]:
    """One rate-limited sweep with -5 faults, ``runs`` times: how busy, and how polite."""
    size = options.pick(UTIL_SYMBOLS, UTIL_SYMBOLS_QUICK)
    limits = Limits(rate=UTIL_RATE, burst=UTIL_BURST, concurrency=UTIL_CONCURRENCY,
                    workers=UTIL_WORKERS)
    limit = math.ceil(limits.rate + max(limits.burst, 1))  # what the gateway lets through
    flags = ["--latency", str(UTIL_LATENCY), "--error-rate", str(UTIL_ERROR_RATE),
             "--seed", str(UTIL_SEED)]
    for name in ENDPOINTS:
        flags += ["--rate-limit", f"{name}={limit}"]
    timeout = rate_limited_timeout(size * len(ENDPOINTS) * 1.1, limits.total_rate)
    runs: list[SweepRun] = []
    with sweeping("utilisation", flags, limits) as sweeper:
        symbols = universe.write(sweeper.folder / "symbols.txt", size)
        for i in range(options.runs):
            sweep = sweeper.run(symbols, sweeper.folder / f"run{i}.sqlite", timeout=timeout)
            log.info("utilisation: run %d/%d: %d requests in %.2fs at the gateway "
                     "(%.1f req/s), wall %.2fs", i + 1, options.runs, sweep.stats.total,
                     sweep.stats.span, sweep.stats.rate, sweep.finished.wall)
            runs.append(sweep)
    return [_utilisation(runs, limits, size), _politeness(runs, limit)]


def _utilisation(runs: list[SweepRun], limits: Limits, size: int) -> CaseResult:
    chosen = median_of(runs, lambda sweep: sweep.stats.rate)
    configured = limits.total_rate
    ratio = chosen.stats.rate / configured
    figures = {
        "symbols": size,
        "requests": chosen.stats.total,
        "span_s": round(chosen.stats.span, 3),
        "achieved_rps": round(chosen.stats.rate, 2),
        "configured_rps": configured,
        "wall_s": round(chosen.finished.wall, 3),
        "harvester_rps": chosen.summary.get("requests_per_second"),
        "runs": len(runs),
        "ratio_runs": [round(sweep.stats.rate / configured, 4) for sweep in runs],
    }
    return judged("utilisation", figures, (("achieved_rps",), ("configured_rps",)), ratio)


def _politeness(runs: list[SweepRun], limit: int) -> CaseResult:
    # A bound, not a typical value: the worst window of any run counts.
    by_endpoint = {name: max(sweep.stats.max_per_second.get(name, 0) for sweep in runs)
                   for name in ENDPOINTS}
    worst = max(by_endpoint.values())
    served_429 = sum(sweep.stats.served_429 for sweep in runs)
    ratio = worst / limit
    figures = {
        "max_per_second": worst,
        "limit_per_second": limit,
        "served_429": served_429,
        "max_per_second_by_endpoint": by_endpoint,
        "runs": len(runs),
    }
    return judged("politeness", figures,
                  (("max_per_second", "served_429"), ("limit_per_second",)), ratio,
                  served_429=served_429)


Bare = tuple[Finished, float, int]  # one run of the bare loop: child, requests/s, requests


def _bare(sweeper: Sweeper, symbols: Path, index: int, timeout: float) -> Bare:
    """One run of the bare loop: (the child, requests/s at the gateway, requests)."""
    gateway = sweeper.gateway
    argv = [sys.executable, "-m", "bench.bare", gateway.url, str(symbols),
            str(sweeper.limits.in_flight), "--config", str(sweeper.config)]
    gateway.reset()
    finished = run(argv, cwd=ROOT, folder=sweeper.folder, name=f"bare{index}", timeout=timeout)
    if finished.exit_code != 0:
        raise BenchError(f"the bare loop exited {finished.exit_code}: {tail(finished.stderr)}")
    printed = json.loads(finished.stdout.strip().splitlines()[-1])
    if printed["errors"]:
        raise BenchError(f"the bare loop got {printed['errors']} answers that were not 200")
    stats = gateway.stats()
    return finished, stats.rate, stats.total


def _overhead_runs(options: Options, size: int) -> tuple[list[Bare], list[SweepRun],
                                                          list[SweepRun]]:
    """``runs`` of the bare loop and the harvester, alternating; and on uvloop if installed."""
    timeout = unthrottled_timeout(size * len(ENDPOINTS))
    bare: list[Bare] = []
    harvester: list[SweepRun] = []
    fast: list[SweepRun] = []  # the harvester on uvloop, when it is installed
    with sweeping("overhead", UNTHROTTLED_GATEWAY, UNTHROTTLED) as sweeper:
        folder = sweeper.folder
        symbols = universe.write(folder / "symbols.txt", size)
        uvloop = (Sweeper(sweeper.gateway, folder, replace(UNTHROTTLED, event_loop="uvloop"))
                  if importlib.util.find_spec("uvloop") else None)
        for i in range(options.runs):
            # Alternate which goes first, so neither always meets a fresher gateway.
            if i % 2:
                harvester.append(sweeper.run(symbols, folder / f"run{i}.sqlite", timeout=timeout))
            bare.append(_bare(sweeper, symbols, i, timeout))
            if not i % 2:
                harvester.append(sweeper.run(symbols, folder / f"run{i}.sqlite", timeout=timeout))
            if uvloop is not None:
                fast.append(uvloop.run(symbols, folder / f"uv{i}.sqlite", timeout=timeout))
            log.info("overhead: run %d/%d: bare %.1f req/s, harvester %.1f req/s%s", i + 1,
                     options.runs, bare[-1][1], harvester[-1].stats.rate,
                     f", on uvloop {fast[-1].stats.rate:.1f} req/s" if fast else "")
    return bare, harvester, fast


def overhead(options: Options) -> CaseResult:
    """Unthrottled harvester against the bare loop, alternating, ``runs`` times each."""
    bare, harvester, fast = _overhead_runs(
        options, options.pick(OVERHEAD_SYMBOLS, OVERHEAD_SYMBOLS_QUICK))
    requests = harvester[0].stats.total
    if any(total != requests for _, _, total in bare):
        raise BenchError(f"the bare loop sent {bare[0][2]} requests, the harvester {requests}")
    harvester_rps = median([sweep.stats.rate for sweep in harvester])
    bare_rps = median([rate for _, rate, _ in bare])
    harvester_cpu = median([sweep.finished.cpu for sweep in harvester])
    bare_cpu = median([finished.cpu for finished, _, _ in bare])
    figures: dict[str, Any] = {
        "requests": requests,
        "harvester_rps": round(harvester_rps, 1),
        "bare_rps": round(bare_rps, 1),
        "harvester_cpu_s": round(harvester_cpu, 3),
        "bare_cpu_s": round(bare_cpu, 3),
        "harvester_cpu_us_per_request": round(harvester_cpu / requests * 1e6, 1),
        "bare_cpu_us_per_request": round(bare_cpu / requests * 1e6, 1),
        "harvester_wall_s": round(median([sweep.finished.wall for sweep in harvester]), 3),
        "bare_wall_s": round(median([finished.wall for finished, _, _ in bare]), 3),
        "in_flight": UNTHROTTLED.in_flight,
        "runs": options.runs,
        "event_loop": UNTHROTTLED.event_loop,
    }
    if fast:
        fast_rps = median([sweep.stats.rate for sweep in fast])
        figures["harvester_uvloop_rps"] = round(fast_rps, 1)
        figures["harvester_uvloop_cpu_s"] = round(median([s.finished.cpu for s in fast]), 3)
        figures["ratio_uvloop"] = round(fast_rps / bare_rps, 4)
    return judged("overhead", figures, (("harvester_rps",), ("bare_rps",)),
                  harvester_rps / bare_rps)
