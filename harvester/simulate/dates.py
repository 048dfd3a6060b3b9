"""Trading days, report dates and how the upstream writes dates on the wire.

Trading days are weekdays, less a market's holidays when the ``holidays`` setting
names some (:mod:`.publishing`): every function that walks trading days takes them
as ``closed``, a frozen set of dates (none by default). A trading date always
means midnight in the exchange's own zone, so the HK date 2026-05-18 is sent
as ``2026-05-17T16:00:00Z``: the previous day in UTC.

The windows of days an anchor serves, with their wire forms, are worked out
once per (anchor, market) and kept: time zone arithmetic per record would cost
more than the record's numbers.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

ZONES: dict[str, ZoneInfo] = {
    "US": ZoneInfo("America/New_York"),
    "HK": ZoneInfo("Asia/Hong_Kong"),
}
"""Exchange time zone per market."""

_UTC = dt.UTC

NO_HOLIDAYS: frozenset[dt.date] = frozenset()
"""The ``closed`` days of a market without holidays: every weekday trades."""

FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2999, 12, 31)
"""The dates a setting may name: a window reaches a hundred trading days back, and
all of it stays inside the calendar."""


def local_midnight(day: dt.date, market: str) -> dt.datetime:
    """Midnight at the start of ``day`` in the market's zone, as an aware datetime."""
    return dt.datetime.combine(day, dt.time(), tzinfo=ZONES[market])


def rfc3339_utc(day: dt.date, market: str) -> str:
    """The ``short_trades`` timestamp: local midnight rendered in UTC with ``Z``."""
    return local_midnight(day, market).astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_ms(day: dt.date, market: str) -> int:
    """The ``short_interest`` timestamp: local midnight in ms since the epoch."""
    return int(local_midnight(day, market).timestamp()) * 1000


def is_trading_day(day: dt.date, closed: frozenset[dt.date] = NO_HOLIDAYS) -> bool:
    """Weekdays trade, except the market's ``closed`` days (its holidays)."""
    return day.weekday() < 5 and day not in closed


def previous_trading_day(day: dt.date, closed: frozenset[dt.date] = NO_HOLIDAYS) -> dt.date:
    """The trading day before ``day``."""
    day -= dt.timedelta(days=1)
    while not is_trading_day(day, closed):
        day -= dt.timedelta(days=1)
    return day


def trading_days(anchor: dt.date, closed: frozenset[dt.date] = NO_HOLIDAYS) -> Iterator[dt.date]:
    """Trading days from ``anchor`` (included if it trades) backwards, forever."""
    day = on_or_before_trading(anchor, closed)
    while True:
        yield day
        day = previous_trading_day(day, closed)


def on_or_before_trading(day: dt.date, closed: frozenset[dt.date] = NO_HOLIDAYS) -> dt.date:
    """``day`` if it trades, else the trading day before it."""
    return day if is_trading_day(day, closed) else previous_trading_day(day, closed)


def on_or_after_trading(day: dt.date, closed: frozenset[dt.date] = NO_HOLIDAYS) -> dt.date:
    """``day`` if it trades, else the trading day after it."""
    while not is_trading_day(day, closed):
        day += dt.timedelta(days=1)
    return day


def us_report_dates(anchor: dt.date, closed: frozenset[dt.date] = NO_HOLIDAYS) -> Iterator[dt.date]:
    """US short interest settlement dates: mid-month and month end, newest first.

    Modelled as the 15th and the last day of each month, moved back to a
    trading day; only dates on or before ``anchor`` are given.
    """
    year, month = anchor.year, anchor.month
    newest = anchor + dt.timedelta(days=1)
    while True:
        last = calendar.monthrange(year, month)[1]
        for day in (dt.date(year, month, last), dt.date(year, month, 15)):
            report = on_or_before_trading(day, closed)
            # Holidays can move a date back past the one before it: each date once.
            if report < newest:
                newest = report
                yield report
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)


def hk_report_dates(anchor: dt.date, closed: frozenset[dt.date] = NO_HOLIDAYS) -> Iterator[dt.date]:
    """HK short position reports: every Friday (moved back to a trading day) on or before
    ``anchor``, newest first."""
    # From the Friday on or after the anchor: a holiday can move its report back to the anchor.
    friday = anchor + dt.timedelta(days=(4 - anchor.weekday()) % 7)
    newest = anchor + dt.timedelta(days=1)
    while True:
        report = on_or_before_trading(friday, closed)
        if report < newest:
            newest = report
            yield report
        friday -= dt.timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Day:
    """A trading date with everything a record needs of it, in wire form."""

    date: dt.date
    ordinal: int
    previous: int  # ordinal of the trading day before
    stamp: str  # short_trades: local midnight as RFC 3339 UTC
    millis: int  # short_interest: local midnight, ms since the epoch
    text: str  # short_interest: yyyy-MM-dd

    @property
    def seconds(self) -> int:
        """The OpenAPI dialect's timestamp: local midnight in unix seconds."""
        return self.millis // 1000


@functools.lru_cache(maxsize=32)
def trading_window(
    anchor: dt.date, market: str, size: int, closed: frozenset[dt.date] = NO_HOLIDAYS
) -> tuple[Day, ...]:
    """The ``size`` newest trading days on or before ``anchor``, newest first."""
    return _window(itertools.islice(trading_days(anchor, closed), size), market, closed)


@functools.lru_cache(maxsize=32)
def report_window(
    anchor: dt.date, market: str, size: int, closed: frozenset[dt.date] = NO_HOLIDAYS
) -> tuple[Day, ...]:
    """The ``size`` newest short interest report dates on or before ``anchor``."""
    return _window(itertools.islice(report_dates(anchor, market, closed), size), market, closed)


def report_dates(
    anchor: dt.date, market: str, closed: frozenset[dt.date] = NO_HOLIDAYS
) -> Iterator[dt.date]:
    """The market's short interest report dates on or before ``anchor``, newest first."""
    if market == "US":
        return us_report_dates(anchor, closed)
    return hk_report_dates(anchor, closed)


def record_dates(
    endpoint: str,
    market: str,
    newest: dt.date,
    oldest: dt.date,
    closed: frozenset[dt.date] = NO_HOLIDAYS,
) -> Iterator[dt.date]:
    """The data set's record dates from ``newest`` back to ``oldest`` (both included)."""
    if endpoint == "short_trades":
        days = trading_days(newest, closed)
    else:
        days = report_dates(newest, market, closed)
    return itertools.takewhile(lambda day: day >= oldest, days)


@functools.lru_cache(maxsize=1 << 16)
def record_day(day: dt.date, market: str, closed: frozenset[dt.date] = NO_HOLIDAYS) -> Day:
    """The :class:`Day` of a record date in a market, kept: paging through years of
    history asks for the same days again and again."""
    return Day(
        date=day,
        ordinal=day.toordinal(),
        previous=previous_trading_day(day, closed).toordinal(),
        stamp=rfc3339_utc(day, market),
        millis=epoch_ms(day, market),
        text=day.isoformat(),
    )


def _window(days: Iterable[dt.date], market: str, closed: frozenset[dt.date]) -> tuple[Day, ...]:
    return tuple(record_day(day, market, closed) for day in days)
