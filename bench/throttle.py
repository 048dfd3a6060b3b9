"""The ``throttle`` case: sweeps against an upstream whose real limit is not the configured one.

Issue 22's scenarios, each a fresh simulated gateway (its schedule is timed
from its first request, its quota from its start) and a fresh database: 500
symbols (``--quick``: 100) times both data sets of the gateway dialect, 1,000
tasks, latency 0.05 s plus up to 0.02 s, the harvester as a child process with
the default sweep settings and the stated rate per endpoint. The true limit is
shared by both endpoints and is at most half the configured one:

- ``429_retry_after``, ``429_bare``, ``minus5``: 10/s per endpoint configured,
  5/s shared, the overload answered 429 with ``Retry-After: 1``, 429 without
  it, or ``-5`` in a 200 body; ``count_refused``: the first, refused requests
  counted against the limit too; ``policy``: the first, the limit advertised
  in ``RateLimit-Policy``/``RateLimit``;
- ``high``: 25/s per endpoint, 20/s shared; ``drop``: 25/s per endpoint, 20/s
  shared until 20 s after the first request, then 5/s;
- ``quota``: a quota of 800 a day answered 429 with ``Retry-After: 36000``,
  then the next day (``POST /_sim/today``) ``sweep --resume``; ``quota_403``:
  the quota answered 403;
- ``noise``: no limit, 2% of answers a random ``-5``.

Each scenario's figures: requests the gateway received, refusals per 1,000 of
them, failed tasks, exit code, wall time of the child and its ratio to the
ideal (the time the true limit needs for the tasks). Their marks are in
``bench.targets.THROTTLE_SCENARIOS``. The case's ratio is the worst wall ratio
of the scenarios held to the case's own mark; it also counts the scenarios
that missed any of theirs. For ``drop`` a thread polls ``/_stats`` every 0.1 s
to get the requests that arrived in each second (the gateway counts only the
accepted ones per second), and the case finds the first second after the drop
that starts three seconds in a row with at most 1.1 times the new limit.
One run of each scenario whatever ``--runs`` says: the full case takes about
25 minutes; ``--quick`` runs three of them (``429_retry_after`` against 20/s
shared with 20/s per endpoint configured, ``quota`` and ``noise`` at 20/s per
endpoint) in about 30 seconds.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import universe
from bench.gateway import GatewayProcess
from bench.options import Options
from bench.procs import BenchError, Child, Finished, harvester_argv
from bench.result import CaseResult, judged
from bench.sweeper import SLACK, Limits, write_config
from bench.targets import TARGETS, THROTTLE_SCENARIOS

log = logging.getLogger(__name__)

SYMBOLS, SYMBOLS_QUICK = 500, 100
LATENCY, JITTER = 0.05, 0.02
DEFAULT_RATE = 10.0  # the shipped rate of each endpoint
HIGH_RATE = 25.0  # "configured 50/s": 25 per endpoint
QUICK_RATE = 20.0  # --quick: 40/s configured against 20/s shared, so it fits in CI's minute
QUOTA_SHARE = 0.8  # the quota is 800 of the 1,000 tasks (160 of 200 in quick)
DROP_AT, DROP_TO = 20.0, 5  # the drop scenario's step: 20/s, then 5/s from t = 20 s
SETTLE_RUN, SETTLE_SLACK = 3, 1.1  # seconds in a row at most 1.1 x the new limit
QUOTA_TIMEOUT = 300.0  # seconds a quota's sweep gets at the least
POLL = 0.1  # seconds between /_stats polls while ``drop`` runs
FINAL = ("ok", "no_data", "unsupported", "invalid", "unchanged", "skipped")


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """One sweep's setup: gateway flags, the rate per endpoint, the true limit over time."""

    name: str
    flags: tuple[str, ...]
    rate: float = DEFAULT_RATE  #: configured per endpoint
    steps: tuple[tuple[float, float], ...] = ()  #: (from second, limit); () = the configured
    quota: int = 0  #: the day's quota; the sweep is resumed the next day

    def limits(self) -> tuple[tuple[float, float], ...]:
        """The limit over time, the configured total where the upstream sets none."""
        return self.steps or ((0.0, 2 * self.rate),)

    def ideal(self, tasks: int) -> float:
        """Seconds the limit needs for ``tasks`` requests (for a quota: to spend it)."""
        left, now = float(self.quota or tasks), 0.0
        steps = self.limits()
        for index, (start, limit) in enumerate(steps):
            end = steps[index + 1][0] if index + 1 < len(steps) else float("inf")
            span = min(left / limit, end - start)
            left -= span * limit
            now = start + span
            if left <= 1e-9:
                break
        return now


