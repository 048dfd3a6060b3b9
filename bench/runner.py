"""Which function measures which cases, and running a selection of them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from bench import CASES
from bench.account import account
from bench.memory import memory
from bench.nightly import nightly
from bench.options import Options
from bench.procs import BenchError
from bench.recovery import resume
from bench.result import CaseResult, failed
from bench.startup import cold_start
from bench.storage import store
from bench.throttle import throttle
from bench.throughput import overhead, utilisation_politeness

log = logging.getLogger(__name__)

Measure = Callable[[Options], CaseResult | list[CaseResult]]

GROUPS: tuple[tuple[tuple[str, ...], Measure], ...] = (
    (("utilisation", "politeness"), utilisation_politeness),
    (("overhead",), overhead),
    (("store",), store),
    (("memory",), memory),
    (("resume",), resume),
    (("cold_start",), cold_start),
    (("nightly",), nightly),
    (("account",), account),
    (("throttle",), throttle),
)
"""Cases measured together (utilisation and politeness share one sweep), in running order."""

assert tuple(name for names, _ in GROUPS for name in names) == CASES


def _describe(exc: Exception) -> str:
    return str(exc) if isinstance(exc, BenchError) else f"{type(exc).__name__}: {exc}"


def run_cases(selected: Sequence[str], options: Options) -> list[CaseResult]:
    """Run the groups holding a selected case; results of the selected cases, in CASES order."""
    results: dict[str, CaseResult] = {}
    for names, measure in GROUPS:
        if not set(names) & set(selected):
            continue
        log.info("bench: %s ...", " + ".join(names))
        started = time.monotonic()
        try:
            outcome = measure(options)
        except Exception as exc:
            log.error("bench: %s could not run: %s", " + ".join(names), _describe(exc))
            log.debug("details", exc_info=True)
            outcome = [failed(name, _describe(exc)) for name in names]
        for result in outcome if isinstance(outcome, list) else [outcome]:
            results[result.name] = result
        log.info("bench: %s done in %.1fs", " + ".join(names), time.monotonic() - started)
    return [results[name] for name in CASES if name in selected]
