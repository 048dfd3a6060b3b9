"""Trading days, report dates and how the upstream writes dates on the wire.

Trading days are weekdays (holidays are not modelled). A trading date always
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


def local_midnight(day: dt.date, market: str) -> dt.datetime:
    """Midnight at the start of ``day`` in the market's zone, as an aware datetime."""
    return dt.datetime.combine(day, dt.time(), tzinfo=ZONES[market])


def rfc3339_utc(day: dt.date, market: str) -> str:
    """The ``short_trades`` timestamp: local midnight rendered in UTC with ``Z``."""
    return local_midnight(day, market).astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_ms(day: dt.date, market: str) -> int:
    """The ``short_interest`` timestamp: local midnight in ms since the epoch."""
    return int(local_midnight(day, market).timestamp()) * 1000


def is_trading_day(day: dt.date) -> bool:
    """Weekdays trade; holidays are deliberately not modelled."""
    return day.weekday() < 5


def previous_trading_day(day: dt.date) -> dt.date:
    """The trading day before ``day``."""
    day -= dt.timedelta(days=1)
    while not is_trading_day(day):
        day -= dt.timedelta(days=1)
    return day


def trading_days(anchor: dt.date) -> Iterator[dt.date]:
    """Trading days from ``anchor`` (included if it trades) backwards, forever."""
    day = on_or_before_trading(anchor)
    while True:
        yield day
        day = previous_trading_day(day)


def on_or_before_trading(day: dt.date) -> dt.date:
    """``day`` if it trades, else the trading day before it."""
    return day if is_trading_day(day) else previous_trading_day(day)


def us_report_dates(anchor: dt.date) -> Iterator[dt.date]:
    """US short interest settlement dates: mid-month and month end, newest first.

    Modelled as the 15th and the last day of each month, moved back to a
    weekday; only dates on or before ``anchor`` are given.
    """
    year, month = anchor.year, anchor.month
    while True:
        last = calendar.monthrange(year, month)[1]
        for day in (dt.date(year, month, last), dt.date(year, month, 15)):
            report = on_or_before_trading(day)
            if report <= anchor:
                yield report
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)


def hk_report_dates(anchor: dt.date) -> Iterator[dt.date]:
    """HK short position reports: every Friday on or before ``anchor``, newest first."""
    day = anchor - dt.timedelta(days=(anchor.weekday() - 4) % 7)
    while True:
        yield day
        day -= dt.timedelta(days=7)


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
def trading_window(anchor: dt.date, market: str, size: int) -> tuple[Day, ...]:
    """The ``size`` newest trading days on or before ``anchor``, newest first."""
    return _window(itertools.islice(trading_days(anchor), size), market)


@functools.lru_cache(maxsize=32)
def report_window(anchor: dt.date, market: str, size: int) -> tuple[Day, ...]:
    """The ``size`` newest short interest report dates on or before ``anchor``."""
    return _window(itertools.islice(report_dates(anchor, market), size), market)


def report_dates(anchor: dt.date, market: str) -> Iterator[dt.date]:
    """The market's short interest report dates on or before ``anchor``, newest first."""
    return us_report_dates(anchor) if market == "US" else hk_report_dates(anchor)


@functools.lru_cache(maxsize=1 << 16)
def record_day(day: dt.date, market: str) -> Day:
    """The :class:`Day` of a record date in a market, kept: paging through years of
    history asks for the same days again and again."""
    return Day(
        date=day,
        ordinal=day.toordinal(),
        previous=previous_trading_day(day).toordinal(),
        stamp=rfc3339_utc(day, market),
        millis=epoch_ms(day, market),
        text=day.isoformat(),
    )


def _window(days: Iterable[dt.date], market: str) -> tuple[Day, ...]:
    return tuple(record_day(day, market) for day in days)
