"""The rate cases: ``utilisation`` and ``politeness`` (one throttled sweep), ``overhead``.

``utilisation`` is how much of its configured rate a throttled sweep uses,
``politeness`` how close it comes to the gateway's limit. ``overhead`` is CPU
seconds (user + system of the process, from ``wait4``) per request of an
unthrottled sweep: a bare loop that does the same work (bench/bare.py: one
aiohttp session at the same concurrency, GET, the same rows parsed by the
harvester's adapters and upserted with stdlib ``executemany``, one transaction
per ``COMMIT_INTERVAL`` batch) over the harvester's. Requests/s of both, and
the fetch-only bare loop (no rows, no database), are reported as information.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench import universe
from bench.gateway import Stats
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
from bench.targets import COMMIT_INTERVAL

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
# the same requests in flight over both endpoints: 10,000 requests in a full run.
OVERHEAD_SYMBOLS, OVERHEAD_SYMBOLS_QUICK = 5_000, 1_000


def utilisation_politeness(options: Options) -> list[CaseResult]:
    """One rate-limited sweep with -5 faults, ``runs`` times: how busy, and how polite."""
    size = options.pick(UTIL_SYMBOLS, UTIL_SYMBOLS_QUICK)
    limits = Limits(
        rate=UTIL_RATE, burst=UTIL_BURST, concurrency=UTIL_CONCURRENCY, workers=UTIL_WORKERS
    )
    limit = math.ceil(limits.rate + max(limits.burst, 1))  # what the gateway lets through
    flags = [
        "--latency",
        str(UTIL_LATENCY),
        "--error-rate",
        str(UTIL_ERROR_RATE),
        "--seed",
        str(UTIL_SEED),
    ]
    for name in ENDPOINTS:
        flags += ["--rate-limit", f"{name}={limit}"]
    timeout = rate_limited_timeout(size * len(ENDPOINTS) * 1.1, limits.total_rate)
    runs: list[SweepRun] = []
    with sweeping("utilisation", flags, limits) as sweeper:
        symbols = universe.write(sweeper.folder / "symbols.txt", size)
        for i in range(options.runs):
            sweep = sweeper.run(symbols, sweeper.folder / f"run{i}.sqlite", timeout=timeout)
            log.info(
                "utilisation: run %d/%d: %d requests in %.2fs at the gateway "
                "(%.1f req/s), wall %.2fs",
                i + 1,
                options.runs,
                sweep.stats.total,
                sweep.stats.span,
                sweep.stats.rate,
                sweep.finished.wall,
            )
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
    by_endpoint = {
        name: max(sweep.stats.max_per_second.get(name, 0) for sweep in runs) for name in ENDPOINTS
    }
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
    return judged(
        "politeness",
        figures,
        (("max_per_second", "served_429"), ("limit_per_second",)),
        ratio,
        served_429=served_429,
    )


@dataclass(frozen=True, slots=True)
class BareRun:
    """One run of the bare loop: the child, the JSON line it printed, the gateway's stats."""

    finished: Finished
    printed: dict[str, Any]
    stats: Stats

    @property
    def rows(self) -> int:
        """Rows it upserted (0 fetch-only)."""
        return int(self.printed["rows"])


def bare_run(
    sweeper: Sweeper, symbols: Path, name: str, timeout: float, *, db: Path | None
) -> BareRun:
    """One run of the bare loop on ``sweeper``'s gateway and config.

    It stores into ``db``, or only fetches when ``db`` is None.
    """
    gateway = sweeper.gateway
    argv = [
        sys.executable,
        "-m",
        "bench.bare",
        gateway.url,
        str(symbols),
        str(sweeper.limits.in_flight),
        "--config",
        str(sweeper.config),
        *(("--db", str(db)) if db is not None else ("--fetch-only",)),
    ]
    gateway.reset()
    finished = run(argv, cwd=ROOT, folder=sweeper.folder, name=name, timeout=timeout)
    if finished.exit_code != 0:
        raise BenchError(f"the bare loop exited {finished.exit_code}: {tail(finished.stderr)}")
    printed: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    if printed["errors"]:
        raise BenchError(
            f"the bare loop got {printed['errors']} answers that were not 200 or that "
            "the adapter refused"
        )
    return BareRun(finished, printed, gateway.stats())


@dataclass(slots=True)
class OverheadRuns:
    """Every run of the ``overhead`` case, by contender."""

    harvester: list[SweepRun] = field(default_factory=list)
    bare: list[BareRun] = field(default_factory=list)  #: storing: the baseline judged by
    fetch_only: list[BareRun] = field(default_factory=list)  #: the old baseline: one run
    uvloop: list[SweepRun] = field(default_factory=list)  #: the harvester on uvloop, if installed


