"""Restatements: now and then a publication changes a record its pair had already published.

Vendors reprocess: a later file carries a different figure for a day they had
already sent. Here, whenever a pair publishes (:mod:`.calendars`), each symbol
draws, from ``seed``, the symbol, the endpoint and the publication, whether this
publication restates one of the :data:`DEPTH` newest records the pair had
published before it (a fraction ``restate_rate`` of publications do). If it
does, the draw also picks which of those records, which quantity of it (see
:data:`.data.QUANTITIES`: a volume, a turnover, a short position...) and a
factor 1 to 4 percent up or down; figures derived from the quantity (the short
ratio, days to cover, the percent of float) follow it, prices never change.

A record served on day ``T`` carries every restatement published by ``T`` that
hit it (their factors multiply). So the value served for a (symbol, date)
changes exactly on the publication days of its restatements and at no other
time, and a harvester that re-reads the ``DEPTH`` newest records it holds
(an overlap of 5) catches every restatement.

Draws walk the shared pool (:mod:`.draws`) from a start and stride of the
(seed, symbol, endpoint), one row per publication: a hash per symbol, not per
record, so checking a hundred publications costs a hundred tuple look-ups.

Explicit restatements (the ``restatements`` setting, :mod:`.publishing`) multiply
a record's first quantity from a chosen day on, at any depth; their factors
multiply with the drawn ones (:func:`merged`). :func:`restatements` lists both
kinds, as the served data shows them (a late symbol's drawn ones a trading day
after its pair's, none of a delisted symbol, none of a suspended one's records
from its suspension on).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from . import calendars, data
from .calendars import Calendar
from .data import Restated
from .dates import Day, is_trading_day, record_dates, record_day
from .draws import POOL_SIZE, pool, walk, words
from .settings import GatewaySettings, endpoints
from .symbols import Symbol, SymbolStyleError, parse_trades_symbol

DEPTH = 5
"""A restatement changes one of this many newest records published before it."""

Adjustments = dict[int, list[float]]
"""Index in the served window -> multiplier per quantity (see :func:`.data.short_trades`)."""

PAD_DAYS: dict[str, int] = {"short_trades": 31, "short_interest": 124, "short_positions": 124}
"""Calendar days past a record that can hold a publication restating it.

Short trades: ``DEPTH - 1`` trading days (at most six calendar days) plus a US
fortnight to the next cutoff. Reports: four US reports (about 72 days) and the
next one (18 more), which also covers HK's weekly reports.
"""

# Which uniforms of a pool row (draws.NORMALS: 12-15 are uniform) decide what.
_SIZE, _WHETHER, _WHICH, _QUANTITY = 12, 13, 14, 15
_SIGN = 7  # a normal: its sign says up or down


@dataclass(frozen=True, slots=True)
class Restatement:
    """One record changed by a publication: what changed, by how much, and when it appeared."""

    symbol: str  # canonical, as the gateway keys it: 700.HK
    market: str
    endpoint: str
    published: dt.date  # the day the changed value is first served
    record_date: dt.date  # the record it changed
    quantity: str  # a name of data.QUANTITIES
    factor: float  # the quantity was multiplied by this


@dataclass(frozen=True, slots=True)
class _Draw:
    back: int  # which record before the publication: 0 is the newest
    quantity: int
    factor: float


@functools.lru_cache(maxsize=16384)
def _walk(seed: int, canonical: str, endpoint: str) -> tuple[int, int]:
    """The (start, stride) of a symbol's restatement draws; bounded, as a profile is."""
    w = words(f"restate|{seed}|{canonical}|{endpoint}".encode())
    return walk(w[0], w[1])


