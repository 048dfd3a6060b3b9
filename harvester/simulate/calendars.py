"""When each market x endpoint pair publishes, and what a served day sees of it.

Upstream publishes on four clocks (shared/API.md). Each pair's calendar is one row
of :data:`SCHEDULES`: a publication covers the records up to its *cutoff* (the
newest record date it carries) and appears ``lag`` business days after that
cutoff. ``every`` says which record dates are cutoffs: 0 means every one; 14
means only those a whole number of fortnights from :data:`EPOCH` (a Friday).

=================  ==========================  ==========================  =====
pair               records                     cutoffs                     lag
=================  ==========================  ==========================  =====
HK short_trades    trading days                every trading day           0
US short_trades    trading days                every other Friday          2
HK short_interest  Fridays                     every Friday                5
US short_interest  15th and month end (to a    every one                   7
                   weekday before)
HK short_positions as HK short_interest        every Friday                5
US short_positions as US short_interest        every one                   7
=================  ==========================  ==========================  =====

So HK turnover appears the same day, the US daily volumes come in a batch every
other Tuesday covering up to the Friday before, HK short positions of a Friday
appear the next Friday, and a US settlement date appears seven business days
later. Business days are weekdays, as trading days are. The OpenAPI dialect's
short positions are the same reports as short interest (other fields),
published on the same days.

A market's holidays (the ``holidays`` setting, :mod:`.publishing`) are a
calendar's ``closed`` days: no record is dated on one (a report date falling on
one moves to the trading day before, as a weekend does), and a publication
that would appear on one appears on the market's next trading day instead.
The ``lag`` itself counts weekdays, so only the publications landing on a
holiday move.

On a served day ``T`` a pair serves the records up to the cutoff of its latest
publication on or before ``T`` (:func:`cutoff`). Without schedules every pair
publishes each record on its own date (:data:`IMMEDIATE`), which is what the
gateway served before schedules existed: everything up to ``T``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass

from .dates import (
    NO_HOLIDAYS,
    is_trading_day,
    on_or_after_trading,
    on_or_before_trading,
    report_dates,
)

EPOCH = dt.date(2026, 5, 15)
"""A Friday that ends a US ``short_trades`` batch; the others are whole fortnights away."""

PAIRS: tuple[tuple[str, str], ...] = (
    ("US", "short_trades"),
    ("HK", "short_trades"),
    ("US", "short_interest"),
    ("HK", "short_interest"),
)
"""Every (market, endpoint) pair of the gateway dialect, in the order documents list them."""

OPENAPI_PAIRS: tuple[tuple[str, str], ...] = (
    ("US", "short_trades"),
    ("HK", "short_trades"),
    ("US", "short_positions"),
    ("HK", "short_positions"),
)
"""Every (market, endpoint) pair of the OpenAPI dialect, in the same order."""

_SEARCH = 400
"""Business days :func:`next_publication` looks ahead; every calendar publishes far sooner."""


@dataclass(frozen=True, slots=True)
class Calendar:
    """When one market x endpoint pair publishes (see the module's table)."""

    market: str
    endpoint: str
    every: int  # 0: every record date is a cutoff; N: those N*k days from EPOCH
    lag: int  # business days from a cutoff to the publication that carries it
    closed: frozenset[dt.date] = NO_HOLIDAYS  # the market's holidays


@dataclass(frozen=True, slots=True)
class Publication:
    """One publication of a pair: the day it appeared and the newest record date it carries."""

    day: dt.date
    cutoff: dt.date


SCHEDULES: dict[tuple[str, str], Calendar] = {
    ("HK", "short_trades"): Calendar("HK", "short_trades", every=0, lag=0),
    ("US", "short_trades"): Calendar("US", "short_trades", every=14, lag=2),
    ("HK", "short_interest"): Calendar("HK", "short_interest", every=0, lag=5),
    ("US", "short_interest"): Calendar("US", "short_interest", every=0, lag=7),
    ("HK", "short_positions"): Calendar("HK", "short_positions", every=0, lag=5),
    ("US", "short_positions"): Calendar("US", "short_positions", every=0, lag=7),
}
"""The publication calendar of each (market, endpoint) pair with ``schedules`` on."""

IMMEDIATE: dict[tuple[str, str], Calendar] = {
    pair: Calendar(*pair, every=0, lag=0) for pair in SCHEDULES
}
"""With ``schedules`` off: every record is served from its own date on."""


def calendar(
    market: str, endpoint: str, schedules: bool = True, closed: frozenset[dt.date] = NO_HOLIDAYS
) -> Calendar:
    """The calendar of a pair, scheduled or immediate, with the market's holidays."""
    found = (SCHEDULES if schedules else IMMEDIATE)[market, endpoint]
    return dataclasses.replace(found, closed=closed) if closed else found


def shift_business_days(day: dt.date, days: int) -> dt.date:
    """The business day ``days`` business days after ``day`` (before it when negative).

    From a weekend day, one step forward is the Monday after and one step back
    the Friday before; zero steps leave any day as it is.
    """
    step = dt.timedelta(days=1 if days > 0 else -1)
    for _ in range(abs(days)):
        day += step
        while not is_trading_day(day):
            day += step
    return day


def newest_record(
    endpoint: str, market: str, day: dt.date, closed: frozenset[dt.date] = NO_HOLIDAYS
) -> dt.date:
    """The newest record date of the endpoint on or before ``day``."""
    if endpoint == "short_trades":
        return on_or_before_trading(day, closed)
    return next(report_dates(day, market, closed))


@functools.lru_cache(maxsize=256)
def cutoff(cal: Calendar, today: dt.date) -> dt.date:
    """The newest record date the pair serves on ``today``: its latest publication's cutoff."""
    cut = _weekday_cutoff(cal, today)
    # A publication moved off a holiday may land after today: then the one before it serves.
    while cal.closed and publication_day(cal, cut) > today:
        cut = _weekday_cutoff(cal, shift_business_days(shift_business_days(cut, cal.lag), -1))
    return cut


def _weekday_cutoff(cal: Calendar, today: dt.date) -> dt.date:
    """The newest cutoff whose publication falls on or before ``today`` counting weekdays
    only, that is before a publication on a holiday moves to the next trading day."""
    # A publication is `lag` business days after its cutoff, so the cutoffs published
    # by today are those on or before today's business day moved back by `lag`.
    bound = shift_business_days(on_or_before_trading(today), -cal.lag)
    if cal.every == 0:
        return newest_record(cal.endpoint, cal.market, bound, cal.closed)
    return bound - dt.timedelta(days=(bound - EPOCH).days % cal.every)


def publication_day(cal: Calendar, cut: dt.date) -> dt.date:
    """The day the publication ending at cutoff ``cut`` appears."""
    return on_or_after_trading(shift_business_days(cut, cal.lag), cal.closed)


def is_cutoff(cal: Calendar, day: dt.date) -> bool:
    """Whether a record date ends one of the pair's publications."""
    if cal.every == 0:
        return True
    if not cal.closed:
        return (day - EPOCH).days % cal.every == 0
    # A cutoff on a holiday ends its publication at the trading day before it.
    cut = day + dt.timedelta(days=(EPOCH - day).days % cal.every)
    return on_or_before_trading(cut, cal.closed) == day


def latest(cal: Calendar, today: dt.date) -> Publication:
    """The pair's latest publication on or before ``today``."""
    cut = cutoff(cal, today)
    return Publication(publication_day(cal, cut), cut)


def publishes_on(cal: Calendar, day: dt.date) -> bool:
    """Whether the pair publishes something new on ``day``."""
    return is_trading_day(day, cal.closed) and latest(cal, day).day == day


def publications(cal: Calendar, first: dt.date, last: dt.date) -> list[Publication]:
    """The pair's publications appearing from ``first`` to ``last`` (both in), oldest first."""
    found: list[Publication] = []
    day = first
    while day <= last:
        if publishes_on(cal, day):
            found.append(latest(cal, day))
        day += dt.timedelta(days=1)
    return found


def next_publication(cal: Calendar, today: dt.date) -> Publication:
    """The pair's first publication after ``today``."""
    day = today
    for _ in range(_SEARCH):
        day = shift_business_days(day, 1)
        if publishes_on(cal, day):
            return latest(cal, day)
    raise AssertionError(f"{cal} publishes nothing within {_SEARCH} business days")


def served(
    today: dt.date,
    schedules: bool,
    pairs: tuple[tuple[str, str], ...] = PAIRS,
    closed: Mapping[str, frozenset[dt.date]] | None = None,
) -> list[dict[str, object]]:
    """Per pair on ``today``: the newest record date served, its publication day, the next one.

    ``closed`` holds each market's holidays. Plain JSON-able values, as
    ``GET /_sim/today`` sends them.
    """
    rows: list[dict[str, object]] = []
    for market, endpoint in pairs:
        cal = calendar(market, endpoint, schedules, (closed or {}).get(market, NO_HOLIDAYS))
        now, then = latest(cal, today), next_publication(cal, today)
        rows.append(
            {
                "market": market,
                "endpoint": endpoint,
                "newest": newest_served(cal, now).isoformat(),
                "published": now.day.isoformat(),
                "next_published": then.day.isoformat(),
                "next_newest": newest_served(cal, then).isoformat(),
            }
        )
    return rows


def newest_served(cal: Calendar, publication: Publication) -> dt.date:
    """The newest record date a publication carries: its cutoff, or the trading day before
    a cutoff that fell on a holiday."""
    if not cal.closed:
        return publication.cutoff
    return newest_record(cal.endpoint, cal.market, publication.cutoff, cal.closed)
