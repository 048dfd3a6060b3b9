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
reaches :data:`PAD_DAYS` past its newest record (or to the served cutoff,
when nearer), which holds every publication that can restate a record of the
page (:data:`.restate.DEPTH` records back from its previous cutoff).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

from . import calendars, data, positions, restate
from .calendars import Calendar
from .data import Record, Restated
from .dates import ZONES, Day, record_day, report_dates, trading_days
from .settings import GatewaySettings
from .symbols import Symbol

PAD_DAYS: dict[str, int] = {"short_trades": 31, "short_positions": 124}
"""Calendar days past a page's newest record that can hold a publication restating it.

Short trades: ``DEPTH - 1`` trading days (at most six calendar days) plus a US
fortnight to the next cutoff. Short positions: four US reports (about 72 days)
and the next one (18 more), which also covers HK's weekly reports.
"""


def local_date(seconds: int, market: str) -> dt.date:
    """The exchange's date at a unix time: records of days up to it are at or before it."""
    return dt.datetime.fromtimestamp(seconds, ZONES[market]).date()


def record_dates(endpoint: str, market: str, newest: dt.date, oldest: dt.date) -> Iterator[dt.date]:
    """The data set's record dates from ``newest`` back to ``oldest`` (both included)."""
    days = trading_days(newest) if endpoint == "short_trades" else report_dates(newest, market)
    return itertools.takewhile(lambda day: day >= oldest, days)


def newest_served(settings: GatewaySettings, market: str, endpoint: str) -> dt.date:
    """The newest record date the served day serves: ``today``, or the pair's cutoff."""
    if not settings.schedules:
        return settings.today
    return calendars.cutoff(calendars.calendar(market, endpoint), settings.today)


def page(
    settings: GatewaySettings, symbol: Symbol, endpoint: str, before: int, count: int
) -> list[Record]:
    """The ``count`` newest records at or before unix time ``before``, newest first."""
    market = symbol.market
    newest = newest_served(settings, market, endpoint)
    anchor = min(newest, local_date(before, market))
    dates = record_dates(endpoint, market, anchor, settings.history_start)
    days = [record_day(day, market) for day in itertools.islice(dates, count)]
    restated = None
    if days and settings.schedules and settings.restate_rate > 0:
        restated = _restated(settings, symbol, calendars.calendar(market, endpoint), newest, days)
    if endpoint == "short_positions":
        return positions.positions_on(symbol, days, restated)
    records = data.trades_on(symbol, days, restated)
    for record, day in zip(records, days, strict=True):
        # The gateway dialect's records say RFC 3339; this one sends unix seconds.
        record["timestamp"] = str(day.seconds)
    return records


def _restated(
    settings: GatewaySettings, symbol: Symbol, cal: Calendar, cut: dt.date, days: list[Day]
) -> Restated:
    """The restatements published by the served day that hit the records of ``days``."""
    top = min(cut, days[0].date + dt.timedelta(days=PAD_DAYS[cal.endpoint]))
    market = symbol.market
    window = [
        record_day(day, market) for day in record_dates(cal.endpoint, market, top, days[-1].date)
    ]
    offset = len(window) - len(days)
    found = restate.adjustments_in(
        settings.seed,
        settings.restate_rate,
        symbol,
        cal,
        window,
        restate.marks(cal, window),
        len(window),
    )
    return {index - offset: factors for index, factors in found.items() if index >= offset}
