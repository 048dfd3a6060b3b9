"""The OpenAPI dialect's records: pages of history by ``last_timestamp``, newest first.

A page is the ``count`` newest records whose timestamp (local midnight of the
record date, unix seconds) is at or before ``last_timestamp``, among those the
served day publishes (:mod:`.calendars`, as the gateway dialect serves them)
and none older than ``history_start``. A record exactly at the cut-off comes
back: a client paging from the oldest timestamp it holds sees that record
again and must drop it. Past ``history_start`` a page is empty, which tells
a client paging back that it has reached the start.

Figures depend on the (symbol, record date) alone (:mod:`.data`,
:mod:`.positions`), so a day is the same whichever page serves it. With
``schedules`` on, so are restatements: a page takes them from a window that
reaches past its newest record (:func:`.restate.restated_days`). The
publishing settings (:mod:`.publishing`: holidays, late, suspended, delisted
symbols, explicit restatements) act here as in the gateway dialect.
"""

from __future__ import annotations

import datetime as dt
import itertools

from . import calendars, data, positions, restate
from .data import Record
from .dates import ZONES, record_dates, record_day
from .settings import GatewaySettings
from .symbols import Symbol

__all__ = ["local_date", "newest_served", "page", "record_dates"]


def local_date(seconds: int, market: str) -> dt.date:
    """The exchange's date at a unix time: records of days up to it are at or before it."""
    return dt.datetime.fromtimestamp(seconds, ZONES[market]).date()


def newest_served(settings: GatewaySettings, market: str, endpoint: str) -> dt.date:
    """The newest record date the served day serves the pair: ``today``, or its cutoff."""
    if not settings.schedules:
        return settings.today
    cal = settings.publishing.calendar(market, endpoint, True)
    return calendars.cutoff(cal, settings.today)


def page(
    settings: GatewaySettings, symbol: Symbol, endpoint: str, before: int, count: int
) -> list[Record] | None:
    """The ``count`` newest records at or before unix time ``before``, newest first.

    None for a suspended symbol with no record at all before its suspension: that
    is answered as no data.
    """
    market, publishing = symbol.market, settings.publishing
    view = publishing.view(symbol, endpoint, settings.today, settings.schedules)
    closed = view.cal.closed
    if symbol.canonical in publishing.suspended:
        older = record_dates(endpoint, market, view.top, settings.history_start, closed)
        if next(older, None) is None:
            return None
    anchor = min(view.top, local_date(before, market))
    dates = record_dates(endpoint, market, anchor, settings.history_start, closed)
    days = [record_day(day, market, closed) for day in itertools.islice(dates, count)]
    restated = None
    if days and settings.schedules and settings.restate_rate > 0:
        seed, rate = settings.seed, settings.restate_rate
        restated = restate.restated_days(seed, rate, symbol, view.cal, view.cut, days)
    factors = publishing.factors(symbol.canonical, endpoint, days, settings.today)
    restated = restate.merged(restated, factors)
    if endpoint == "short_positions":
        return positions.positions_on(symbol, days, restated)
    records = data.trades_on(symbol, days, restated)
    for record, day in zip(records, days, strict=True):
        # The gateway dialect's records say RFC 3339; this one sends unix seconds.
        record["timestamp"] = str(day.seconds)
    return records
