"""The request rate limiter: ``rate`` a second on average, never over ``rate + burst`` in a second.

Two rules, both on the event loop's clock:

* **A schedule** (the "virtual scheduling" form of GCRA). Each ``acquire``
  books the next slot, ``1 / rate`` after the one booked before it, and waits
  for it. Slots are booked in advance, not measured from when the previous
  caller actually woke up, so a late wake-up (the loop was busy) does not push
  every later slot back: the average holds at ``rate`` even at hundreds a
  second, where a one-token bucket that restarts its wait on every wake-up
  falls behind. After an idle spell up to ``burst`` slots may be taken early.
* **A window** over the times requests were really let go. No request goes
  out while ``rate + burst`` others went out in the last ``window`` seconds.
  The window is a little over one second: as long as the window alone would
  still allow 99.5% of ``rate`` (but at most ``MAX_MARGIN`` over), so that
  requests delayed on their way (a busy loop on either side) and bunching up
  on arrival cannot crowd one of the gateway's seconds.

Use ``await limiter.acquire()`` before each request, or ``async with limiter``.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType

MAX_MARGIN = 0.1  # seconds the window may reach past one second
RATE_KEPT = 0.995  # share of ``rate`` the window alone still allows


class RateLimiter:
    """Lets callers through at ``rate`` per second, at most ``rate + burst`` in any second.

    ``clock`` and ``sleep`` default to the running loop's ``time`` and
    ``asyncio.sleep``; tests pass a fake pair so that nothing really waits.
    """

    def __init__(
        self,
        rate: float,
        burst: int = 0,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[object]] | None = None,
    ) -> None:
        if not rate > 0 or not math.isfinite(rate):
            raise ValueError(f"rate must be a positive number, not {rate!r}")
        if burst < 0:
            raise ValueError(f"burst must not be negative, not {burst!r}")
        self.rate = rate  #: requests per second on average
        self.burst = burst  #: requests allowed above the rate in one second
        #: most requests let go in any ``window`` seconds
        self.limit = max(math.floor(rate + burst), 1)
        #: seconds the limit is counted over: ``limit`` in it is still 99.5% of ``rate``
        self.window = 1.0 + min(max(self.limit / (RATE_KEPT * rate) - 1.0, 0.0), MAX_MARGIN)
        self._interval = 1.0 / rate
        self._tolerance = burst * self._interval
        self._clock = clock
        self._sleep = sleep or asyncio.sleep
        self._next = -math.inf  # the next free slot of the schedule
        self._sent: deque[float] = deque(maxlen=self.limit)
        self._waiting = 0

    def __repr__(self) -> str:
        return (f"<RateLimiter rate={self.rate:g} burst={self.burst} "
                f"waiting={self._waiting} recent={len(self._sent)}>")

    def _now(self) -> float:
        if self._clock is None:
            self._clock = asyncio.get_running_loop().time
        return self._clock()

    async def acquire(self) -> None:
        """Wait until one more request may go out, and count it as gone."""
        self._waiting += 1
        try:
            now = self._now()
            slot = max(self._next, now)
            self._next = slot + self._interval
            start = slot - self._tolerance
            if start > now:
                await self._sleep(start - now)
            sent = self._sent
            while len(sent) == self.limit:
                wait = sent[0] + self.window - self._now()
                if wait <= 0:
                    break
                await self._sleep(wait)
            sent.append(self._now())
        finally:
            self._waiting -= 1

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None
