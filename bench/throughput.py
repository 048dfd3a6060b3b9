"""Cases that sweep against the gateway process: utilisation, politeness, overhead, memory."""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import universe
from bench.gateway import GatewayProcess
from bench.options import Options, rate_limited_timeout, unthrottled_timeout
from bench.procs import BenchError, Finished, run, tail
from bench.result import CaseResult, median, median_of
from bench.sweep import ENDPOINTS, ROOT, Limits, Sweeper, SweepRun, unlimited

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
UTIL_TARGET = 0.98
POLITE_TARGET = 1.0

# overhead: unthrottled harvester against the bare loop, same in-flight total.
OVERHEAD_SYMBOLS, OVERHEAD_SYMBOLS_QUICK = 5_000, 1_000
OVERHEAD_CONCURRENCY = 8  # per endpoint; the bare loop gets both endpoints' worth
OVERHEAD_WORKERS = 64
OVERHEAD_TARGET = 0.75

# memory: peak RSS of a big unthrottled sweep against a small one.
# Quick sizes (1,000 and 5,000 symbols) keep --quick under a minute.
MEMORY_SMALL, MEMORY_SMALL_QUICK = 10_000, 1_000
MEMORY_BIG, MEMORY_BIG_QUICK = 100_000, 5_000
# The big sweep's peak is steady from run to run (it is reached in the long middle of the
# sweep) and a run takes minutes; the small one's varies a few percent, so it gets --runs.
MEMORY_BIG_RUNS = 1
MEMORY_TARGET = 1.2

UNTHROTTLED_GATEWAY = ("--latency", "0")


def _temp(prefix: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=f"bench-{prefix}-")


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
    with _temp("utilisation") as tmp:
        folder = Path(tmp)
        symbols = universe.write(folder / "symbols.txt", size)
        with GatewayProcess(flags, folder) as gateway:
            sweeper = Sweeper(gateway, folder, limits)
            for i in range(options.runs):
                sweep = sweeper.run(symbols, folder / f"run{i}.sqlite", timeout=timeout)
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
    return CaseResult(name="utilisation", figures=figures,
                      shown=(("achieved_rps",), ("configured_rps",)), ratio=ratio,
                      target=f"≥ {UTIL_TARGET}", ok=ratio >= UTIL_TARGET)


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
    return CaseResult(name="politeness", figures=figures,
                      shown=(("max_per_second", "served_429"), ("limit_per_second",)),
                      ratio=ratio, target=f"≤ {POLITE_TARGET}; 0 429s",
                      ok=ratio <= POLITE_TARGET and served_429 == 0)


def _bare(gateway: GatewayProcess, sweeper: Sweeper, symbols: Path, index: int,
          timeout: float) -> tuple[Finished, float, int]:
    """One run of the bare loop: (the child, requests/s at the gateway, requests)."""
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


