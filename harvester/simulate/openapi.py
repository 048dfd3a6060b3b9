"""What the gateway answers in the vendor's OpenAPI dialect (API.md section 5), without HTTP.

Two data sets, each at one path per market::

    GET /v1/quote/short-trades/{us|hk}?symbol=AAPL.US&last_timestamp=<unix s>&page_size=N
    GET /v1/quote/short-positions/{us|hk}?counter_id=ST/US/AAPL&last_timestamp=<unix s>&count=N

The symbol comes as ``symbol`` (``AAPL.US``, ``700.HK``, ``00700.HK``) or
``counter_id`` (``ST/US/AAPL``, ``ETF/US/SPY``; both may come if they agree)
and must be of the path's market. ``last_timestamp`` defaults to the wall
clock's now; the count (``page_size``, ``count``) runs 1 to 100, default 20.
Any other parameter is refused, so a client that misnames one finds out.

Checks run in the order a real gateway applies them: the signature
(:mod:`.signing`), the account limit (:mod:`.account`), the per-endpoint
``rate_limit``, the throttle's quota and shared limit (:mod:`.throttle`),
scripted or random faults, then parameters, symbol lists and data
(:mod:`.history`). Answers are built by :mod:`.openapi_wire` (the throttle's
by :mod:`.throttle_wire`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from . import calendars, history, openapi_wire, signing, throttle_wire
from .account import AccountLimit
from .faults import unit_interval
from .responses import Answer
from .service import Service
from .settings import GatewaySettings
from .stats import GatewayStats
from .symbols import (
    COUNTER_KINDS,
    Symbol,
    SymbolStyleError,
    parse_counter_id,
    parse_openapi_symbol,
)

PATHS: dict[str, str] = {
    "short_trades": "/v1/quote/short-trades/{market}",
    "short_positions": "/v1/quote/short-positions/{market}",
}
"""Data set -> route; ``{market}`` is ``us`` or ``hk``."""

COUNT_PARAMETERS: dict[str, str] = {"short_trades": "page_size", "short_positions": "count"}
"""Data set -> the name of its count parameter (the vendor named them differently)."""

DEFAULT_COUNT, MOST = 20, 100
"""Records a page holds unless asked otherwise, and at most."""

_NUMBER = re.compile(r"[0-9]{1,10}")


@dataclass(frozen=True, slots=True)
class Call:
    """One request as it arrived: what its answer and its signature depend on."""

    endpoint: str  # short_trades or short_positions
    market: str  # the path's market segment, as sent
    path: str  # the path exactly as sent (signed)
    query: str  # the query string exactly as sent (signed)
    parameters: tuple[tuple[str, str], ...]  # the query, decoded, in order
    headers: Mapping[str, str]  # lower-case names


class OpenApiService(Service):
    """Decides answers in the OpenAPI dialect; served day, faults and stats as :class:`Service`.

    ``wall`` is the wall clock (unix seconds) that ``x-timestamp`` is checked
    against and that an absent ``last_timestamp`` means; ``clock`` the monotonic
    one of the account limit and the stats. Pair every :meth:`answer` with a
    :meth:`depart` once the answer is about to go out.
    """

    def __init__(
        self,
        settings: GatewaySettings,
        stats: GatewayStats,
        clock: Callable[[], float],
        wall: Callable[[], float],
    ) -> None:
        super().__init__(settings, stats, clock, wall)
        self.account = AccountLimit(settings.account_rate, settings.account_concurrency)

    def _warm_up(self) -> None:
        """As :meth:`Service._warm_up`, for this dialect's pages."""
        for symbol in (Symbol("AAPL", "US"), Symbol("700", "HK")):
            for endpoint in PATHS:
                history.page(self.settings, symbol, endpoint, 2**31, 1)

    def served(self) -> dict[str, object]:
        """As :meth:`Service.served`, for this dialect's pairs."""
        doc = super().served()
        doc["pairs"] = calendars.served(
            self.today,
            self.settings.schedules,
            calendars.OPENAPI_PAIRS,
            self.settings.publishing.closed,
        )
        return doc

    def answer(self, call: Call) -> tuple[Answer, float]:
        """Answer one request; also return the latency to wait before sending it."""
        now = self._clock()
        arrival = self.account.arrive(now)
        self.stats.received(call.endpoint, now)
        if self.stats.account is not None:
            self.stats.account.arrived(now, arrival)
        refused = signing.verify(
            self.settings, "GET", call.path, call.query, call.headers, self._wall()
        )
        draw = 0.5
        if refused is not None:
            answer = openapi_wire.error(refused)
        elif (limit := self.account.refusal(arrival)) is not None:
            if self.stats.account is not None:
                self.stats.account.refused(limit)
            answer = openapi_wire.error("account_limited", _limit_text(limit, self.account))
        elif not self._rate_limit.allow(call.endpoint, now):
            answer = openapi_wire.error("rate_limited")
        elif (reason := self._admit(now)) is not None:
            answer = throttle_wire.openapi_refusal(self.settings, reason, self._wall)
        else:
            answer, draw = self._served(call)
        answer = self._advertised(answer, now)
        self.stats.answered(call.endpoint, answer.outcome, answer.status)
        return answer, self.settings.latency + self.settings.latency_jitter * draw

    def depart(self) -> None:
        """The answer of a request is about to go out: it leaves the account's in-flight count."""
        self.account.depart()

    def _served(self, call: Call) -> tuple[Answer, float]:
        """An authorised request's answer (fault or normal) and its latency draw."""
        parsed = _symbol(call.parameters)
        key = parsed[1].canonical if isinstance(parsed, tuple) else _raw(call.parameters)
        fault, n = self._plan.next_fault(key, call.endpoint)
        draw = 0.0
        if self.settings.latency_jitter > 0:
            draw = unit_interval(self.settings.seed, key, call.endpoint, n, "latency")
        normal = self._normal(call, parsed)
        if fault is None:
            return normal, draw
        return openapi_wire.fault(fault, normal), draw

    def _normal(self, call: Call, parsed: tuple[str, Symbol] | str) -> Answer:
        """The fault-free answer: parameters, symbol, symbol lists, then data."""
        asked = self._asked(call)
        if isinstance(asked, Answer):
            return asked
        if isinstance(parsed, str):
            return openapi_wire.error("invalid_parameter", parsed)
        kind, symbol = parsed
        shown = _shown(symbol.canonical)
        listed = self._listed(symbol) if kind in COUNTER_KINDS else "unsupported"
        # Another market's symbol is unsupported whatever the path; then the path must match.
        if listed == "unsupported":
            return openapi_wire.error("unsupported", shown)
        if call.market != symbol.market.lower():
            return openapi_wire.error(
                "invalid_parameter", f"{shown} is not of market {_shown(call.market)}"
            )
        if listed is not None:
            return openapi_wire.error(listed, shown)
        counter_id = f"{kind}/{symbol.market}/{symbol.code}"
        if symbol.canonical in self._empty:
            return openapi_wire.success(counter_id, [])
        before, count = asked
        records = history.page(self.settings, symbol, call.endpoint, before, count)
        if records is None:
            return openapi_wire.error("no_data", shown)
        return openapi_wire.success(counter_id, records)

    def _asked(self, call: Call) -> tuple[int, int] | Answer:
        """(last_timestamp, count) asked for, or the answer refusing the parameters."""
        counted = COUNT_PARAMETERS[call.endpoint]
        names = [name for name, _ in call.parameters]
        for name in names:
            if name not in ("symbol", "counter_id", "last_timestamp", counted):
                return openapi_wire.error("invalid_parameter", f"unknown parameter {_shown(name)}")
            if names.count(name) > 1:
                return openapi_wire.error("invalid_parameter", f"{_shown(name)} given twice")
        values = dict(call.parameters)
        count = _number(values.get(counted), DEFAULT_COUNT)
        if count is None or not 1 <= count <= MOST:
            reason = f"{counted} must be an integer from 1 to {MOST}"
            return openapi_wire.error("invalid_parameter", reason)
        before = _number(values.get("last_timestamp"), int(self._wall()))
        if before is None:
            return openapi_wire.error("invalid_parameter", "last_timestamp must be unix seconds")
        return before, count


