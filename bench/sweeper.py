"""Running ``harvester sweep`` as a child process on a config the bench writes.

The config has a ``[sweep]`` table and both ``[endpoints.*]`` tables; paths
and counts are copied from the shipped ``config/harvester.toml``, the limits
come from the case. The gateway URL, symbols file and database are flags.
Every sweep has a deadline, from the requests it should send and its rate.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.gateway import GatewayProcess, Stats
from bench.procs import BenchError, Child, Finished, harvester_argv, tail
from harvester.catalog import GATEWAY, served_by

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CONFIG = ROOT / "config" / "harvester.toml"
# The bench sweeps the quote gateway's dialect, the default one.
ENDPOINTS = tuple(endpoint.name for endpoint in served_by(GATEWAY))
# The highest a user may set: above what one process sends, so no limiter ever waits.
UNLIMITED_RATE = 10_000.0
UNLIMITED_BURST = 10_000
UNTHROTTLED_GATEWAY = ("--latency", "0")  # gateway flags: every answer at once, no faults
MIN_RPS = 100.0  # an unthrottled sweep slower than this many requests/s times out
SLACK = 60.0  # seconds every child gets on top of what its work should take


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """A sweep's limits: per endpoint ``rate``, ``burst``, ``concurrency``; ``workers``."""

    rate: float
    burst: int
    concurrency: int
    workers: int
    #: ``[sweep] event_loop``: asyncio unless a case says otherwise, as after a plain install
    event_loop: str = "asyncio"

    @property
    def total_rate(self) -> float:
        """Requests per second over both endpoints."""
        return self.rate * len(ENDPOINTS)

    @property
    def in_flight(self) -> int:
        """Requests in flight at most, over both endpoints."""
        return self.concurrency * len(ENDPOINTS)


UNTHROTTLED = Limits(rate=UNLIMITED_RATE, burst=UNLIMITED_BURST, concurrency=8, workers=32)
"""Limits under which only ``concurrency`` holds a sweep back: ``overhead`` and ``memory``.

``workers`` is the shipped default; 16 requests in flight, as in the bare loop.
"""


def rate_limited_timeout(requests: float, rate: float) -> float:
    """Seconds a sweep of ``requests`` at ``rate`` requests/s gets before it is killed."""
    return SLACK + 3 * requests / rate


def unthrottled_timeout(requests: float) -> float:
    """Seconds an unthrottled sweep of ``requests`` gets before it is killed."""
    return SLACK + requests / MIN_RPS


def shipped_endpoints() -> dict[str, dict[str, Any]]:
    """``{endpoint: {path, count, rate, ...}}`` from the shipped config, over the defaults."""
    with SHIPPED_CONFIG.open("rb") as handle:
        tables = tomllib.load(handle).get("endpoints", {})
    return {
        e.name: {"path": e.path, "count": e.count, **tables.get(e.name, {})}
        for e in served_by(GATEWAY)
    }


def write_config(path: Path, limits: Limits) -> Path:
    """A harvester config file with these limits; paths and counts as shipped."""
    shipped = shipped_endpoints()
    lines = ["[sweep]", f"workers = {limits.workers}", f'event_loop = "{limits.event_loop}"', ""]
    for name in ENDPOINTS:
        lines += [
            f"[endpoints.{name}]",
            f"path = {json.dumps(shipped[name]['path'])}",
            f"count = {int(shipped[name]['count'])}",
            f"rate = {float(limits.rate)!r}",
            f"burst = {limits.burst}",
            f"concurrency = {limits.concurrency}",
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@dataclass(frozen=True, slots=True)
class SweepRun:
    """One finished sweep: the child's figures, its JSON summary, the gateway's stats."""

    finished: Finished
    summary: dict[str, Any]
    stats: Stats


def summary_of(finished: Finished, what: str) -> dict[str, Any]:
    """The ``--json`` summary a sweep printed; BenchError if it failed or printed none."""
    if finished.exit_code not in (0, 3):
        raise BenchError(f"{what} exited {finished.exit_code}: {tail(finished.stderr)}")
    for line in reversed(finished.stdout.splitlines()):
        if line.startswith("{"):
            summary: dict[str, Any] = json.loads(line)
            return summary
    raise BenchError(f"{what} printed no JSON summary: {tail(finished.stdout)}")


class Sweeper:
    """Runs sweeps of one config against one gateway, in ``folder``."""

    def __init__(self, gateway: GatewayProcess, folder: Path, limits: Limits) -> None:
        self.gateway = gateway
        self.folder = folder
        self.limits = limits
        self.config = write_config(folder / f"harvester-{limits.event_loop}.toml", limits)
        self._count = 0

    def __repr__(self) -> str:
        return f"<Sweeper {self.limits} runs={self._count}>"

    def argv(self, symbols: Path, db: Path, *extra: str) -> list[str]:
        """The sweep's command line."""
        return harvester_argv(
            "sweep",
            "--config",
            str(self.config),
            "--symbols",
            str(symbols),
            "--db",
            str(db),
            "--base-url",
            self.gateway.url,
            "--json",
            "-q",
            *extra,
        )

    def start(
        self, symbols: Path, db: Path, *extra: str, timeout: float, measured: bool = True
    ) -> Child:
        """Start a sweep and return at once (see Child for ``measured``)."""
        self._count += 1
        return Child(
            self.argv(symbols, db, *extra),
            cwd=self.folder,
            folder=self.folder,
            name=f"sweep{self._count}",
            timeout=timeout,
            measured=measured,
        )

    def run(self, symbols: Path, db: Path, *extra: str, timeout: float) -> SweepRun:
        """Reset the gateway's stats, run a sweep to its end, read the stats."""
        self.gateway.reset()
        finished = self.start(symbols, db, *extra, timeout=timeout).wait()
        summary = summary_of(finished, "the sweep")
        return SweepRun(finished, summary, self.gateway.stats())


@contextlib.contextmanager
def sweeping(case: str, gateway_flags: Sequence[str], limits: Limits) -> Iterator[Sweeper]:
    """A temp folder, a gateway started with ``gateway_flags`` and a Sweeper on both.

    On the way out the gateway is stopped and the folder removed, whatever happened.
    """
    with tempfile.TemporaryDirectory(prefix=f"bench-{case}-") as tmp:
        folder = Path(tmp)
        with GatewayProcess(gateway_flags, folder) as gateway:
            yield Sweeper(gateway, folder, limits)
