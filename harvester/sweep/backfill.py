"""Backfill: each symbol's history paged back through the OpenAPI's ``last_timestamp``.

A backfill is a sweep whose tasks page instead of asking once. A task starts
from the oldest day already stored for its symbol and data set (or from now,
if none is), asks for the largest page the API documents with that day's
midnight (exchange time) as the cut-off, keeps only the days older than the
oldest it knows and not older than ``since``, and commits them as a page of its
own. It goes on from the oldest day received until a page reaches ``since``,
comes back short (history exhausted) or brings no older day. Whether the upstream
returns the record exactly at the cut-off is not documented: either way it is
dropped as already stored, and no older day can be skipped, since every record
of an older day is stamped before that midnight.

A backfill cut off (``kill -9``, a stop, the quota) resumes with ``--resume``:
its committed pages are stored, so each unfinished task starts where its stored
history ends. The gateway dialect has no cut-off: its history stops at ``count``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from harvester.catalog import ENDPOINTS
from harvester.model import MARKET_TZ, Symbol, TaskResult, TaskStatus
from harvester.store.store import Store
from harvester.sweep.counts import SweepCounts

OLDEST_SQL = "SELECT symbol, MIN(trade_date) FROM {table} GROUP BY symbol"
#: where ``trade_date`` sits in a data row: after ``symbol`` and ``market``
_DATE = 2


def page_size(endpoint: str) -> int:
    """Records per page: the most the API documents for ``endpoint``."""
    return next(entry.count_range[1] for entry in ENDPOINTS if entry.name == endpoint)


def cutoff(day: date, market: str) -> int:
    """Unix seconds of midnight starting ``day`` in ``market``'s exchange zone."""
    midnight = datetime.combine(day, time(), tzinfo=ZoneInfo(MARKET_TZ[market]))
    return int(midnight.astimezone(UTC).timestamp())


@dataclass(frozen=True, slots=True)
class Page:
    """What one page brought: its new rows, and whether the task pages on."""

    result: TaskResult  #: the answer, its rows cut to the new days
    oldest: date | None  #: the oldest day the answer held (None: it held none)
    more: bool  #: True if an older page may hold days still wanted


def take_page(answer: TaskResult, *, asked: int, known_oldest: date | None, since: date) -> Page:
    """Keep the days of ``answer`` older than ``known_oldest`` and from ``since`` on."""
    days = [date.fromisoformat(row[_DATE]) for row in answer.rows]
    oldest = min(days, default=None)
    kept = tuple(
        row
        for row, day in zip(answer.rows, days, strict=True)
        if day >= since and (known_oldest is None or day < known_oldest)
    )
    older = oldest is not None and (known_oldest is None or oldest < known_oldest)
    more = (
        answer.status is TaskStatus.OK
        and older
        and len(answer.rows) >= asked - 1  # a short page is the end of history
        and oldest is not None
        and oldest > since
    )
    return Page(replace(answer, rows=kept), oldest, more)


@dataclass(frozen=True, slots=True)
class Backfill:
    """A backfill's bound and what was stored when this invocation started."""

    since: date
    oldest: Mapping[tuple[str, str], date]  #: (symbol, endpoint) -> oldest stored day

    def start(self, symbol: Symbol, endpoint: str) -> date | None:
        """The oldest day stored for the task (None: nothing), where its paging starts."""
        return self.oldest.get((symbol.canonical, endpoint))

    def done_before(self, symbol: Symbol, endpoint: str) -> bool:
        """True if the stored history already reaches ``since``: nothing to ask."""
        start = self.start(symbol, endpoint)
        return start is not None and start <= self.since


async def oldest_stored(store: Store, endpoints: Sequence[str]) -> dict[tuple[str, str], date]:
    """The oldest stored day of every symbol in each data set's table."""
    oldest: dict[tuple[str, str], date] = {}
    for endpoint in endpoints:
        for symbol, day in await store.read(OLDEST_SQL.format(table=endpoint)):
            oldest[symbol, endpoint] = date.fromisoformat(day)
    return oldest


Fetch = Callable[[int, int | None], Awaitable[TaskResult | None]]  #: (count, cut-off) -> answer


async def page_back(
    backfill: Backfill,
    symbol: Symbol,
    endpoint: str,
    fetch: Fetch,
    submit: Callable[[TaskResult], Awaitable[None]],
    counts: SweepCounts,
) -> None:
    """Page one task's history back to ``backfill.since``, handing each page to ``submit``.

    ``fetch`` returns None when a stop cut it off: the pages so far are committed.
    """
    known = backfill.start(symbol, endpoint)
    if backfill.done_before(symbol, endpoint):
        done = TaskResult(symbol, endpoint, TaskStatus.OK, 0)  # stored back to since already
        await submit(done)
        counts.record(done)
        return
    size = page_size(endpoint)
    while True:
        answer = await fetch(size, cutoff(known, symbol.market) if known is not None else None)
        if answer is None:
            return
        page = take_page(answer, asked=size, known_oldest=known, since=backfill.since)
        if not page.more:
            if answer.status is TaskStatus.NO_DATA and known is not None:
                # Nothing older than the stored history: the task is done, not empty.
                page = replace(page, result=replace(page.result, status=TaskStatus.OK))
            await submit(page.result)
            counts.record(page.result)
            return
        # A page of its own, committed with the task still pending: a resume starts after it.
        await submit(replace(page.result, status=TaskStatus.PENDING))
        counts.rows += len(page.result.rows)
        counts.warnings += page.result.warnings
        known = page.oldest
