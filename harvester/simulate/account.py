"""The account limit of the OpenAPI dialect, and its figures in the stats.

The vendor allows an account no more than ``account_rate`` calls in any second
and ``account_concurrency`` at once, over every quote endpoint together
(API.md section 5). :class:`AccountLimit` enforces that on the gateway's side:
every request arriving is counted in a sliding one-second window (a refused
one too, so a client that keeps knocking stays refused until it slows down)
and in flight from the moment it arrives until just before its answer goes
out, latency included. A request that makes either count exceed its limit is
refused. So a polite client is never refused, and :class:`AccountStats` can
show that a client was polite: ``max_per_second`` and ``max_in_flight`` at
or under the limits.

Both run on the monotonic clock the caller passes in, as the rest of the stats
do, so tests drive them with a fake clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from .window import WINDOW, SlidingWindow


@dataclass(frozen=True, slots=True)
class Arrival:
    """What the account looked like as a request arrived, the request itself counted."""

    per_second: int  # arrivals in the sliding second ending now
    in_flight: int  # requests between arrival and answer


class AccountLimit:
    """The gateway's side of the account limit: which requests it answers with 429.

    ``rate`` and ``concurrency`` of 0 mean no such limit; the counting goes on.
    """

    def __init__(self, rate: int, concurrency: int) -> None:
        self.rate = rate
        self.concurrency = concurrency
        self.in_flight = 0
        self._window = SlidingWindow()

    def __repr__(self) -> str:
        return (
            f"<AccountLimit rate={self.rate} concurrency={self.concurrency} "
            f"in_flight={self.in_flight} last_second={len(self._window)}>"
        )

    def arrive(self, now: float) -> Arrival:
        """Count a request arriving at ``now``; pair every call with :meth:`depart`."""
        self.in_flight += 1
        return Arrival(self._window.add(now), self.in_flight)

    def depart(self) -> None:
        """A request's answer is about to go out: it is no longer in flight."""
        self.in_flight -= 1

    def refusal(self, arrival: Arrival) -> str | None:
        """Which limit the arrival exceeds (``rate`` or ``concurrency``), or None."""
        if self.rate and arrival.per_second > self.rate:
            return "rate"
        if self.concurrency and arrival.in_flight > self.concurrency:
            return "concurrency"
        return None


class AccountStats:
    """The account's figures since the last reset, for ``GET /_stats``.

    ``max_per_second`` is the most requests that arrived in any sliding second,
    ``max_in_flight`` the most in flight at once (refused requests included in
    both), ``refused_rate`` and ``refused_concurrency`` the 429s the account
    limit gave, ``arrivals_per_second`` the arrivals in each whole second since
    the first one (index 0 is the second that began with it).
    """

    def __init__(self) -> None:
        self._window = SlidingWindow()
        self.reset()

    def __repr__(self) -> str:
        refused = self.refused_rate + self.refused_concurrency
        return (
            f"<AccountStats max_per_second={self.max_per_second} "
            f"max_in_flight={self.max_in_flight} refused={refused}>"
        )

    def reset(self) -> None:
        """Zero every figure (requests still in flight keep counting in the limit)."""
        self.max_per_second = 0
        self.max_in_flight = 0
        self.refused_rate = 0
        self.refused_concurrency = 0
        self.arrivals_per_second: list[int] = []
        self._window = SlidingWindow()
        self._first: float | None = None

    def arrived(self, now: float, arrival: Arrival) -> None:
        """Count an arrival and the requests in flight with it."""
        self.max_per_second = max(self.max_per_second, self._window.add(now))
        self.max_in_flight = max(self.max_in_flight, arrival.in_flight)
        if self._first is None:
            self._first = now
        second = int((now - self._first) // WINDOW)
        if second >= len(self.arrivals_per_second):
            self.arrivals_per_second.extend([0] * (second + 1 - len(self.arrivals_per_second)))
        self.arrivals_per_second[second] += 1

    def refused(self, limit: str) -> None:
        """Count a 429 of the account limit; ``limit`` as :meth:`AccountLimit.refusal` names it."""
        if limit == "rate":
            self.refused_rate += 1
        else:
            self.refused_concurrency += 1

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-able figures."""
        return {
            "max_per_second": self.max_per_second,
            "max_in_flight": self.max_in_flight,
            "refused_rate": self.refused_rate,
            "refused_concurrency": self.refused_concurrency,
            "arrivals_per_second": list(self.arrivals_per_second),
        }