def _symbol(parameters: tuple[tuple[str, str], ...]) -> tuple[str, Symbol] | str:
    """(kind, symbol) from ``symbol`` and/or ``counter_id``, or why there is none."""
    given = dict(parameters)
    found: list[tuple[str, Symbol]] = []
    try:
        if "symbol" in given:
            found.append(("ST", parse_openapi_symbol(given["symbol"])))
        if "counter_id" in given:
            found.append(parse_counter_id(given["counter_id"]))
    except SymbolStyleError as exc:
        return f"invalid symbol format: {_shown(str(exc))}"
    if not found:
        return "symbol or counter_id is required"
    if len(found) == 2 and found[0][1] != found[1][1]:
        return "symbol and counter_id name different securities"
    return found[-1]  # the counter ID's kind, when both came


def _raw(parameters: tuple[tuple[str, str], ...]) -> str:
    """What keys the fault plan for a request whose symbol does not parse."""
    given = dict(parameters)
    return given.get("counter_id", given.get("symbol", ""))


def _number(text: str | None, default: int) -> int | None:
    """A count or a unix time asked for; None if it is not a plain non-negative integer."""
    if text is None:
        return default
    return int(text) if _NUMBER.fullmatch(text) else None


def _limit_text(limit: str, account: AccountLimit) -> str:
    if limit == "rate":
        return f"more than {account.rate} requests in one second"
    return f"more than {account.concurrency} requests at once"


def _shown(text: str) -> str:
    """Client text made safe to echo: short, and free of lone surrogates."""
    return text[:64].encode("utf-8", "backslashreplace").decode("utf-8")
