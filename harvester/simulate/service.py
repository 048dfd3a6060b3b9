"""What the gateway answers to one request, decided without any HTTP server.

The order of checks is the order a real gateway would apply: authentication,
then the rate limit (a 429 reaches neither the fault plan nor the data), then
scripted or random faults, then parameters, symbol lists and data.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable

from . import data, responses
from .faults import FaultPlan, unit_interval
from .responses import Answer
from .settings import GatewaySettings
from .stats import GatewayStats, RateLimitRule
from .symbols import Symbol, SymbolStyleError, parse_interest_symbol, parse_trades_symbol

COUNTS: dict[str, tuple[int, int]] = {"short_trades": (20, 100), "short_interest": (30, 90)}
"""Endpoint -> (default count, largest count); the smallest is always 1."""

_COUNT = re.compile(r"[0-9]{1,6}")
_PARSERS: dict[str, Callable[[str], Symbol]] = {
    "short_trades": parse_trades_symbol,
    "short_interest": parse_interest_symbol,
}


class Service:
    """Decides answers for both endpoints and keeps the books in ``stats``."""

    def __init__(
        self, settings: GatewaySettings, stats: GatewayStats, clock: Callable[[], float]
    ) -> None:
        self.settings = settings
        self.stats = stats
        self._clock = clock
        self._rate_limit = RateLimitRule(settings.rate_limit)
        self._plan = FaultPlan(
            seed=settings.seed, rates=settings.fault_rates(), scripted=settings.scripted
        )
        self._token = settings.token.encode() if settings.token else None
        self._lists = (
            ("invalid_symbol", frozenset(settings.invalid_symbol)),
            ("unsupported", frozenset(settings.unsupported)),
            ("no_data", frozenset(settings.no_data)),
        )
        self._empty = frozenset(settings.empty)
        self._warm_up()

    def _warm_up(self) -> None:
        """Build the tables the data is drawn from now, not while the first requests wait.

        Otherwise the first request holds the loop for tens of milliseconds and the
        requests behind it arrive bunched, which a politeness measurement would count.
        """
        anchor = self.settings.anchor_date
        for symbol in (Symbol("AAPL", "US"), Symbol("700", "HK")):
            data.short_trades(symbol, anchor, 1)
            data.short_interest(symbol, anchor, 1)

    def __repr__(self) -> str:
        return f"<Service {self.stats!r}>"

    def handle(
        self, endpoint: str, raw_symbol: str, count: str | None, authorization: str | None
    ) -> tuple[Answer, float]:
        """Answer one request; also return the latency to wait before sending it."""
        now = self._clock()
        self.stats.received(endpoint, now)
        answer, draw = self._decide(endpoint, raw_symbol, count, authorization, now)
        self.stats.answered(endpoint, answer.outcome, answer.status)
        delay = self.settings.latency + self.settings.latency_jitter * draw
        return answer, delay

    def _decide(
        self, endpoint: str, raw: str, count: str | None, authorization: str | None, now: float
    ) -> tuple[Answer, float]:
        """The answer and a draw in [0, 1) for the latency jitter."""
        if not self._authorized(authorization):
            return responses.unauthorized(), 0.5
        if not self._rate_limit.allow(endpoint, now):
            return responses.rate_limited(), 0.5
        try:
            symbol: Symbol | None = _PARSERS[endpoint](raw)
        except SymbolStyleError:
            symbol = None
        key = symbol.canonical if symbol else raw
        fault, n = self._plan.next_fault(key, endpoint)
        # The jitter draw is a hash: spare it when there is no jitter to draw.
        draw = 0.0
        if self.settings.latency_jitter > 0:
            draw = unit_interval(self.settings.seed, key, endpoint, n, "latency")
        normal = self._normal(endpoint, symbol, raw, count)
        if fault is None:
            return normal, draw
        return responses.fault(endpoint, fault, normal), draw

    def _authorized(self, authorization: str | None) -> bool:
        if self._token is None:
            return True
        scheme, _, given = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), self._token)

    def _normal(self, endpoint: str, symbol: Symbol | None, raw: str, count: str | None) -> Answer:
        """The fault-free answer: parameter checks, symbol lists, then data."""
        default, most = COUNTS[endpoint]
        n = _parse_count(count, default, most)
        if n is None:
            reason = f"count must be an integer from 1 to {most}, got {_shown(count or '')}"
            if endpoint == "short_trades":
                return responses.bad_request(reason)
            return responses.error(endpoint, "invalid_parameter", reason)
        if symbol is None:
            return responses.error(
                endpoint, "invalid_parameter", f"invalid symbol format: {_shown(raw)}"
            )
        listed = self._listed(symbol)
        if listed is not None:
            _, _, message = responses.ERRORS[listed]
            return responses.error(endpoint, listed, f"{message}: {_shown(raw)}")
        if symbol.canonical in self._empty:
            return responses.success(endpoint, [])
        anchor = self.settings.anchor_date
        if endpoint == "short_trades":
            return responses.success(endpoint, data.short_trades(symbol, anchor, n))
        return responses.success(endpoint, data.short_interest(symbol, anchor, n))

    def _listed(self, symbol: Symbol) -> str | None:
        """The error a special list (or an unsupported market) gives the symbol."""
        if not symbol.supported:
            return "unsupported"
        for name, symbols in self._lists:
            if symbol.canonical in symbols:
                return name
        return None


def _parse_count(text: str | None, default: int, most: int) -> int | None:
    """The count asked for, or None if it is not an integer from 1 to ``most``."""
    if text is None:
        return default
    if _COUNT.fullmatch(text) is None:
        return None
    value = int(text)
    return value if 1 <= value <= most else None


def _shown(text: str) -> str:
    """Client text made safe to echo: short, and free of lone surrogates."""
    return text[:64].encode("utf-8", "backslashreplace").decode("utf-8")
