"""Plain values shared by every layer: statuses, symbols, results, summaries, times, spans."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class TaskStatus(enum.StrEnum):
    """Where one (symbol, endpoint) task stands within a run."""

    PENDING = "pending"
    OK = "ok"
    NO_DATA = "no_data"
    UNSUPPORTED = "unsupported"
    INVALID = "invalid"
    FAILED = "failed"
    UNCHANGED = "unchanged"  #: not asked: its pair's probes found nothing new (no request)
    SKIPPED = "skipped"  #: not asked: a dead symbol, until its recheck date (no request)


#: The statuses of the tasks a resumed run fetches again.
UNFINISHED: tuple[TaskStatus, ...] = (TaskStatus.PENDING, TaskStatus.FAILED)

#: A run's tasks by endpoint, then by status value: ``{endpoint: {status: count}}``.
TaskCounts = Mapping[str, Mapping[str, int]]


def tasks_in(counts: TaskCounts, *statuses: TaskStatus) -> int:
    """How many of a run's tasks, every endpoint together, have one of ``statuses``."""
    return sum(
        by_status.get(status.value, 0) for status in statuses for by_status in counts.values()
    )


class RunStatus(enum.StrEnum):
    """Where a whole run stands."""

    RUNNING = "running"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"


class StopKind(enum.StrEnum):
    """Why a sweep stopped before its work was done."""

    SIGNAL = "signal"  #: Ctrl-C, SIGTERM or a cancellation
    CREDENTIALS = "credentials"  #: HTTP 401/403
    OUTAGE = "outage"  #: the gateway stayed down longer than outage_max
    ADDRESS = "address"  #: an endpoint's first answers were all the same HTTP 3xx/4xx
    QUOTA = "quota"  #: the next request would have gone over ``[gateway] daily_quota``


SUPPORTED_MARKETS = ("US", "HK")

# Exchange time zones: a trading date is always the exchange's own calendar day.
MARKET_TZ = {"US": "America/New_York", "HK": "Asia/Hong_Kong"}


@dataclass(frozen=True, slots=True)
class Symbol:
    """A security in canonical form: ``CODE.MARKET``, upper case, HK code without zeros."""

    code: str
    market: str

    @property
    def canonical(self) -> str:
        """The form stored everywhere, e.g. ``700.HK`` or ``BRK.B.US``."""
        return f"{self.code}.{self.market}"

    @property
    def supported(self) -> bool:
        """True for the markets the gateway serves (US and HK)."""
        return self.market in SUPPORTED_MARKETS

    def __str__(self) -> str:
        return self.canonical


def symbol_from_canonical(text: str) -> Symbol:
    """Rebuild a Symbol from its stored canonical form."""
    code, _, market = text.rpartition(".")
    return Symbol(code, market)


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One symbol to fetch and the endpoints still to fetch for it."""

    symbol: Symbol
    endpoints: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TaskResult:
    """The final word on one task from this invocation, written with its rows."""

    symbol: Symbol
    endpoint: str
    status: TaskStatus
    attempts: int
    rows: tuple[tuple[Any, ...], ...] = ()
    warnings: int = 0
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class FailedTask:
    """A task of a run that ended ``failed``, named in the sweep's closing report."""

    symbol: str
    endpoint: str
    error_code: str | None
    error_message: str | None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a sweep did, for the closing report and the exit code.

    The counters (``rows``, ``rows_new``..., ``warnings``, ``requests``) are this
    invocation's: what it added to the run's columns of the same meaning (``rows_written``,
    ``rows_new``...). ``rows`` is every row received and upserted, and the three kinds add
    up to it.
    """

    run_id: str
    status: RunStatus
    resumed: bool
    tasks: dict[str, dict[str, int]] = field(default_factory=dict)
    rows: int = 0
    warnings: int = 0
    requests: int = 0
    elapsed: float = 0.0
    malformed_lines: int = 0
    duplicates: int = 0
    stop_kind: StopKind | None = None  #: why the sweep stopped early, if it did
    stop_reason: str | None = None  #: the same, in words
    #: the run's first ``failed`` tasks by symbol (at most the report's limit); ``failed``
    #: counts them all
    failed_tasks: tuple[FailedTask, ...] = ()
    refused: int = 0  #: requests the upstream refused for the pace (429)
    cuts: int = 0  #: times the account's pace was cut
    pace: float | None = None  #: the account's pace at the end, requests a second
    rows_new: int = 0  #: of ``rows``, those whose symbol and day no stored row had
    rows_revised: int = 0  #: of ``rows``, those that changed a stored row's data
    rows_unchanged: int = 0  #: of ``rows``, those that rewrote a stored row as it was

    @property
    def interrupted(self) -> bool:
        """True when a signal (or a cancellation) stopped the sweep."""
        return self.stop_kind is StopKind.SIGNAL

    @property
    def requests_per_second(self) -> float:
        """Requests sent by this invocation per second of its wall time."""
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def failed(self) -> int:
        """Tasks of the run that ended ``failed``."""
        return tasks_in(self.tasks, TaskStatus.FAILED)


def utc_text(when: datetime) -> str:
    """A time as the file writes it: ISO 8601 in UTC, milliseconds and ``Z``."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_time(text: str) -> datetime:
    """A time the file holds, back as an aware datetime (UTC when the text names no zone)."""
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def duration_text(seconds: float) -> str:
    """A span as every command shows it: ``42s``, ``6m25s``, ``26h03m``.

    Rounded up to the second, so an ETA never reads ``0s`` while work remains; a negative
    span (a clock set back) reads ``0s``.
    """
    whole = max(0, math.ceil(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