def scenarios(quick: bool, tasks: int) -> list[Scenario]:
    """The full case's ten scenarios, or the quick one's three (a higher limit, 200 tasks)."""
    shared = ("--shared-rate", "5")
    quota = round(QUOTA_SHARE * tasks)
    if quick:
        return [
            Scenario(
                name="429_retry_after",
                flags=("--shared-rate", "20", "--overload-answer", "429"),
                rate=QUICK_RATE,
                steps=((0.0, 20.0),),
            ),
            Scenario(
                name="quota",
                flags=("--quota", str(quota), "--quota-answer", "429_long"),
                rate=QUICK_RATE,
                quota=quota,
            ),
            Scenario(name="noise", flags=("--error-rate", "0.02"), rate=QUICK_RATE),
        ]
    five = ((0.0, 5.0),)
    return [
        Scenario(name="429_retry_after", flags=(*shared, "--overload-answer", "429"), steps=five),
        Scenario(
            name="429_bare", flags=(*shared, "--overload-answer", "429_no_retry_after"), steps=five
        ),
        Scenario(name="minus5", flags=(*shared, "--overload-answer", "-5"), steps=five),
        Scenario(
            name="count_refused",
            flags=(*shared, "--overload-answer", "429", "--count-refused"),
            steps=five,
        ),
        Scenario(
            name="policy",
            flags=(*shared, "--overload-answer", "429", "--ratelimit-headers", "ietf"),
            steps=five,
        ),
        Scenario(name="high", flags=("--shared-rate", "20"), rate=HIGH_RATE, steps=((0.0, 20.0),)),
        Scenario(
            name="drop",
            flags=("--rate-schedule", f"0:20,{DROP_AT:g}:{DROP_TO}"),
            rate=HIGH_RATE,
            steps=((0.0, 20.0), (DROP_AT, float(DROP_TO))),
        ),
        Scenario(
            name="quota", flags=("--quota", str(quota), "--quota-answer", "429_long"), quota=quota
        ),
        Scenario(
            name="quota_403", flags=("--quota", str(quota), "--quota-answer", "403"), quota=quota
        ),
        Scenario(name="noise", flags=("--error-rate", "0.02")),
    ]


def gateway_flags(scenario: Scenario) -> list[str]:
    """The simulated gateway's flags: latency as the issue measured it, then the scenario's."""
    base = ["--latency", str(LATENCY), "--latency-jitter", str(JITTER)]
    noise = [] if "--error-rate" in scenario.flags else ["--error-rate", "0"]
    return [*base, *noise, *scenario.flags]


def summary_of(finished: Finished) -> dict[str, Any]:
    """The ``--json`` summary the sweep printed, whatever its exit code; {} if none."""
    for line in reversed(finished.stdout.splitlines()):
        if line.startswith("{"):
            summary: dict[str, Any] = json.loads(line)
            return summary
    return {}