def _draw(walked: tuple[int, int], rate: float, cal: Calendar, day: Day) -> _Draw | None:
    """Whether the publication ending at ``day`` restates a record of the symbol whose
    walk (:func:`_walk`) is ``walked``, and how."""
    start, stride = walked
    row = pool()[(start + day.ordinal * stride) % POOL_SIZE]
    if row[_WHETHER] >= rate:
        return None
    size = 0.01 + 0.03 * row[_SIZE]
    kinds = len(data.QUANTITIES[cal.market, cal.endpoint])
    return _Draw(
        back=int(row[_WHICH] * DEPTH),
        quantity=int(row[_QUANTITY] * kinds),
        factor=1 + size if row[_SIGN] >= 0 else 1 - size,
    )


@functools.lru_cache(maxsize=64)
def _marks(cal: Calendar, cut: dt.date) -> tuple[int, ...]:
    """Indices, in the window served at cutoff ``cut``, of the records that end a publication."""
    return marks(cal, data.window(cal.endpoint, cal.market, cut, cal.closed))


def adjustments(
    seed: int, rate: float, symbol: Symbol, cal: Calendar, cut: dt.date, count: int
) -> Adjustments:
    """The restatements hitting the ``count`` newest records served at cutoff ``cut``.

    Every publication up to ``cut`` is on or before the served day; one whose
    previous cutoff is at window index ``older`` restates, if anything, the record
    ``older + back``. Records past ``count`` are left out, so a short answer is
    the start of a longer one.
    """
    if rate <= 0:
        return {}
    window = data.window(cal.endpoint, cal.market, cut, cal.closed)
    return adjustments_in(seed, rate, symbol, cal, window, _marks(cal, cut), count)


def marks(cal: Calendar, window: Sequence[Day]) -> tuple[int, ...]:
    """Indices, in ``window``, of the records that end a publication of the pair."""
    return tuple(i for i, day in enumerate(window) if calendars.is_cutoff(cal, day.date))


def adjustments_in(
    seed: int,
    rate: float,
    symbol: Symbol,
    cal: Calendar,
    window: Sequence[Day],
    ends: Sequence[int],
    count: int,
) -> Adjustments:
    """:func:`adjustments` over any run of consecutive record dates, newest first.

    ``ends`` are its :func:`marks`. Every publication whose cutoff is in the window
    counts, so its newest date must be served; the OpenAPI dialect pages through
    years of history with windows that end long before the served cutoff.
    """
    found: Adjustments = {}
    if rate <= 0:
        return found
    walked = _walk(seed, symbol.canonical, cal.endpoint)
    for newer, older in itertools.pairwise(ends):
        if older >= count:
            break
        draw = _draw(walked, rate, cal, window[newer])
        if draw is None or older + draw.back >= count:
            continue
        factors = found.setdefault(older + draw.back, [1.0] * data.MAX_QUANTITIES)
        factors[draw.quantity] *= draw.factor
    return found


def restated_days(
    seed: int, rate: float, symbol: Symbol, cal: Calendar, cut: dt.date, days: Sequence[Day]
) -> Adjustments:
    """The restatements published up to cutoff ``cut`` that hit the records of ``days``.

    ``days`` are consecutive record dates, newest first, none after ``cut``: a page
    of history, or the newest records before a suspension. They are taken from a
    window reaching :data:`PAD_DAYS` past the newest of them (or to ``cut``, when
    nearer), which holds every publication that can restate one of them.
    """
    if rate <= 0 or not days:
        return {}
    top = min(cut, days[0].date + dt.timedelta(days=PAD_DAYS[cal.endpoint]))
    dates = record_dates(cal.endpoint, cal.market, top, days[-1].date, cal.closed)
    window = [record_day(day, cal.market, cal.closed) for day in dates]
    offset = len(window) - len(days)
    found = adjustments_in(seed, rate, symbol, cal, window, marks(cal, window), len(window))
    return {index - offset: factors for index, factors in found.items() if index >= offset}


def merged(restated: Restated | None, factors: Mapping[int, float]) -> Restated | None:
    """``restated`` with the first quantity of each record of ``factors`` multiplied too."""
    if not factors:
        return restated
    found = {index: list(each) for index, each in (restated or {}).items()}
    for index, factor in factors.items():
        found.setdefault(index, [1.0] * data.MAX_QUANTITIES)[0] *= factor
    return found