def _overhead_runs(options: Options, size: int) -> OverheadRuns:
    """``runs`` of the harvester and the storing bare loop, alternating which goes first.

    The first run also has the fetch-only loop; each, the harvester on uvloop if installed.
    """
    timeout = unthrottled_timeout(size * len(ENDPOINTS))
    runs = OverheadRuns()
    with sweeping("overhead", UNTHROTTLED_GATEWAY, UNTHROTTLED) as sweeper:
        folder = sweeper.folder
        symbols = universe.write(folder / "symbols.txt", size)
        uvloop = (
            Sweeper(sweeper.gateway, folder, replace(UNTHROTTLED, event_loop="uvloop"))
            if importlib.util.find_spec("uvloop")
            else None
        )
        for i in range(options.runs):
            # Alternate which goes first, so neither always meets a fresher gateway.
            if i % 2:
                runs.harvester.append(
                    sweeper.run(symbols, folder / f"run{i}.sqlite", timeout=timeout)
                )
            runs.bare.append(
                bare_run(sweeper, symbols, f"bare{i}", timeout, db=folder / f"bare{i}.sqlite")
            )
            if not i % 2:
                runs.harvester.append(
                    sweeper.run(symbols, folder / f"run{i}.sqlite", timeout=timeout)
                )
            log.info(
                "overhead: run %d/%d: CPU per request: harvester %.1f µs, bare %.1f µs",
                i + 1,
                options.runs,
                _per_request(runs.harvester[-1]),
                _per_request(runs.bare[-1]),
            )
            if not i:  # information only: one run of it keeps the case short
                runs.fetch_only.append(bare_run(sweeper, symbols, "fetch", timeout, db=None))
                log.info("overhead: fetch-only bare loop %.1f µs", _per_request(runs.fetch_only[0]))
            if uvloop is not None:
                runs.uvloop.append(uvloop.run(symbols, folder / f"uv{i}.sqlite", timeout=timeout))
                log.info("overhead: harvester on uvloop %.1f µs", _per_request(runs.uvloop[-1]))
    return runs


def _per_request(run: SweepRun | BareRun) -> float:
    """CPU µs per request of one run (requests as the gateway counted them)."""
    return run.finished.cpu / run.stats.total * 1e6 if run.stats.total else math.inf


def _check_same_work(runs: OverheadRuns) -> None:
    """BenchError unless every run sent the harvester's requests, and stored its rows."""
    requests = runs.harvester[0].stats.total
    everyone: list[SweepRun | BareRun] = [
        *runs.harvester,
        *runs.bare,
        *runs.fetch_only,
        *runs.uvloop,
    ]
    if any(run.stats.total != requests for run in everyone):
        raise BenchError(f"requests differ between runs: {[r.stats.total for r in everyone]}")
    rows = {int(sweep.summary["rows_written"]) for sweep in runs.harvester}
    if len(rows) != 1 or any(bare.rows not in rows for bare in runs.bare):
        raise BenchError(
            f"the bare loop wrote {[bare.rows for bare in runs.bare]} rows, "
            f"the harvester {sorted(rows)}"
        )


def _rps(runs: Sequence[SweepRun | BareRun]) -> float:
    """The median requests/s of the runs, as the gateway saw them."""
    return round(median([run.stats.rate for run in runs]), 1)


def _seconds(runs: Sequence[SweepRun | BareRun]) -> float:
    """The median CPU seconds of the runs, rounded for the figures."""
    return round(median([run.finished.cpu for run in runs]), 3)


def _cpu(runs: Sequence[SweepRun | BareRun]) -> float:
    """The median CPU µs per request of the runs."""
    return median([_per_request(run) for run in runs])


def overhead(options: Options) -> CaseResult:
    """CPU per request: the storing bare loop's over the harvester's, ``runs`` times each."""
    runs = _overhead_runs(options, options.pick(OVERHEAD_SYMBOLS, OVERHEAD_SYMBOLS_QUICK))
    _check_same_work(runs)
    harvester_cpu, bare_cpu = _cpu(runs.harvester), _cpu(runs.bare)
    fetch_cpu = _cpu(runs.fetch_only)
    figures: dict[str, Any] = {
        "requests": runs.harvester[0].stats.total,
        "bare_cpu_us_per_request": round(bare_cpu, 1),
        "harvester_cpu_us_per_request": round(harvester_cpu, 1),
        "bare_fetch_only_cpu_us_per_request": round(fetch_cpu, 1),
        "ratio_fetch_only": round(fetch_cpu / harvester_cpu, 4),
        "ratio_runs": [
            round(_per_request(bare) / _per_request(sweep), 4)
            for bare, sweep in zip(runs.bare, runs.harvester, strict=True)
        ],
        "harvester_cpu_s": _seconds(runs.harvester),
        "bare_cpu_s": _seconds(runs.bare),
        "bare_fetch_only_cpu_s": _seconds(runs.fetch_only),
        "harvester_rows": int(runs.harvester[0].summary["rows_written"]),
        "bare_rows": runs.bare[0].rows,
        "bare_commits": int(median([bare.printed["commits"] for bare in runs.bare])),
        "harvester_rps": _rps(runs.harvester),
        "bare_rps": _rps(runs.bare),
        "bare_fetch_only_rps": _rps(runs.fetch_only),
        "in_flight": UNTHROTTLED.in_flight,
        "commit_interval_s": COMMIT_INTERVAL,
        "runs": options.runs,
        "event_loop": UNTHROTTLED.event_loop,
    }
    if runs.uvloop:
        uvloop_cpu = _cpu(runs.uvloop)
        figures["harvester_uvloop_cpu_us_per_request"] = round(uvloop_cpu, 1)
        figures["harvester_uvloop_rps"] = _rps(runs.uvloop)
        figures["ratio_uvloop"] = round(bare_cpu / uvloop_cpu, 4)
    return judged(
        "overhead",
        figures,
        (("bare_cpu_us_per_request",), ("harvester_cpu_us_per_request",)),
        bare_cpu / harvester_cpu,
    )
