"""The run ledger: which run a sweep works on, new from the symbols file or resumed.

A new run records its universe (the symbols file, read once, as a stream)
in one transaction with the run itself. ``--resume`` continues the latest
unfinished run if it is recent enough, and closes it as too old otherwise, so
last week's broken run never hijacks tonight's; a run the daily quota stopped
is resumed however old, since it could not have gone on sooner. The caller holds the database
lock, so a run still marked ``running`` was left by a crash.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from harvester.errors import ConfigError
from harvester.model import TaskStatus, utc_time
from harvester.settings.config import Settings
from harvester.settings.symbols import read_symbols
from harvester.store.store import Store, TaskRow
from harvester.sweep.quota import QUOTA_STOPPED

log = logging.getLogger(__name__)

MALFORMED_SHOWN = 20  # malformed lines ``plan`` logs one by one; the rest are counted
CRASHED = "left by a crash"


def new_run_id() -> str:
    """A sortable, unique run id such as ``20261121T093000Z-3fa9c1``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class OpenedRun:
    """The run a sweep works on, and what reading its symbols file found."""

    run_id: str
    resumed: bool
    duplicates: int = 0
    malformed_lines: int = 0


class Universe:
    """The symbols file as a stream of new tasks, counting what it skips on the way."""

    def __init__(
        self, path: Path, endpoints: Sequence[str], *, strict: bool, each: bool = False
    ) -> None:
        self.path = path
        self.endpoints = tuple(endpoints)
        self.strict = strict
        self.each = each  #: warn of each malformed line (``plan``); else once, summed up
        self.seen = 0  #: symbol lines read, duplicates included
        self.malformed = 0  #: lines that are not a symbol
        self._first_problem = ""

    def __repr__(self) -> str:
        return f"<Universe {self.path} seen={self.seen} malformed={self.malformed}>"

    def tasks(self) -> Iterator[TaskRow]:
        """One pending task per symbol and endpoint; other markets are ``unsupported`` at once."""
        for line in read_symbols(self.path):
            if line.symbol is None:
                self._malformed(line.lineno, line.error or "not a symbol")
                continue
            symbol = line.symbol
            self.seen += 1
            if symbol.supported:
                yield from (
                    (symbol.canonical, name, TaskStatus.PENDING.value, None)
                    for name in self.endpoints
                )
            else:
                message = f"market {symbol.market} is not served by the gateway; not requested"
                yield from (
                    (symbol.canonical, name, TaskStatus.UNSUPPORTED.value, message)
                    for name in self.endpoints
                )

    def totals(self, new_tasks: int) -> Mapping[str, int]:
        """The run's counters once every line is read; a file with no symbol is refused."""
        if self.each and self.malformed > MALFORMED_SHOWN:
            log.warning(
                "%s: %d more malformed lines skipped", self.path, self.malformed - MALFORMED_SHOWN
            )
        elif self.malformed and not self.each:
            # Once a night, not once a line: the same file comes back every night.
            log.warning(
                "%s: %d malformed lines skipped, the first %s; harvester plan lists them",
                self.path,
                self.malformed,
                self._first_problem,
            )
        if not self.seen:
            # An empty universe is a broken file (a generator that failed), not a quiet night.
            found = (
                f"{self.malformed} malformed lines, the first {self._first_problem}"
                if self.malformed
                else "it is empty or only comments"
            )
            raise ConfigError(f"symbols file {self.path}: no valid symbol ({found})")
        symbols = new_tasks // len(self.endpoints)
        return {
            "symbols": symbols,
            "duplicates": self.seen - symbols,
            "malformed_lines": self.malformed,
        }

    def _malformed(self, lineno: int, error: str) -> None:
        if self.strict:
            raise ConfigError(f"{self.path} line {lineno}: {error}")
        self.malformed += 1
        self._first_problem = self._first_problem or f"line {lineno}: {error}"
        if self.each and self.malformed <= MALFORMED_SHOWN:
            log.warning("%s line %d: %s; skipped", self.path, lineno, error)


async def record_universe(
    store: Store,
    run_id: str,
    path: Path,
    endpoints: Sequence[str],
    *,
    strict: bool,
    kind: str = "sweep",
    served_day: date | None = None,
) -> tuple[int, int, int]:
    """Record a new run and its tasks from the symbols file in one transaction.

    Returns (symbols, duplicates, malformed lines). A duplicate is the same
    security written again, in any style; it is fetched once.
    """
    universe = Universe(path, endpoints, strict=strict)
    counters = await store.start_run(
        run_id,
        str(path),
        universe.tasks(),
        universe.totals,
        kind=kind,
        served_day=served_day.isoformat() if served_day is not None else None,
    )
    return counters["symbols"], counters["duplicates"], counters["malformed_lines"]


def read_universe(settings: Settings) -> tuple[dict[tuple[str, str], bool], Mapping[str, int]]:
    """Each distinct task of the symbols file, True if its market is served; the file's totals.

    For ``plan``: what a new run would record, without recording it.
    """
    names = [endpoint.name for endpoint in settings.endpoints]
    universe = Universe(
        Path(settings.sweep.symbols), names, strict=settings.sweep.strict, each=True
    )
    tasks: dict[tuple[str, str], bool] = {}
    for symbol, endpoint, status, _ in universe.tasks():
        tasks.setdefault((symbol, endpoint), status != TaskStatus.UNSUPPORTED.value)
    return tasks, universe.totals(len(tasks))


def _age_hours(started_at: str) -> float:
    return (datetime.now(UTC) - utc_time(started_at)).total_seconds() / 3600


async def open_run(
    store: Store,
    settings: Settings,
    endpoints: Sequence[str],
    resume: bool,
    kind: str = "sweep",
    served_day: date | None = None,
) -> OpenedRun:
    """Continue the latest unfinished run of ``kind`` (``sweep`` or ``backfill``) when asked
    and it is recent, else start a new one (against a simulated gateway serving
    ``served_day``, if given)."""
    if resume:
        run = await store.latest_unfinished_run(kind)
        max_age = settings.sweep.resume_max_age
        # A run the quota stopped waits for a later day, however long.
        if run is not None and (
            _age_hours(run.started_at) <= max_age
            or (run.stop_reason or "").startswith(QUOTA_STOPPED)
        ):
            await store.resume_run(run.run_id, CRASHED)
            log.info("resuming run %s (started %s)", run.run_id, run.started_at)
            return OpenedRun(run.run_id, resumed=True)
        if run is not None:
            await store.close_run(run.run_id, f"too old to resume (over {max_age:g} hours)")
            log.warning(
                "run %s started %s, more than resume_max_age (%g hours) ago: closed as "
                "interrupted; starting a new run",
                run.run_id,
                run.started_at,
                max_age,
            )
        else:
            log.info("no unfinished run to resume; starting a new one")
    await store.close_crashed_runs(CRASHED)
    run_id = new_run_id()
    path = Path(settings.sweep.symbols)
    symbols, duplicates, malformed = await record_universe(
        store,
        run_id,
        path,
        endpoints,
        strict=settings.sweep.strict,
        kind=kind,
        served_day=served_day,
    )
    log.info("run %s: %d symbols from %s", run_id, symbols, path)
    return OpenedRun(run_id, resumed=False, duplicates=duplicates, malformed_lines=malformed)
