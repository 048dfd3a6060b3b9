"""What the gateway answers to one request, decided without any HTTP server.

The order of checks is the order a real gateway would apply: authentication,
then the per-endpoint rate limit and the throttle's quota and shared limit
(:mod:`.throttle`; a refusal reaches neither the fault plan nor the data), then
scripted or random faults, then parameters, symbol lists and data. With
``ratelimit_headers`` on, every answer advertises the throttle's state
(:mod:`.throttle_wire`).

The data is that published by the served day, ``settings.today``: with
``schedules`` on, each pair's records up to its latest publication's cutoff
(:mod:`.calendars`), with the restatements published by then (:mod:`.restate`);
the publishing settings (:mod:`.publishing`) close markets on holidays, hold late
symbols a day back, end suspended symbols' records, answer delisted symbols
``no_data`` and restate chosen records. :meth:`Service.set_today` moves the
served day between two requests.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hmac
import re
import time
from collections.abc import Callable, Mapping, Sequence

from . import calendars, data, responses, restate, throttle_wire
from .calendars import shift_business_days
from .data import Record, Restated
from .dates import Day
from .faults import FaultPlan, unit_interval
from .responses import Answer
from .settings import GatewaySettings, served_day
from .stats import GatewayStats, RateLimitRule
from .symbols import Symbol, SymbolStyleError, parse_interest_symbol, parse_trades_symbol
from .throttle import Throttle

COUNTS: dict[str, tuple[int, int]] = {"short_trades": (20, 100), "short_interest": (30, 90)}
"""Endpoint -> (default count, largest count); the smallest is always 1."""

_COUNT = re.compile(r"[0-9]{1,6}")
_PARSERS: dict[str, Callable[[str], Symbol]] = {
    "short_trades": parse_trades_symbol,
    "short_interest": parse_interest_symbol,
}
_RECORDS: dict[str, Callable[[Symbol, dt.date, int, Restated | None], list[Record]]] = {
    "short_trades": data.short_trades,
    "short_interest": data.short_interest,
}
_RECORDS_ON: dict[str, Callable[[Symbol, Sequence[Day], Restated | None], list[Record]]] = {
    "short_trades": data.trades_on,
    "short_interest": data.interest_on,
}
STEP_LIMIT = 10_000
"""Business days one ``advance`` may step, either way."""


class Service:
    """Decides answers for both endpoints and keeps the books in ``stats``.

    ``clock`` (monotonic) drives the limits and the stats, ``wall`` (unix
    seconds) the daily quota's UTC day; tests pin both.
    """

    def __init__(
        self,
        settings: GatewaySettings,
        stats: GatewayStats,
        clock: Callable[[], float],
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.stats = stats
        self._clock = clock
        self._wall = wall
        self._rate_limit = RateLimitRule(settings.rate_limit)
        self.throttle = Throttle(settings)
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
        for symbol in (Symbol("AAPL", "US"), Symbol("700", "HK")):
            for endpoint in _RECORDS:
                self._records(endpoint, symbol, 1)

    @property
    def today(self) -> dt.date:
        """The day served: the data as published by then."""
        return self.settings.today

    def set_today(self, day: dt.date | str) -> dt.date:
        """Serve the data as published by ``day`` from the next request on; returns the day.

        Only the served day changes: fault scripts, request numbers, the rate limit
        and the stats carry on, and a daily quota is whole again on another day.
        Raises ValueError for a value that is not a date.
        """
        previous = self.settings.today
        self.settings = dataclasses.replace(self.settings, today=served_day(day))
        if self.settings.today != previous:
            self.throttle.quota.renew()
        self._warm_up()
        return self.settings.today

    def served(self) -> dict[str, object]:
        """The served day and, per pair, what it serves and when it publishes next (JSON-able)."""
        return {
            "today": self.today.isoformat(),
            "schedules": self.settings.schedules,
            "restate_rate": self.settings.restate_rate if self.settings.schedules else 0.0,
            "pairs": calendars.served(
                self.today, self.settings.schedules, closed=self.settings.publishing.closed
            ),
        }

    def __repr__(self) -> str:
        return f"<Service {self.stats!r}>"

    def handle(
        self, endpoint: str, raw_symbol: str, count: str | None, authorization: str | None
    ) -> tuple[Answer, float]:
        """Answer one request; also return the latency to wait before sending it."""
        now = self._clock()
        self.stats.received(endpoint, now)
        answer, draw = self._decide(endpoint, raw_symbol, count, authorization, now)
        answer = self._advertised(answer, now)
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
        refused = self._admit(now)
        if refused is not None:
            return throttle_wire.gateway_refusal(self.settings, endpoint, refused, self._wall), 0.5
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

    def _admit(self, now: float) -> str | None:
        """The throttle's decision at ``now`` (None: accepted), counted in the stats."""
        reason = self.throttle.admit(now, self._wall)
        if self.stats.throttle is not None:
            self.stats.throttle.decided(now, reason, self.throttle.gauges(now))
        return reason

    def _advertised(self, answer: Answer, now: float) -> Answer:
        """``answer`` with the rate-limit header fields ``ratelimit_headers`` asks for."""
        style = self.settings.ratelimit_headers
        if style == "none":
            return answer
        fields = throttle_wire.advertised(style, self.throttle, now, self._wall)
        return throttle_wire.with_fields(answer, fields)

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
        return responses.success(endpoint, self._records(endpoint, symbol, n))

    def _records(self, endpoint: str, symbol: Symbol, count: int) -> list[Record]:
        """The ``count`` newest records served today, restatements included."""
        today = self.settings.today
        if self.settings.publishing.touches(symbol):
            return self._published(endpoint, symbol, count)
        if not self.settings.schedules:
            return _RECORDS[endpoint](symbol, today, count, None)
        cal = calendars.calendar(symbol.market, endpoint)
        cut = calendars.cutoff(cal, today)
        seed, rate = self.settings.seed, self.settings.restate_rate
        restated = restate.adjustments(seed, rate, symbol, cal, cut, count)
        return _RECORDS[endpoint](symbol, cut, count, restated)

    def _published(self, endpoint: str, symbol: Symbol, count: int) -> list[Record]:
        """:meth:`_records` of a symbol the publishing settings touch (:mod:`.publishing`)."""
        settings, publishing = self.settings, self.settings.publishing
        view = publishing.view(symbol, endpoint, settings.today, settings.schedules)
        days = data.window(endpoint, symbol.market, view.top, view.cal.closed)[:count]
        restated: Restated | None = None
        if settings.schedules:
            seed, rate = settings.seed, settings.restate_rate
            restated = restate.restated_days(seed, rate, symbol, view.cal, view.cut, days)
        factors = publishing.factors(symbol.canonical, endpoint, days, settings.today)
        return _RECORDS_ON[endpoint](symbol, days, restate.merged(restated, factors))

    def _listed(self, symbol: Symbol) -> str | None:
        """The error a special list (or an unsupported market) gives the symbol."""
        if not symbol.supported:
            return "unsupported"
        for name, symbols in self._lists:
            if symbol.canonical in symbols:
                return name
        if self.settings.publishing.is_delisted(symbol.canonical, self.today):
            return "no_data"
        return None


def requested_day(doc: object, today: dt.date) -> dt.date:
    """The day a ``POST /_sim/today`` body asks for: ``{"today": "YYYY-MM-DD"}`` or
    ``{"advance": N}`` (N business days on from ``today``, back when negative).

    Raises ValueError with a one-line reason for anything else.
    """
    if not isinstance(doc, Mapping) or len(doc) != 1 or not {"today", "advance"} & set(doc):
        raise ValueError('expected {"today": "YYYY-MM-DD"} or {"advance": N}')
    if "today" in doc:
        text = doc["today"]
        if isinstance(text, str):
            with contextlib.suppress(ValueError):
                return dt.date.fromisoformat(text)
        raise ValueError(f"today must be a date like 2026-05-18, got {text!r}")
    steps = doc["advance"]
    if not isinstance(steps, int) or isinstance(steps, bool) or abs(steps) > STEP_LIMIT:
        raise ValueError(
            f"advance must be a whole number of business days from -{STEP_LIMIT} "
            f"to {STEP_LIMIT}, got {steps!r}"
        )
    return shift_business_days(today, steps)


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
