"""An endpoint's rate limit: aiolimiter's bucket, and a guard window for requests that bunch up.

aiolimiter's ``AsyncLimiter`` does the limiting: a leaky bucket ``burst + 1``
requests deep that drains at ``rate`` a second. A full bucket lets
``burst + 1`` requests go at once and then one every ``1 / rate`` s, so any
one-second window of release times holds at most ``rate + burst`` (rounded up
to a whole request). The one request of headroom over ``burst`` keeps the
average at ``rate`` when the event loop wakes a waiter late; a bucket one
request deep loses every late wake-up (0.86 of the rate at 500 a second).

That bound holds for the times requests leave this process, not for the times
they reach the gateway: a request delayed on its way (a busy loop on either
side) arrives bunched with the next ones, and the gateway's second sees more
than ``rate + burst`` and answers 429. Measured with aiolimiter alone
(``python -m bench --case politeness``, rate 100, burst 1, gateway limit 101):
102 and 103 requests in one gateway second, 6 and 25 429s. So the only thing
added here is a guard window over the times requests really left: no request
goes while ``rate + burst`` others went in the last ``window`` seconds, a
little over one second (as long as the window alone still allows 99.5% of
``rate``, and at most ``MAX_MARGIN`` over).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

from aiolimiter import AsyncLimiter

MAX_MARGIN = 0.05  # seconds the guard window may reach past one second
RATE_KEPT = 0.995  # share of ``rate`` the guard window alone still allows
#: The same for an account's limit, a hard ceiling the upstream counts where requests
#: arrive: at 10 a second, 0.005 of slack is 5 ms, and one request delayed that much on
#: its way made 11 in a gateway second (a 429) in 1 of 2 bench runs; 0.97 leaves 31 ms.
ACCOUNT_KEPT = 0.97


class RateLimit:
    """``await limit.acquire()`` before each request: ``rate`` a second, ``rate + burst`` at most.

    Both rules read the running loop's clock: build it inside the loop that uses it.
    """

    def __init__(self, rate: float, burst: int, *, kept: float = RATE_KEPT) -> None:
        capacity = burst + 1
        self.bucket = AsyncLimiter(capacity, capacity / rate)  #: the limiter itself
        self.most = math.ceil(rate + burst)  #: requests let go in any ``window`` at most
        #: seconds the guard counts over: ``most`` in it is still ``kept`` of ``rate``
        self.window = 1.0 + min(max(self.most / (kept * rate) - 1.0, 0.0), MAX_MARGIN)
        self._sent: deque[float] = deque(maxlen=self.most)

    def __repr__(self) -> str:
        return f"<RateLimit {self.bucket!r} most={self.most} in {self.window:.3f}s>"

    async def acquire(self) -> None:
        """Wait until one more request may go out, and count it as gone."""
        await self.bucket.acquire()
        loop = asyncio.get_running_loop()
        sent = self._sent
        # No await between the check and the append: callers woken together go one at a time.
        while len(sent) == self.most and (wait := sent[0] + self.window - loop.time()) > 0:
            await asyncio.sleep(wait)
        sent.append(loop.time())
