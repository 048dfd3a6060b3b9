"""The ``memory`` case: peak RSS of a big unthrottled sweep over that of a small one."""

from __future__ import annotations

import logging

from bench import universe
from bench.options import Options
from bench.result import CaseResult, judged, median_of
from bench.sweeper import (
    ENDPOINTS,
    UNTHROTTLED,
    UNTHROTTLED_GATEWAY,
    SweepRun,
    sweeping,
    unthrottled_timeout,
)

log = logging.getLogger(__name__)

# Quick sizes (1,000 and 5,000 symbols) keep --quick under a minute.
MEMORY_SMALL, MEMORY_SMALL_QUICK = 10_000, 1_000
MEMORY_BIG, MEMORY_BIG_QUICK = 100_000, 5_000
# The big sweep's peak is steady from run to run (it is reached in the long middle of the
# sweep) and a run takes minutes; the small one's varies a few percent, so it gets --runs.
MEMORY_BIG_RUNS = 1


def _peak(sweep: SweepRun) -> float:
    return sweep.finished.max_rss_kb


def memory(options: Options) -> CaseResult:
    """Peak RSS of a big unthrottled sweep over that of a small one (median of runs each)."""
    small = options.pick(MEMORY_SMALL, MEMORY_SMALL_QUICK)
    big = options.pick(MEMORY_BIG, MEMORY_BIG_QUICK)
    sweeps: dict[int, list[SweepRun]] = {small: [], big: []}
    with sweeping("memory", UNTHROTTLED_GATEWAY, UNTHROTTLED) as sweeper:
        folder = sweeper.folder
        files = {size: universe.write(folder / f"symbols{size}.txt", size) for size in sweeps}
        for i in range(options.runs):
            for size, runs in sweeps.items():
                if size == big and i >= MEMORY_BIG_RUNS:
                    continue
                timeout = unthrottled_timeout(size * len(ENDPOINTS))
                sweep = sweeper.run(files[size], folder / f"run{size}-{i}.sqlite", timeout=timeout)
                log.info(
                    "memory: run %d/%d: %d symbols: peak RSS %d KB, %.1fs, %.1f req/s",
                    i + 1,
                    options.runs,
                    size,
                    sweep.finished.max_rss_kb,
                    sweep.finished.wall,
                    sweep.stats.rate,
                )
                runs.append(sweep)
    low, high = median_of(sweeps[small], _peak), median_of(sweeps[big], _peak)
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
    return judged(
        "memory",
        figures,
        (("big_peak_rss_kb",), ("small_peak_rss_kb",)),
        high.finished.max_rss_kb / low.finished.max_rss_kb,
    )