def published_on(
    settings: GatewaySettings, symbol: Symbol, endpoint: str, day: dt.date
) -> Restatement | None:
    """The drawn restatement the symbol's pair publishes for it on ``day``, if any.

    A late symbol sees its pair's a trading day later; a delisted symbol has none
    from its delisting, a suspended one none of a record from its suspension on.
    """
    if not settings.schedules or settings.restate_rate <= 0:
        return None
    publishing = settings.publishing
    if publishing.is_delisted(symbol.canonical, day):
        return None
    cal = publishing.calendar(symbol.market, endpoint, True)
    seen = publishing.seen_as_of(symbol, day)
    if not is_trading_day(day, cal.closed) or not calendars.publishes_on(cal, seen):
        return None
    cut = calendars.cutoff(cal, seen)
    window, ends = data.window(endpoint, symbol.market, cut, cal.closed), _marks(cal, cut)
    draw = _draw(
        _walk(settings.seed, symbol.canonical, endpoint), settings.restate_rate, cal, window[0]
    )
    if draw is None or len(ends) < 2 or ends[1] + draw.back >= len(window):
        return None
    record = window[ends[1] + draw.back].date
    since = publishing.suspended.get(symbol.canonical)
    if since is not None and record >= since:
        return None
    return Restatement(
        symbol=symbol.canonical,
        market=symbol.market,
        endpoint=endpoint,
        published=day,
        record_date=record,
        quantity=data.QUANTITIES[symbol.market, endpoint][draw.quantity],
        factor=draw.factor,
    )


def explicit_on(
    settings: GatewaySettings, symbol: Symbol, endpoint: str, day: dt.date
) -> list[Restatement]:
    """The explicit restatements that change a served record of the symbol on ``day``.

    One whose record is not out by the day before changes nothing served: the
    record first appears with the changed value.
    """
    publishing = settings.publishing
    if publishing.is_delisted(symbol.canonical, day):
        return []
    found: list[Restatement] = []
    for one in publishing.corrections(symbol.canonical, endpoint):
        if one.published != day:
            continue
        eve = day - dt.timedelta(days=1)
        if one.record_date > publishing.view(symbol, endpoint, eve, settings.schedules).top:
            continue
        found.append(
            Restatement(
                symbol=symbol.canonical,
                market=symbol.market,
                endpoint=endpoint,
                published=day,
                record_date=one.record_date,
                quantity=data.QUANTITIES[symbol.market, endpoint][0],
                factor=one.factor,
            )
        )
    return found


def restatements(
    settings: GatewaySettings, symbols: Iterable[str], first: dt.date, last: dt.date | None = None
) -> list[Restatement]:
    """Every restatement published from ``first`` to ``last`` (default: ``first``) for these
    symbols (canonical ``CODE.MARKET``), by day, symbol and endpoint (those of the
    dialect ``settings.api`` serves), the drawn one before the explicit ones.

    Symbols that serve no data (other markets, the ``no_data``, ``unsupported``,
    ``invalid_symbol`` and ``empty`` lists) have none. Tests use this to know
    which stored rows a sweep on a later day must revise.
    """
    quiet = {*settings.no_data, *settings.unsupported, *settings.invalid_symbol, *settings.empty}
    parsed: list[Symbol] = []
    for text in symbols:
        try:
            symbol = parse_trades_symbol(text)
        except SymbolStyleError:
            continue
        if symbol.supported and symbol.canonical not in quiet:
            parsed.append(symbol)
    found: list[Restatement] = []
    day, end = first, last or first
    while day <= end:
        for symbol in parsed:
            for endpoint in endpoints(settings.api):
                one = published_on(settings, symbol, endpoint, day)
                if one is not None:
                    found.append(one)
                found.extend(explicit_on(settings, symbol, endpoint, day))
        day += dt.timedelta(days=1)
    return found
