"""Publishing as real vendors do: holidays, late publishers, suspensions, delistings, restatements.

Five settings, all empty by default (and then nothing here changes a byte served):

- ``holidays``: dates a market does not trade, each for one market
  (``"US:2026-05-25"``) or for both (``"2026-05-25"``). No daily record is dated
  on one, a report date falling on one moves to the trading day before (as a
  weekend does) and a publication that would appear on one appears on the
  market's next trading day instead (:mod:`.calendars`).
- ``late``: symbols whose data appears one business day after the rest of their
  pair's: on served day ``T`` such a symbol is served as on the market's trading
  day before ``T`` (so its newest record is the one its pair served then, and its
  restatements come a day late too).
- ``suspended``: symbol -> date. No record dated on or after the date, in any
  data set: an answer holds the ``count`` newest records before it, and is
  ``no_data`` if there is none.
- ``delisted``: symbol -> date. From that served day on, every request for the
  symbol answers the dialect's no data (gateway ``-10``, OpenAPI ``404002``).
- ``restatements``: :class:`Correction` entries. From its published day on, a
  record's first quantity (:data:`.data.QUANTITIES`) is multiplied by a factor,
  whatever the record's age, on top of the random restatements of :mod:`.restate`.

Holidays, suspensions, delistings and corrections act with or without
``schedules``, in both dialects. The settings' checkers read entries with the
parsers here; :class:`Publishing` holds one gateway's entries ready: each
market's closed days, and what a symbol's pair shows on a served day
(:meth:`Publishing.view`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import calendars
from .calendars import Calendar
from .dates import (
    FIRST_DAY,
    LAST_DAY,
    NO_HOLIDAYS,
    Day,
    on_or_before_trading,
    previous_trading_day,
)
from .symbols import MARKETS, Symbol, is_canonical

if TYPE_CHECKING:
    from .settings import GatewaySettings

DATA_SETS: tuple[str, ...] = ("short_trades", "short_interest", "short_positions")
"""The endpoints a correction may name: the gateway's two and the OpenAPI's short positions."""

HOLIDAY_FORM = "dates like '2026-05-25', 'US:2026-05-25' or 'HK:2026-05-19'"
SYMBOL_DATE_FORM = "'SYMBOL=YYYY-MM-DD' entries or a table of symbol = date"
CORRECTION_FORM = (
    "'SYMBOL:ENDPOINT:RECORD_DATE:PUBLISHED_DAY:FACTOR' entries (ENDPOINT one of "
    f"{', '.join(DATA_SETS)}; PUBLISHED_DAY not before RECORD_DATE; FACTOR > 0)"
)

Holiday = tuple[str, dt.date]
"""(market, date): a day the market does not trade."""

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def read_date(value: object) -> dt.date:
    """A date from :data:`.dates.FIRST_DAY` to ``LAST_DAY``, or its ``YYYY-MM-DD`` text;
    ValueError holding the value otherwise."""
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(value) from None
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise ValueError(value)
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(value.isoformat())
    return value


def read_holiday(item: object) -> tuple[Holiday, ...]:
    """One ``holidays`` entry as (market, date) pairs: a bare date closes every market.

    Takes ``"US:2026-05-25"``, ``"2026-05-25"``, a date (a TOML bare date) or a
    (market, date) pair as the setting keeps them; ValueError holding the entry if
    it is none of these.
    """
    try:
        if isinstance(item, tuple) and len(item) == 2 and item[0] in MARKETS:
            return ((item[0], read_date(item[1])),)
        if isinstance(item, str) and ":" in item:
            market, _, text = item.partition(":")
            if market not in MARKETS:
                raise ValueError(item)
            return ((market, read_date(text)),)
        day = read_date(item)
    except ValueError:
        raise ValueError(item) from None
    return tuple((market, day) for market in MARKETS)


def read_symbol_dates(value: object) -> dict[str, dt.date]:
    """``suspended`` or ``delisted``: a table of symbol = date, or ``"SYMBOL=DATE"`` texts.

    ValueError holding the bad entry (a symbol not canonical, a date not a date).
    """
    if isinstance(value, Mapping):
        pairs: list[tuple[object, object, object]] = [
            (symbol, day, {symbol: day}) for symbol, day in value.items()
        ]
    elif isinstance(value, list | tuple):
        pairs = [(*_symbol_date(item), item) for item in value]
    else:
        raise ValueError(value)
    found: dict[str, dt.date] = {}
    for symbol, day, entry in pairs:
        if not isinstance(symbol, str) or not is_canonical(symbol):
            raise ValueError(entry)
        try:
            found[symbol] = read_date(day)
        except ValueError:
            raise ValueError(entry) from None
    return found


def _symbol_date(item: object) -> tuple[object, object]:
    if not isinstance(item, str) or "=" not in item:
        raise ValueError(item)
    symbol, _, day = item.partition("=")
    return symbol.strip(), day.strip()


@dataclass(frozen=True, slots=True)
class Correction:
    """An explicit restatement: from ``published`` on, ``record_date``'s first quantity
    of ``endpoint`` for ``symbol`` is multiplied by ``factor``."""

    symbol: str  # canonical: AAPL.US, 700.HK
    endpoint: str  # one of DATA_SETS
    record_date: dt.date
    published: dt.date  # the first served day showing the changed value
    factor: float

    def __str__(self) -> str:
        parts = (self.symbol, self.endpoint, self.record_date, self.published, repr(self.factor))
        return ":".join(map(str, parts))

    @property
    def market(self) -> str:
        """The market of the symbol."""
        return self.symbol.rpartition(".")[2]

    @classmethod
    def read(cls, item: object) -> Correction:
        """An entry ``SYMBOL:ENDPOINT:RECORD_DATE:PUBLISHED_DAY:FACTOR`` (or a Correction);
        ValueError holding the entry if it is not one, or publishes before its record."""
        if isinstance(item, Correction):
            return item
        try:
            return cls._read(item)
        except ValueError:
            raise ValueError(item) from None

    @classmethod
    def _read(cls, item: object) -> Correction:
        parts = item.split(":") if isinstance(item, str) else []
        if len(parts) != 5:
            raise ValueError(item)
        symbol, endpoint, record, published, factor = parts
        market = symbol.rpartition(".")[2]
        if not is_canonical(symbol) or market not in MARKETS or endpoint not in DATA_SETS:
            raise ValueError(item)
        value = float(factor)
        if not math.isfinite(value) or value <= 0:
            raise ValueError(item)
        found = cls(symbol, endpoint, read_date(record), read_date(published), value)
        if found.published < found.record_date:
            raise ValueError(item)
        return found


def closed_days(holidays: Iterable[Holiday], market: str) -> frozenset[dt.date]:
    """The days ``market`` does not trade beyond weekends."""
    return frozenset(day for where, day in holidays if where == market)


def misdated(holidays: Sequence[Holiday], corrections: Iterable[Correction]) -> Correction | None:
    """The first correction whose record date is no record date of its data set, if any."""
    for one in corrections:
        closed = closed_days(holidays, one.market)
        newest = calendars.newest_record(one.endpoint, one.market, one.record_date, closed)
        if newest != one.record_date:
            return one
    return None


@dataclass(frozen=True, slots=True)
class View:
    """What one symbol of a pair is served on a served day."""

    cal: Calendar  # the pair's calendar, with its market's holidays
    day: dt.date  # the day the pair is seen as of: today, or the trading day before if late
    cut: dt.date  # the pair's newest cutoff by ``day``: the publications that count
    top: dt.date  # the newest record date served: the cutoff, or the day before a suspension


class Publishing:
    """One gateway's publishing settings, ready for the answers (see the module)."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.closed: dict[str, frozenset[dt.date]] = {
            market: closed_days(settings.holidays, market) for market in MARKETS
        }
        self.late = frozenset(settings.late)
        self.suspended = dict(settings.suspended)
        self.delisted = dict(settings.delisted)
        self._corrections: dict[tuple[str, str], list[Correction]] = {}
        for one in settings.restatements:
            self._corrections.setdefault((one.symbol, one.endpoint), []).append(one)
        self._special = self.late | set(self.suspended) | {key[0] for key in self._corrections}

    def __repr__(self) -> str:
        holidays = sum(len(days) for days in self.closed.values())
        return (
            f"<Publishing holidays={holidays} late={len(self.late)} "
            f"suspended={len(self.suspended)} delisted={len(self.delisted)} "
            f"restatements={sum(len(found) for found in self._corrections.values())}>"
        )

    def touches(self, symbol: Symbol) -> bool:
        """Whether a setting here changes the symbol's records (delisting aside)."""
        return bool(self.closed.get(symbol.market)) or symbol.canonical in self._special

    def is_delisted(self, canonical: str, today: dt.date) -> bool:
        """Whether the symbol answers no data on served day ``today``."""
        since = self.delisted.get(canonical)
        return since is not None and today >= since

    def calendar(self, market: str, endpoint: str, schedules: bool) -> Calendar:
        """The pair's calendar (scheduled or immediate) with the market's holidays."""
        closed = self.closed.get(market, NO_HOLIDAYS)
        return calendars.calendar(market, endpoint, schedules, closed)

    def seen_as_of(self, symbol: Symbol, today: dt.date) -> dt.date:
        """The served day whose data the symbol shows on ``today``: a late one's is a trading
        day earlier."""
        if symbol.canonical not in self.late:
            return today
        closed = self.closed.get(symbol.market, NO_HOLIDAYS)
        return previous_trading_day(on_or_before_trading(today, closed), closed)

    def view(self, symbol: Symbol, endpoint: str, today: dt.date, schedules: bool) -> View:
        """What the symbol's pair serves it on ``today``."""
        cal = self.calendar(symbol.market, endpoint, schedules)
        day = self.seen_as_of(symbol, today)
        # Without schedules there is no cutoff: every record up to the day is out.
        cut = calendars.cutoff(cal, day) if schedules else day
        top = cut
        since = self.suspended.get(symbol.canonical)
        if since is not None:
            top = min(top, since - dt.timedelta(days=1))
        return View(cal, day, cut, top)

    def corrections(self, canonical: str, endpoint: str) -> tuple[Correction, ...]:
        """The explicit restatements of the symbol's data set, in the order given."""
        return tuple(self._corrections.get((canonical, endpoint), ()))

    def factors(
        self, canonical: str, endpoint: str, days: Sequence[Day], today: dt.date
    ) -> dict[int, float]:
        """Index in ``days`` -> the product of the factors published by ``today`` for it."""
        wanted: dict[dt.date, float] = {}
        for one in self.corrections(canonical, endpoint):
            if one.published <= today:
                wanted[one.record_date] = wanted.get(one.record_date, 1.0) * one.factor
        if not wanted:
            return {}
        return {i: wanted[day.date] for i, day in enumerate(days) if day.date in wanted}