class Poller:
    """A thread reading the gateway's ``total`` every ``POLL`` s: (time, total) samples."""

    def __init__(self, gateway: GatewayProcess) -> None:
        self._gateway = gateway
        self._stop = threading.Event()
        self.samples: list[tuple[float, int]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __repr__(self) -> str:
        return f"<Poller samples={len(self.samples)}>"

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            before = time.monotonic()
            total = int(self._gateway.call("GET", "/_stats")["total"])
            # The gateway counted at some point during the call: take its middle.
            self.samples.append(((before + time.monotonic()) / 2, total))
            self._stop.wait(POLL)


def arrivals_per_second(samples: Sequence[tuple[float, int]]) -> list[int]:
    """Requests that arrived in each whole second from the first, read off the samples.

    The first request is put halfway between the last sample that saw none and
    the first that saw one; a count at a second's edge is interpolated.
    """
    first = next((i for i, (_, total) in enumerate(samples) if total > 0), None)
    if first is None:
        return []
    start = (samples[first - 1][0] + samples[first][0]) / 2 if first else samples[0][0]
    times = [t for t, _ in samples]
    totals = [float(n) for _, n in samples]

    def at(when: float) -> float:
        if when >= times[-1]:
            return totals[-1]
        i = next(i for i, t in enumerate(times) if t > when)
        if i == 0:
            return totals[0]
        share = (when - times[i - 1]) / (times[i] - times[i - 1])
        return totals[i - 1] + share * (totals[i] - totals[i - 1])

    seconds = int(times[-1] - start)
    return [round(at(start + k + 1) - at(start + k)) for k in range(seconds)]


def settle_second(per_second: Sequence[int], drop_at: int, limit: float) -> int | None:
    """Seconds after the drop at which ``SETTLE_RUN`` seconds in a row stay within the slack."""
    most = SETTLE_SLACK * limit
    for start in range(drop_at, len(per_second) - SETTLE_RUN + 1):
        if all(count <= most for count in per_second[start : start + SETTLE_RUN]):
            return start - drop_at
    return None


def _sweep(
    folder: Path, gateway: GatewayProcess, config: Path, name: str, timeout: float, *extra: str
) -> Finished:
    """Run one sweep of the scenario's universe into its database, to its end."""
    argv = harvester_argv(
        "sweep",
        "--config",
        str(config),
        "--symbols",
        str(folder / "symbols.txt"),
        "--db",
        str(folder / "harvester.sqlite"),
        "--base-url",
        gateway.url,
        "--json",
        "-q",
        *extra,
    )
    return Child(argv, cwd=folder, folder=folder, name=name, timeout=timeout).wait()


def _refused(stats: dict[str, Any]) -> int:
    """Requests the throttle refused (a 429, a -5 or a 403 by the scenario's answer)."""
    return sum(stats.get("throttle", {}).get("refused", {}).values())


def run_scenario(scenario: Scenario, size: int) -> dict[str, Any]:
    """One scenario in a fresh folder, gateway and database: its figures."""
    tasks = 2 * size
    ideal = scenario.ideal(tasks)
    # A quota's sweep may knock for two minutes before it stops (issue 22's bound).
    timeout = max(SLACK + 3 * ideal, QUOTA_TIMEOUT if scenario.quota else 0.0)
    with tempfile.TemporaryDirectory(prefix=f"bench-throttle-{scenario.name}-") as tmp:
        folder = Path(tmp)
        universe.write(folder / "symbols.txt", size)
        limits = Limits(
            rate=scenario.rate, burst=1, concurrency=5, workers=32, event_loop="asyncio"
        )
        config = write_config(folder / "harvester.toml", limits)
        with GatewayProcess(gateway_flags(scenario), folder) as gateway:
            if scenario.steps and len(scenario.steps) > 1:
                with Poller(gateway) as poller:
                    finished = _sweep(folder, gateway, config, "sweep", timeout)
                arrivals = arrivals_per_second(poller.samples)
            else:
                finished = _sweep(folder, gateway, config, "sweep", timeout)
                arrivals = []
            stats = gateway.call("GET", "/_stats")
            figures = _figures(scenario, tasks, ideal, finished, summary_of(finished), stats)
            if arrivals:
                figures.update(_drop_figures(arrivals, stats))
            if scenario.quota:
                figures.update(_resumed(folder, gateway, config, tasks, timeout, figures))
    return figures


def _figures(
    scenario: Scenario,
    tasks: int,
    ideal: float,
    finished: Finished,
    summary: dict[str, Any],
    stats: dict[str, Any],
) -> dict[str, Any]:
    """A scenario's figures from its sweep, its summary and the gateway's ``/_stats``."""
    total = int(stats["total"])
    refused = _refused(stats)
    throttle = stats.get("throttle", {})
    random_minus5 = sum(
        outcomes.get("internal_error", 0) for outcomes in stats.get("by_outcome", {}).values()
    )
    figures: dict[str, Any] = {
        "tasks": tasks,
        "requests": total,
        "harvester_requests": summary.get("requests"),
        "refused": refused,
        "served_429": stats["served_429"],
        "refused_per_1000": round(1000 * refused / total, 1) if total else 0.0,
        "random_minus5": random_minus5,  # the overload's -5 is counted as "throttled"
        "failed_tasks": summary.get("failed_tasks_total"),
        "exit_code": finished.exit_code,
        "wall_s": round(finished.wall, 2),
        "sweep_elapsed_s": summary.get("elapsed"),
        "ideal_s": round(ideal, 2),
        "cuts": summary.get("cuts"),
        "pace": summary.get("pace"),
        "stop_kind": summary.get("stop_kind"),
        "tasks_by_status": summary.get("tasks"),
        "max_accepted_per_second": throttle.get("max_accepted_per_second"),
    }
    if not scenario.quota:
        figures["wall_ratio"] = round(finished.wall / ideal, 4)
    else:
        accepted = int(throttle.get("accepted", 0))
        figures["accepted"] = accepted
        # Every request past the quota is refused: those after the first refusal.
        figures["after_first_refusal"] = max(0, total - accepted - 1) if refused else None
        figures["stop_reason"] = summary.get("stop_reason")
    return figures


def _drop_figures(arrivals: list[int], stats: dict[str, Any]) -> dict[str, Any]:
    """When the sending settled after the drop, by arrivals and by accepted requests."""
    accepted = stats["throttle"]["accepted_per_second"]
    drop_at = int(DROP_AT)
    return {
        "drop_settle_s": settle_second(arrivals, drop_at, DROP_TO),
        "drop_settle_accepted_s": settle_second(accepted, drop_at, DROP_TO),
        "arrivals_per_second": arrivals,
        "accepted_per_second": accepted,
        "max_arrivals_after_settle": _max_after(arrivals, drop_at),
    }


def _max_after(arrivals: list[int], drop_at: int) -> int | None:
    """The most arrivals in any whole second once the sending settled (the last second left out)."""
    settled = settle_second(arrivals, drop_at, DROP_TO)
    if settled is None:
        return None
    tail = arrivals[drop_at + settled : -1]
    return max(tail, default=None)


def _resumed(
    folder: Path,
    gateway: GatewayProcess,
    config: Path,
    tasks: int,
    timeout: float,
    first: dict[str, Any],
) -> dict[str, Any]:
    """The next day: the quota renewed, ``sweep --resume``; its exit and unfinished tasks."""
    gateway.call("POST", "/_sim/today", {"advance": 1})
    gateway.reset()
    finished = _sweep(folder, gateway, config, "resume", timeout, "--resume")
    summary = summary_of(finished)
    stats = gateway.call("GET", "/_stats")
    by_status: dict[str, dict[str, int]] = summary.get("tasks") or {}
    final = sum(counts.get(status, 0) for counts in by_status.values() for status in FINAL)
    return {
        "resume_exit": finished.exit_code,
        "resume_requests": stats["total"],
        "resume_wall_s": round(finished.wall, 2),
        "resume_tasks_by_status": by_status,
        "resume_unfinished": tasks - final,
        "failed_tasks": summary.get("failed_tasks_total"),
        "first_failed_tasks": first["failed_tasks"],
    }


def missed(name: str, figures: dict[str, Any]) -> list[str]:
    """The marks of ``THROTTLE_SCENARIOS[name]`` that the scenario's figures miss."""
    return [bound.text() for bound in THROTTLE_SCENARIOS[name] if not bound.met(figures)]


def throttle(options: Options) -> CaseResult:
    """Every scenario in turn; the worst wall ratio, and the scenarios that missed a mark."""
    size = options.pick(SYMBOLS, SYMBOLS_QUICK)
    runs: dict[str, dict[str, Any]] = {}
    for scenario in scenarios(options.quick, 2 * size):
        log.info("throttle: %s ...", scenario.name)
        try:
            figures = run_scenario(scenario, size)
        except BenchError as exc:
            # One scenario that hangs (killed at its deadline) is a miss, not the end of the case.
            log.error("throttle: %s could not run: %s", scenario.name, exc)
            runs[scenario.name] = {"error": str(exc), "missed": ["ran to its end"]}
            continue
        figures["missed"] = missed(scenario.name, figures)
        runs[scenario.name] = figures
        log.info(
            "throttle: %s: %s requests, %s refused per 1,000, %s failed, exit %s, %.1fs "
            "(ideal %.1fs)%s",
            scenario.name,
            figures["requests"],
            figures["refused_per_1000"],
            figures["failed_tasks"],
            figures["exit_code"],
            figures["wall_s"],
            figures["ideal_s"],
            f"; missed {', '.join(figures['missed'])}" if figures["missed"] else "",
        )
    mark = TARGETS["throttle"].value
    headline = [
        figures.get("wall_ratio", float("inf"))
        for name, figures in runs.items()
        if any(b.figure == "wall_ratio" and b.value == mark for b in THROTTLE_SCENARIOS[name])
    ]
    failed = [figures.get("failed_tasks") for figures in runs.values()]
    refused = [figures.get("refused_per_1000", float("inf")) for figures in runs.values()]
    summary = {
        "worst_wall_ratio": max(headline),
        "worst_refused_per_1000": max(refused),
        "failed_tasks": sum(failed) if all(isinstance(n, int) for n in failed) else None,
        "scenarios_missed": sum(bool(figures["missed"]) for figures in runs.values()),
        "scenarios_run": len(runs),
        "ideal_wall_ratio": 1.0,
        "scenarios": runs,
    }
    shown = (
        ("worst_wall_ratio", "worst_refused_per_1000", "failed_tasks", "scenarios_missed"),
        ("ideal_wall_ratio", "scenarios_run"),
    )
    return judged("throttle", summary, shown, summary["worst_wall_ratio"])
