"""Counting what the gateway served, and the per-endpoint rate limit.

Both rest on a sliding one-second window (:mod:`.window`) over a monotonic
clock passed in by the caller, so tests can drive a fake clock instead of
sleeping.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .settings import ENDPOINTS
from .window import SlidingWindow

if TYPE_CHECKING:
    from .account import AccountStats
    from .throttle_stats import ThrottleStats


class RateLimitRule:
    """The gateway's side of the rate limit: at most ``limits[endpoint]`` requests in any second.

    Not a limiter the client uses: it decides which requests the simulated
    gateway answers with 429.
    """

    def __init__(self, limits: Mapping[str, int]) -> None:
        self._limits = {name: n for name, n in limits.items() if n > 0}
        self._windows = {name: SlidingWindow() for name in self._limits}

    def __repr__(self) -> str:
        return f"<RateLimitRule limits={self._limits}>"

    def allow(self, endpoint: str, now: float) -> bool:
        """Whether to accept a request now; rejected requests don't fill the window."""
        window = self._windows.get(endpoint)
        if window is None:
            return True
        if window.advance(now) >= self._limits[endpoint]:
            return False
        window.add(now)
        return True


class GatewayStats:
    """Requests received and answers served, per endpoint and per outcome.

    Outcomes are ``ok``, ``empty``, the error and fault names, ``http_401``
    and ``rate_limited``. ``max_per_second`` counts every request received,
    429s included, so a client's politeness can be measured. ``span`` is the
    time from the first request received to the last, so a benchmark can take
    the achieved rate as the gateway saw it. ``response_bytes`` counts the body
    bytes of every answer sent (headers left out), so a benchmark can weigh
    what a sweep downloaded as well as how many requests it sent.

    ``endpoints`` are those of the dialect served (:func:`.settings.endpoints`).
    The OpenAPI dialect passes its ``account`` figures (:mod:`.account`) too:
    they and ``served_401`` then join the counters and are reset with them.
    A gateway with a throttle setting on passes its ``throttle`` figures
    (:mod:`.throttle_stats`) in either dialect: they join as ``throttle``.
    """

    def __init__(
        self,
        endpoints: Sequence[str] = ENDPOINTS,
        account: AccountStats | None = None,
        throttle: ThrottleStats | None = None,
    ) -> None:
        self.endpoints = tuple(endpoints)
        self.account = account
        self.throttle = throttle
        self._windows: dict[str, SlidingWindow] = {}
        self.reset()

    def __repr__(self) -> str:
        return f"<GatewayStats total={self.total} served_429={self.served_429}>"

    def reset(self) -> None:
        """Zero every counter."""
        names = self.endpoints
        self.total = 0
        self.served_429 = 0
        self.served_401 = 0
        self.by_endpoint: Counter[str] = Counter({name: 0 for name in names})
        self.by_outcome: dict[str, Counter[str]] = {name: Counter() for name in names}
        self.max_per_second: dict[str, int] = {name: 0 for name in names}
        self.response_bytes = 0
        self.bytes_by_endpoint: Counter[str] = Counter({name: 0 for name in names})
        self._windows = {name: SlidingWindow() for name in names}
        if self.account is not None:
            self.account.reset()
        if self.throttle is not None:
            self.throttle.reset()
        self._first: float | None = None
        self._last = 0.0

    def received(self, endpoint: str, now: float) -> None:
        """Count a request on arrival, before anything decides its answer."""
        self.total += 1
        if self._first is None:
            self._first = now
        self._last = now
        self.by_endpoint[endpoint] += 1
        seen = self._windows[endpoint].add(now)
        self.max_per_second[endpoint] = max(self.max_per_second[endpoint], seen)

    def answered(self, endpoint: str, outcome: str, status: int) -> None:
        """Count the outcome of an answer."""
        self.by_outcome[endpoint][outcome] += 1
        if status == 429:
            self.served_429 += 1
        elif status == 401:
            self.served_401 += 1

    def sent(self, endpoint: str, size: int) -> None:
        """Count the body bytes of an answer as it goes on the wire."""
        self.response_bytes += size
        self.bytes_by_endpoint[endpoint] += size

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-able counters."""
        counters: dict[str, object] = {
            "total": self.total,
            "by_endpoint": dict(self.by_endpoint),
            "by_outcome": {name: dict(c) for name, c in self.by_outcome.items()},
            "max_per_second": dict(self.max_per_second),
            "served_429": self.served_429,
            "span": (self._last - self._first) if self._first is not None else 0.0,
            "response_bytes": self.response_bytes,
            "response_bytes_by_endpoint": dict(self.bytes_by_endpoint),
        }
        if self.throttle is not None:
            # Only with a throttle setting on: a gateway without keeps its counters' shape.
            counters["throttle"] = self.throttle.as_dict()
        if self.account is not None:
            # Only in the OpenAPI dialect: the gateway dialect's counters keep their shape.
            counters["served_401"] = self.served_401
            counters["account"] = self.account.as_dict()
        return counters
