"""The ``account`` case: a sweep of the vendor's OpenAPI held to the account's limits.

The vendor allows an account no more than 10 calls in any second and 5 in
flight, every endpoint together (API.md section 5). The simulated gateway
serves the OpenAPI dialect with that limit on (a 429 past it), answering after
0.05 s plus up to 0.02 s of jitter; the harvester sweeps 1,000 symbols
(``--quick``: 50) times both data sets with the documented settings: the
dialect chosen (``[gateway] api = "openapi"``) and no rate setting at all, so
the dialect's own 10/s and 5 hold, signed with the gateway's demo credentials.

The ratio is requests per second over the sweep (the harvester's own elapsed
time, from its start to its books closed) against the account's 10; the
target also bounds, as the gateway saw them, the most requests in any second
(≤ 10) and in flight (≤ 5), the 429s (0) and the failed tasks (0). One sweep
whatever ``--runs`` says: the full one takes 200 s at the limit, and its
bounds are those of every request it sent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import universe
from bench.gateway import GatewayProcess
from bench.options import Options
from bench.procs import Child, harvester_argv
from bench.result import CaseResult, judged
from bench.sweeper import summary_of
from harvester.catalog import DIALECTS, OPENAPI, served_by
from harvester.simulate import DEMO_ACCESS_TOKEN, DEMO_APP_KEY, DEMO_APP_SECRET

log = logging.getLogger(__name__)

SYMBOLS, SYMBOLS_QUICK = 1_000, 50
RATE = DIALECTS[OPENAPI].rate  # the account's calls per second, as the vendor documents it
IN_FLIGHT = DIALECTS[OPENAPI].concurrency  # and its requests at once
LATENCY, JITTER = 0.05, 0.02
MIN_SLACK = 30.0  # seconds a sweep gets beyond what its requests need, at the least
SDK_PREFIXES = tuple(DIALECTS[OPENAPI].env_prefixes)
CREDENTIALS = {
    "LONGBRIDGE_APP_KEY": DEMO_APP_KEY,
    "LONGBRIDGE_APP_SECRET": DEMO_APP_SECRET,
    "LONGBRIDGE_ACCESS_TOKEN": DEMO_ACCESS_TOKEN,
}


def gateway_flags() -> list[str]:
    """The simulated OpenAPI with the account's limits on, as the vendor states them."""
    return [
        "--api",
        OPENAPI,
        "--latency",
        str(LATENCY),
        "--latency-jitter",
        str(JITTER),
        "--account-rate",
        f"{RATE:g}",
        "--account-concurrency",
        str(IN_FLIGHT),
    ]


def timeout_for(requests: int) -> float:
    """Seconds the sweep gets: twice what its requests need at the limit (400 s in full)."""
    need = requests / RATE
    return max(2 * need, need + MIN_SLACK)


@contextlib.contextmanager
def credentials() -> Iterator[None]:
    """The demo credentials, and no other SDK variable, in this environment while it lasts.

    A child inherits the environment it is started with (``bench.procs.child_env``), so
    the sweep is started inside this block; the environment is put back on the way out.
    """
    touched = [key for key in os.environ if key.startswith(SDK_PREFIXES)] + list(CREDENTIALS)
    saved = {key: os.environ.get(key) for key in touched}
    try:
        for key in touched:
            os.environ.pop(key, None)
        os.environ.update(CREDENTIALS)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def account(options: Options) -> CaseResult:
    """One sweep of the OpenAPI dialect at the account's limits: how busy, and how polite."""
    size = options.pick(SYMBOLS, SYMBOLS_QUICK)
    data_sets = [endpoint.name for endpoint in served_by(OPENAPI)]
    tasks = size * len(data_sets)
    with tempfile.TemporaryDirectory(prefix="bench-account-") as tmp:
        folder = Path(tmp)
        config = folder / "harvester.toml"
        config.write_text(f'[gateway]\napi = "{OPENAPI}"\n', encoding="utf-8")
        symbols = universe.write(folder / "symbols.txt", size)
        with GatewayProcess(gateway_flags(), folder) as gateway:
            argv = harvester_argv(
                "sweep",
                "--config",
                str(config),
                "--symbols",
                str(symbols),
                "--db",
                str(folder / "harvester.sqlite"),
                "--base-url",
                gateway.url,
                "--json",
                "-q",
            )
            gateway.reset()
            with credentials():
                child = Child(
                    argv, cwd=folder, folder=folder, name="sweep", timeout=timeout_for(tasks)
                )
            finished = child.wait()
            summary = summary_of(finished, "the sweep")
            stats = gateway.call("GET", "/_stats")
    figures = _figures(size, tasks, finished.wall, summary, stats)
    log.info(
        "account: %d requests in %.2fs (%.2f req/s), at most %d in a second and %d in "
        "flight, %d 429s, %d failed tasks",
        figures["requests"],
        figures["sweep_elapsed_s"],
        figures["achieved_rps"],
        figures["max_per_second"],
        figures["max_in_flight"],
        figures["served_429"],
        figures["failed_tasks"],
    )
    shown = (
        ("achieved_rps", "max_per_second", "max_in_flight", "served_429"),
        ("account_rps", "account_in_flight"),
    )
    return judged(
        "account", figures, shown, figures["achieved_rps"] / RATE, served_429=stats["served_429"]
    )


def _figures(
    size: int, tasks: int, wall: float, summary: dict[str, Any], stats: dict[str, Any]
) -> dict[str, Any]:
    """The case's figures from the sweep's summary and the gateway's ``/_stats``."""
    account_stats = stats["account"]
    elapsed = float(summary["elapsed"])
    span = float(stats["span"])
    per_second = account_stats["arrivals_per_second"]
    return {
        "symbols": size,
        "tasks": tasks,
        "requests": stats["total"],
        "harvester_requests": summary["requests"],
        "wall_s": round(wall, 3),
        "sweep_elapsed_s": elapsed,
        "span_s": round(span, 3),
        "achieved_rps": round(summary["requests"] / elapsed, 3) if elapsed > 0 else 0.0,
        "gateway_rps": round(stats["total"] / span, 3) if span > 0 else 0.0,
        "account_rps": RATE,
        "account_in_flight": IN_FLIGHT,
        "max_per_second": account_stats["max_per_second"],
        "busiest_whole_second": max(per_second, default=0),
        "max_in_flight": account_stats["max_in_flight"],
        "served_429": stats["served_429"],
        "refused_rate": account_stats["refused_rate"],
        "refused_concurrency": account_stats["refused_concurrency"],
        "served_401": stats["served_401"],
        "failed_tasks": summary["failed_tasks_total"],
        "tasks_by_status": summary["tasks"],
    }