def overhead(options: Options) -> CaseResult:
    """Unthrottled harvester against the bare loop, alternating, ``runs`` times each."""
    size = options.pick(OVERHEAD_SYMBOLS, OVERHEAD_SYMBOLS_QUICK)
    limits = unlimited(OVERHEAD_CONCURRENCY, OVERHEAD_WORKERS)
    timeout = unthrottled_timeout(size * len(ENDPOINTS))
    bare: list[tuple[Finished, float, int]] = []
    harvester: list[SweepRun] = []
    fast: list[SweepRun] = []  # the harvester on uvloop, when it is installed
    with _temp("overhead") as tmp, GatewayProcess(UNTHROTTLED_GATEWAY, Path(tmp)) as gateway:
        folder = Path(tmp)
        symbols = universe.write(folder / "symbols.txt", size)
        sweeper = Sweeper(gateway, folder, limits)
        uvloop = (Sweeper(gateway, folder, replace(limits, event_loop="uvloop"))
                  if importlib.util.find_spec("uvloop") else None)
        for i in range(options.runs):
            # Alternate which goes first, so neither always meets a fresher gateway.
            if i % 2:
                harvester.append(sweeper.run(symbols, folder / f"run{i}.sqlite", timeout=timeout))
            bare.append(_bare(gateway, sweeper, symbols, i, timeout))
            if not i % 2:
                harvester.append(sweeper.run(symbols, folder / f"run{i}.sqlite", timeout=timeout))
            if uvloop is not None:
                fast.append(uvloop.run(symbols, folder / f"uv{i}.sqlite", timeout=timeout))
            log.info("overhead: run %d/%d: bare %.1f req/s, harvester %.1f req/s%s", i + 1,
                     options.runs, bare[-1][1], harvester[-1].stats.rate,
                     f", on uvloop {fast[-1].stats.rate:.1f} req/s" if fast else "")
    requests = harvester[0].stats.total
    if any(total != requests for _, _, total in bare):
        raise BenchError(f"the bare loop sent {bare[0][2]} requests, the harvester {requests}")
    harvester_rps = median([sweep.stats.rate for sweep in harvester])
    bare_rps = median([rate for _, rate, _ in bare])
    harvester_cpu = median([sweep.finished.cpu for sweep in harvester])
    bare_cpu = median([finished.cpu for finished, _, _ in bare])
    ratio = harvester_rps / bare_rps
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
        "in_flight": limits.in_flight,
        "runs": options.runs,
        "event_loop": limits.event_loop,
    }
    if fast:
        fast_rps = median([sweep.stats.rate for sweep in fast])
        figures["harvester_uvloop_rps"] = round(fast_rps, 1)
        figures["harvester_uvloop_cpu_s"] = round(median([s.finished.cpu for s in fast]), 3)
        figures["ratio_uvloop"] = round(fast_rps / bare_rps, 4)
    return CaseResult(name="overhead", figures=figures,
                      shown=(("harvester_rps",), ("bare_rps",)), ratio=ratio,
                      target=f"≥ {OVERHEAD_TARGET}", ok=ratio >= OVERHEAD_TARGET)


def memory(options: Options) -> CaseResult:
    """Peak RSS of a big unthrottled sweep over that of a small one (median of runs each)."""
    small = options.pick(MEMORY_SMALL, MEMORY_SMALL_QUICK)
    big = options.pick(MEMORY_BIG, MEMORY_BIG_QUICK)
    limits = unlimited(OVERHEAD_CONCURRENCY, OVERHEAD_WORKERS)
    sweeps: dict[int, list[SweepRun]] = {small: [], big: []}
    with _temp("memory") as tmp, GatewayProcess(UNTHROTTLED_GATEWAY, Path(tmp)) as gateway:
        folder = Path(tmp)
        sweeper = Sweeper(gateway, folder, limits)
        files = {size: universe.write(folder / f"symbols{size}.txt", size) for size in sweeps}
        for i in range(options.runs):
            for size, runs in sweeps.items():
                if size == big and i >= MEMORY_BIG_RUNS:
                    continue
                timeout = unthrottled_timeout(size * len(ENDPOINTS))
                sweep = sweeper.run(files[size], folder / f"run{size}-{i}.sqlite",
                                    timeout=timeout)
                log.info("memory: run %d/%d: %d symbols: peak RSS %d KB, %.1fs, %.1f req/s",
                         i + 1, options.runs, size, sweep.finished.max_rss_kb,
                         sweep.finished.wall, sweep.stats.rate)
                runs.append(sweep)
    low = median_of(sweeps[small], lambda sweep: sweep.finished.max_rss_kb)
    high = median_of(sweeps[big], lambda sweep: sweep.finished.max_rss_kb)
    ratio = high.finished.max_rss_kb / low.finished.max_rss_kb
    figures = {
        "small_symbols": small,
        "big_symbols": big,
        "small_peak_rss_kb": low.finished.max_rss_kb,
        "big_peak_rss_kb": high.finished.max_rss_kb,
        "small_elapsed_s": round(low.finished.wall, 3),
        "big_elapsed_s": round(high.finished.wall, 3),
        "small_rps": round(low.stats.rate, 1),
        "big_rps": round(high.stats.rate, 1),
        "small_rss_runs_kb": [sweep.finished.max_rss_kb for sweep in sweeps[small]],
        "big_rss_runs_kb": [sweep.finished.max_rss_kb for sweep in sweeps[big]],
    }
    return CaseResult(name="memory", figures=figures,
                      shown=(("big_peak_rss_kb",), ("small_peak_rss_kb",)), ratio=ratio,
                      target=f"≤ {MEMORY_TARGET}", ok=ratio <= MEMORY_TARGET)
