"""The account's daily request quota, counted as requests go out, by the UTC day they go out.

The count lives in the file (``requests_by_day``), so every invocation of the
day (a run, its ``--resume``, another run) shares it. It is kept ahead of the
requests: before the first request of a block of ``BLOCK`` the whole block is
written down, and what was not used is given back when the invocation ends. A
``kill -9`` therefore never loses a request that went out (the file may count
up to a block too many until the next day), and the request that would exceed
``[gateway] daily_quota`` is never sent. A sweep that crosses UTC midnight
counts from then on against the new day, which starts from what the file holds
for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Protocol

from harvester.model import utc_text

#: Requests recorded for one UTC day (``requests_by_day``), as ``plan`` reads it.
USED_ON_SQL = "SELECT COALESCE(SUM(requests), 0) FROM requests_by_day WHERE day = ?"
#: The same before ``requests_by_day`` existed (schema 7 and older): runs started that day.
USED_TODAY_SQL = "SELECT COALESCE(SUM(requests), 0) FROM runs WHERE started_at >= ?"
#: Requests written down at once, before the first of them goes out, with a quota.
BLOCK = 5
#: The same without a quota: the count is only for the record, so fewer writes.
BLOCK_UNLIMITED = 200

#: How the stop reason of a run the quota stopped begins: such a run resumes on a later day
#: whatever ``resume_max_age`` says (harvester.sweep.ledger).
QUOTA_STOPPED = "quota: "

Clock = Callable[[], datetime]  # the time now, aware


class Ledger(Protocol):
    """Where the day's count is kept: the store."""

    async def add_requests(self, day: str, count: int) -> None: ...
    async def requests_on(self, day: str) -> int: ...


def utc_day(now: datetime | None = None) -> date:
    """The UTC day of ``now`` (default: now)."""
    return (now or datetime.now(UTC)).astimezone(UTC).date()


def utc_midnight(now: datetime | None = None) -> str:
    """This UTC day's start in the form ``runs.started_at`` is written in."""
    return utc_text(datetime.combine(utc_day(now), time(), tzinfo=UTC))


def now_utc() -> datetime:
    """The time now, aware, in UTC: the quota's clock unless one is injected."""
    return datetime.now(UTC)


class DailyQuota:
    """Counts requests against ``[gateway] daily_quota`` (``limit``; 0 means none) in the file."""

    def __init__(self, limit: int, ledger: Ledger, clock: Clock = now_utc) -> None:
        self.limit = limit  #: requests allowed per UTC day (0: no quota)
        self.reached = False  #: True once a request was refused
        self.day: date | None = None  #: the UTC day being counted
        self.used = 0  #: requests counted for ``day``, those of other invocations included
        self._ledger = ledger
        self._clock = clock
        self._written = 0  # what the file holds for ``day``: ``used`` and what is reserved
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return (
            f"<DailyQuota {self.day} {self.used}/{self.limit or 'none'} "
            f"written={self._written} reached={self.reached}>"
        )

    async def take(self) -> bool:
        """Count one request, or refuse it (False) if it would go over the quota."""
        async with self._lock:
            await self._today()
            if self.limit and self.used >= self.limit:
                self.reached = True
                return False
            await self._count()
            return True

    async def note(self) -> None:
        """Count a request that goes out whatever the quota (an outage probe)."""
        async with self._lock:
            await self._today()
            await self._count()

    async def settle(self) -> None:
        """Give back what was written down and not used: at the end of an invocation."""
        async with self._lock:
            await self._give_back()

    async def _give_back(self) -> None:
        """Write down only what ``day`` used, giving back the rest of the reservation."""
        unused, self._written = self._written - self.used, self.used
        if unused and self.day is not None:
            await self._ledger.add_requests(self.day.isoformat(), -unused)

    async def _today(self) -> None:
        """Start counting today's UTC day, if it is not the one counted."""
        today = utc_day(self._clock())
        if today == self.day:
            return
        await self._give_back()  # the day before: what it used, no more
        self.day = today
        self.used = self._written = await self._ledger.requests_on(today.isoformat())
        self.reached = False

    async def _count(self) -> None:
        assert self.day is not None
        if self.used >= self._written:
            block = BLOCK if self.limit else BLOCK_UNLIMITED
            if self.limit:
                block = min(block, self.limit - self.used) or 1  # an outage probe over it
            await self._ledger.add_requests(self.day.isoformat(), block)
            self._written += block
        self.used += 1

    def reason(self) -> str:
        """Why the sweep stopped, naming the setting."""
        return (
            f"the daily quota of {self.limit} requests ([gateway] daily_quota) is used up "
            f"({self.used} counted for {self.day} UTC); run it again with --resume on a later "
            "UTC day: a run the quota stopped resumes whatever resume_max_age says"
        )
