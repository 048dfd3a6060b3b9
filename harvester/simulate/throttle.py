"""The throttle faults: a limit shared by every endpoint, moving on a schedule, and a daily quota.

A real upstream often limits an account over all its endpoints together, lowers
that limit while a run goes on, and allows only so many requests a day. These
are the faults an adaptive client is tested against (issue 22). In both
dialects, after authentication and the older limits (the per-endpoint
``rate_limit``, the OpenAPI account limit), :meth:`Throttle.admit` decides:

1. **quota**: past ``quota`` accepted requests in the wall clock's UTC day,
   every request is refused until the next UTC midnight (or until the served
   day is stepped, so a benchmark can sweep "the next day" without waiting);
2. **shared** / **schedule**: at most ``limit`` requests in any sliding second
   over every endpoint together, where ``limit`` is ``shared_rate`` until the
   first step of ``rate_schedule`` is due and then the rate of the latest step
   due, the steps' times counted on the monotonic clock from the first request
   the throttle saw. A limit of 0 means none.

A request that passes both is *accepted*: it fills the window and uses one
unit of the day's quota. A refused one fills the window only with
``count_refused`` (the harsh server: a client that keeps knocking stays
refused). How a refusal looks on the wire is :mod:`.throttle_wire`'s business.

Everything runs on the clocks the caller passes in, so tests drive a fake clock.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence

from .settings import GatewaySettings
from .window import WINDOW, SlidingWindow

DAY = 86_400
"""Seconds in a UTC day: the quota's window."""

REASONS: tuple[str, ...] = ("shared", "schedule", "quota")
"""Why the throttle refuses a request: the shared limit, a schedule step's limit, the quota."""


class Schedule:
    """The shared limit over time: ``base`` until the first step is due, then each step's rate."""

    def __init__(self, base: int, steps: Sequence[tuple[float, int]]) -> None:
        self.base = base
        self.steps = tuple(steps)

    def __repr__(self) -> str:
        return f"<Schedule base={self.base} steps={list(self.steps)}>"

    def at(self, elapsed: float) -> tuple[int, str]:
        """(limit, source) in force ``elapsed`` seconds after the first request; 0 = no limit.

        ``source`` is ``shared`` for ``base`` and ``schedule`` for a step's rate, so a
        refusal can be counted by what caused it.
        """
        limit, source = self.base, "shared"
        for start, rate in self.steps:
            if elapsed < start:
                break
            limit, source = rate, "schedule"
        return limit, source


class Quota:
    """``size`` accepted requests per UTC day of the wall clock (0 = no quota)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.used = 0
        self._day: int | None = None

    def __repr__(self) -> str:
        return f"<Quota size={self.size} used={self.used} day={self.day}>"

    @property
    def day(self) -> dt.date | None:
        """The UTC day ``used`` counts, or None before the first request."""
        if self._day is None:
            return None
        return dt.date(1970, 1, 1) + dt.timedelta(days=self._day)

    def roll(self, wall: float) -> None:
        """Start a fresh day's count when the wall clock has passed a UTC midnight."""
        day = int(wall // DAY)
        if day != self._day:
            self._day, self.used = day, 0

    def spent(self, wall: float) -> bool:
        """Whether the day of ``wall`` has no quota left."""
        self.roll(wall)
        return self.size > 0 and self.used >= self.size

    def renew(self) -> None:
        """Give the day its whole quota again: the served day moved (``POST /_sim/today``)."""
        self.used = 0

    def use(self, wall: float) -> None:
        """Count one accepted request against the day of ``wall``."""
        self.roll(wall)
        self.used += 1

    def remaining(self, wall: float) -> int:
        """Requests the day of ``wall`` still allows."""
        self.roll(wall)
        return max(0, self.size - self.used)


def until_midnight(wall: float) -> int:
    """Whole seconds from ``wall`` to the next UTC midnight, rounded up (1 to 86,400)."""
    # DAY - floor(wall mod DAY) is ceil(DAY - wall mod DAY): never 0, so a client waits.
    return DAY - int(wall % DAY)


class Throttle:
    """The gateway's side of the shared limit, its schedule and the quota; see the module doc."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.schedule = Schedule(settings.shared_rate, settings.rate_schedule)
        self.quota = Quota(settings.quota)
        self.count_refused = settings.count_refused
        self._window = SlidingWindow()
        self._origin: float | None = None

    def __repr__(self) -> str:
        return (
            f"<Throttle {self.schedule!r} {self.quota!r} count_refused={self.count_refused} "
            f"last_second={len(self._window)}>"
        )

    def limit(self, now: float) -> tuple[int, str]:
        """(limit, source) in force at ``now``: see :meth:`Schedule.at`."""
        elapsed = 0.0 if self._origin is None else now - self._origin
        return self.schedule.at(elapsed)

    def admit(self, now: float, wall: Callable[[], float]) -> str | None:
        """Decide a request arriving at ``now``: None if accepted, else a :data:`REASONS` item.

        ``wall`` is called only when there is a quota, so a gateway without one
        never reads the wall clock here.
        """
        if self._origin is None:
            self._origin = now
        stamp = wall() if self.quota.size else 0.0
        if self.quota.size and self.quota.spent(stamp):
            return "quota"
        limit, source = self.limit(now)
        if limit and self._window.advance(now) >= limit:
            if self.count_refused:
                self._window.add(now)
            return source
        self._window.add(now)
        if self.quota.size:
            self.quota.use(stamp)
        return None

    def gauges(self, now: float) -> dict[str, object]:
        """The limit in force at ``now`` and the quota's use, for :mod:`.throttle_stats`."""
        limit, source = self.limit(now)
        day = self.quota.day
        return {
            "limit": limit,
            "limit_source": source,
            "quota": self.quota.size,
            "quota_used": self.quota.used,
            "quota_day": day.isoformat() if day is not None else None,
        }

    def remaining(self, now: float) -> int:
        """Requests the shared limit in force still allows in the second ending at ``now``."""
        limit, _ = self.limit(now)
        return max(0, limit - self._window.advance(now))

    def resets_in(self, now: float) -> int:
        """Whole seconds (rounded up) until a slot frees: ``t`` and ``X-RateLimit-Reset``.

        Over the limit (``count_refused`` can put more than the limit in the window),
        until fewer than the limit remain; under it, until the oldest request leaves, when
        ``remaining`` next grows; with an empty window, the window's width, within which
        the client may send the whole limit.
        """
        held = self._window.advance(now)
        if not held:
            return math.ceil(WINDOW)
        limit, _ = self.limit(now)
        keep = min(limit, held) if limit else held
        return math.ceil(self._window.until_below(now, keep))
