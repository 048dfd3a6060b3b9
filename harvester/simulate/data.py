"""Deterministic, realistic-looking records for any US or HK symbol.

Every number comes from :mod:`.draws`: constants from a blake2b digest of the
canonical symbol, daily figures from the pool row of the symbol's day; never
``hash()``, so a symbol gives the same records in every process. Daily figures
depend on the symbol and the date alone, not on the anchor or the count, so
moving the anchor shifts the window but keeps the history, and a short answer
is the start of a longer one. A record as restated later (:mod:`.restate`) is
its first published figures with some quantities multiplied by factors the
caller passes in, and the figures derived from them worked out again. Only the
``count`` records asked for are made, and none are kept: over thousands of
symbols a cache of records would cost memory and rarely hit.

Records are plain dicts already in wire types: strings for ``short_trades``;
ints, floats and strings for ``short_interest`` (the OpenAPI dialect's short
positions are in :mod:`.positions`). Prices are worked in integer
thousandths of the currency on the exchange's tick grid, so their text and
float forms agree without decimal arithmetic.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .dates import NO_HOLIDAYS, Day, report_window, trading_window
from .draws import POOL_SIZE, log_uniform, pool, uniform, walk, words
from .symbols import Symbol

TRADES_HISTORY = 100
"""Trading days served per symbol: the largest ``short_trades`` count."""

INTEREST_HISTORY = 90
"""Reports served per symbol: the largest ``short_interest`` count."""

Record = dict[str, object]
"""One record as it goes on the wire."""

Restated = Mapping[int, Sequence[float]]
"""Index in an answer -> factor per quantity of that record (:mod:`.restate` makes them)."""

QUANTITIES: dict[tuple[str, str], tuple[str, ...]] = {
    ("US", "short_trades"): ("short_volume", "total_volume"),
    ("HK", "short_trades"): ("short_turnover", "total_turnover", "short_balance"),
    ("US", "short_interest"): ("short_shares", "avg_daily_share_volume", "avg_daily_short_volume"),
    ("HK", "short_interest"): ("short_shares", "avg_daily_short_volume", "avg_cost"),
    ("US", "short_positions"): ("short_shares", "avg_daily_share_volume"),
    ("HK", "short_positions"): ("short_shares", "avg_cost"),
}
"""Per (market, endpoint), the quantities a restatement may change, in factor order.

``short_volume`` is the US short-sale volume (``nus_amount`` and ``ny_amount``),
``short_shares`` the short position (``shares_short``, ``aggregated_short``,
``current_shares_short``, HK ``balance`` of short positions); the others are
named after their fields (HK positions' ``cost`` is ``avg_cost``).
"""

MAX_QUANTITIES = max(len(names) for names in QUANTITIES.values())
"""Length of a record's factor list (a market with fewer quantities ignores the rest)."""

# The HKEX spread table in thousandths of a dollar: below each limit, its tick.
_HK_LIMITS = (250, 500, 10_000, 20_000, 100_000, 200_000, 500_000, 1_000_000, 2_000_000)
_HK_TICKS = (1, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)

_CYCLE = 71 * 17
"""Days in which the price wave repeats: a slow 71-day and a fast 17-day swing."""

_WAVE = tuple(
    math.exp(0.15 * math.sin(math.tau * n / 71) + 0.06 * math.sin(math.tau * n / 17))
    for n in range(_CYCLE)
)
"""The price factor of each day of the cycle. 71 and 17 are coprime, so a
symbol's own offset into the cycle shifts both swings independently."""


@dataclass(frozen=True, slots=True)
class Profile:
    """Per-symbol constants that daily figures vary around (see :func:`profile`)."""

    market: str
    rows: tuple[tuple[float, ...], ...]  # draws.pool(), kept here to save a call a day
    start: int  # where the symbol's walk through the pool starts
    stride: int
    phase: int  # the symbol's offset into the price wave's cycle
    price: float  # in thousandths, like every price here
    volume: float  # US: shares a day; HK: turnover a day, HKD
    short_ratio: float  # short share of the day's volume or turnover
    nyse_share: float  # US: part of short volume reported by NYSE (0 = none)
    float_shares: float  # shares outstanding in the float
    interest_pct: float  # short interest as a fraction of the float


@functools.lru_cache(maxsize=4096)
def profile(symbol: Symbol) -> Profile:
    """The symbol's constants, drawn from its own digest (bounded cache: it is small)."""
    w = words(b"profile|" + symbol.canonical.encode())
    price = log_uniform(w[0], 10, 900)
    if symbol.market == "US":
        volume = log_uniform(w[3], 5e6, 8e7)
        ratio = uniform(w[4], 0.3, 0.55)
        nyse = 0.0 if w[5] < 2**31 else uniform(w[6], 0.05, 0.3)
        pct = log_uniform(w[7], 0.005, 0.15)
        # Float of 30..300 days of volume keeps days-to-cover mostly under 10.
        float_shares = volume * log_uniform(w[8], 30, 300)
    else:
        volume = log_uniform(w[3], 5e7, 5e9)
        ratio = uniform(w[4], 0.03, 0.3)
        nyse = 0.0
        pct = uniform(w[7], 0.001, 0.05)
        float_shares = volume / price * uniform(w[8], 200, 2000)
    start, stride = walk(w[14], w[15])
    phase = w[1] % _CYCLE
    return Profile(
        market=symbol.market,
        rows=pool(),
        start=start,
        stride=stride,
        phase=phase,
        price=price * 1000,
        volume=volume,
        short_ratio=ratio,
        nyse_share=nyse,
        float_shares=float_shares,
        interest_pct=pct,
    )


def day_draws(p: Profile, ordinal: int) -> tuple[tuple[float, ...], int]:
    """The symbol's draws for the day with that ordinal, and its close in thousandths.

    The close is a smooth wave plus daily noise, on the exchange's tick grid.
    A row (see draws.NORMALS) holds normals 0-11, then uniforms 12-15: the close
    takes normal 0, short_trades normals 1-2 and uniform 12, short_interest
    normals 3-5, the OpenAPI's short positions (:mod:`.positions`) normals 8-10;
    so every data set agrees on a day's close.
    """
    row = p.rows[(p.start + ordinal * p.stride) % POOL_SIZE]
    mils = p.price * _WAVE[(ordinal + p.phase) % _CYCLE] * (1 + 0.01 * row[0])
    if p.market == "US":
        return row, int(mils * 0.1 + 0.5) * 10  # to the cent
    # Round to the HKEX spread table so prices look like real quotes.
    tick = _HK_TICKS[bisect.bisect_right(_HK_LIMITS, mils)]
    return row, int(mils / tick + 0.5) * tick


def hk_price_text(mils: int) -> str:
    """An HK price as the wire writes it: no trailing zeros (``449.2``, ``300``)."""
    whole, part = divmod(mils, 1000)
    return f"{whole}.{part:03d}".rstrip("0") if part else str(whole)


def ratio(short: int, total: int) -> str:
    """``short / total`` rounded half-up to four decimals, as the wire writes it."""
    if total == 0:
        return "0.0000"
    # Exact integer rounding, the same as Decimal's ROUND_HALF_UP at 0.0001.
    units = (20000 * short + total) // (2 * total)
    if 0 <= units <= 10000:
        return _rate_texts()[units]
    whole, part = divmod(units, 10000)
    return f"{whole}.{part:04d}"


@functools.cache
def _rate_texts() -> tuple[str, ...]:
    """Every ratio from 0.0000 to 1.0000 as text, made on first use.

    Formatting one per record cost as much as the rest of its arithmetic.
    """
    return tuple(f"{units // 10000}.{units % 10000:04d}" for units in range(10001))


def window(
    endpoint: str, market: str, newest: dt.date, closed: frozenset[dt.date] = NO_HOLIDAYS
) -> tuple[Day, ...]:
    """Every record date the endpoint serves when ``newest`` is the newest, newest first;
    ``closed``: the market's holidays."""
    if endpoint == "short_trades":
        return trading_window(newest, market, TRADES_HISTORY, closed)
    return report_window(newest, market, INTEREST_HISTORY, closed)


def short_trades(
    symbol: Symbol, anchor: dt.date, count: int, restated: Restated | None = None
) -> list[Record]:
    """The newest ``count`` daily records on or before ``anchor``, newest first.

    ``restated`` maps an index of the answer to the factors its record's
    :data:`QUANTITIES` are multiplied by (see :mod:`.restate`).
    """
    return trades_on(symbol, window("short_trades", symbol.market, anchor)[:count], restated)


def trades_on(
    symbol: Symbol, days: Sequence[Day], restated: Restated | None = None
) -> list[Record]:
    """The daily records of these trading days, in their order, as :func:`short_trades`."""
    p = profile(symbol)
    make = _us_trade if p.market == "US" else _hk_trade
    records = [make(p, day) for day in days]
    if restated:
        restate(p, records, restated, _RESTATERS[p.market, "short_trades"])
    return records


def short_interest(
    symbol: Symbol, anchor: dt.date, count: int, restated: Restated | None = None
) -> list[Record]:
    """The newest ``count`` short interest reports on or before ``anchor``, as ``short_trades``."""
    return interest_on(symbol, window("short_interest", symbol.market, anchor)[:count], restated)


def interest_on(
    symbol: Symbol, days: Sequence[Day], restated: Restated | None = None
) -> list[Record]:
    """The short interest reports of these report dates, in their order, as :func:`trades_on`."""
    p = profile(symbol)
    make = _us_interest if p.market == "US" else _hk_interest
    records = [make(p, day) for day in days]
    if restated:
        restate(p, records, restated, _RESTATERS[p.market, "short_interest"])
    return records


def _us_trade(p: Profile, day: Day) -> Record:
    r, close = day_draws(p, day.ordinal)
    total = int(p.volume * math.exp(0.35 * r[1]))
    short = int(total * min(max(p.short_ratio + 0.06 * r[2], 0.05), 0.95))
    nyse = int(short * p.nyse_share * (0.7 + 0.6 * r[12]))
    return {
        "timestamp": day.stamp,
        "nus_amount": str(short - nyse),
        "ny_amount": str(nyse),
        "total_amount": str(total),
        "rate": ratio(short, total),
        "close": f"{close / 1000:.3f}",
    }


def _hk_trade(p: Profile, day: Day) -> Record:
    r, close = day_draws(p, day.ordinal)
    total = int(p.volume * math.exp(0.4 * r[1]))
    share = min(max(p.short_ratio + 0.04 * r[2], 0.005), 0.6)
    # HKEX publishes short turnover rounded to the thousand dollars.
    amount = int(total * share) // 1000 * 1000
    balance = int(amount * (200 + 400 * r[12])) // 100 * 100
    return {
        "timestamp": day.stamp,
        "amount": str(amount),
        "balance": f"{balance}.00",
        "total_amount": str(total),
        "rate": ratio(amount, total),
        "close": hk_price_text(close),
    }


def _us_interest(p: Profile, day: Day) -> Record:
    r, close = day_draws(p, day.ordinal)
    last_close = day_draws(p, day.previous)[1]
    pct = min(p.interest_pct * math.exp(0.15 * r[3]), 0.4)
    shares_short = int(p.float_shares * pct)
    daily_volume = int(p.volume * math.exp(0.2 * r[4]))
    return {
        "timestamp": day.millis,
        "timestamp_str": day.text,
        "shares_short": str(shares_short),
        "short_percent": round(shares_short / p.float_shares * 100, 2),
        "avg_daily_share_volume": str(daily_volume),
        "days_to_cover": max(round(shares_short / daily_volume, 2), 0.01),
        "close_price": close / 1000,
        "last_close_price": last_close / 1000,
        "avg_daily_short_volume": str(int(daily_volume * p.short_ratio)),
    }


def _hk_interest(p: Profile, day: Day) -> Record:
    r, close = day_draws(p, day.ordinal)
    last_close = day_draws(p, day.previous)[1]
    aggregated = int(p.float_shares * p.interest_pct * math.exp(0.15 * r[3]))
    daily_shares = p.volume / p.price * 1000 * p.short_ratio * math.exp(0.3 * r[4])
    return {
        "timestamp": day.millis,
        "timestamp_str": day.text,
        "aggregated_short": str(aggregated),
        "aggregated_short_ratio": round(aggregated / p.float_shares * 100, 2),
        "close_price": close / 1000,
        "last_close_price": last_close / 1000,
        "avg_cost": round(close / 1000 * (1 + 0.02 * r[5]), 3),
        "avg_daily_short_volume": str(int(daily_shares)),
    }


# Restating works on a record as first published, in place: its quantities are scaled
# and the figures derived from them recomputed with the builders' own formulas. Only
# the few restated records pay for it; the others are built as they always were.


Restater = Callable[[Profile, Record, Sequence[float]], None]
"""Changes one record in place by its factors, recomputing what derives from them."""


def restate(p: Profile, records: list[Record], restated: Restated, change: Restater) -> None:
    """Apply the factors of ``restated`` to the records at those indices, by ``change``."""
    for index, factors in restated.items():
        if index < len(records):
            change(p, records[index], factors)


def _us_trade_restated(p: Profile, r: Record, f: Sequence[float]) -> None:
    total = int(int(str(r["total_amount"])) * f[1])
    nyse = int(int(str(r["ny_amount"])) * f[0])
    nasdaq = min(int(int(str(r["nus_amount"])) * f[0]), total - nyse)
    r.update(
        nus_amount=str(nasdaq),
        ny_amount=str(nyse),
        total_amount=str(total),
        rate=ratio(nasdaq + nyse, total),
    )


def _hk_trade_restated(p: Profile, r: Record, f: Sequence[float]) -> None:
    total = int(int(str(r["total_amount"])) * f[1])
    amount = min(int(int(str(r["amount"])) * f[0]) // 1000 * 1000, total)
    balance = int(int(str(r["balance"]).removesuffix(".00")) * f[2]) // 100 * 100
    r.update(
        amount=str(amount),
        balance=f"{balance}.00",
        total_amount=str(total),
        rate=ratio(amount, total),
    )


def _us_interest_restated(p: Profile, r: Record, f: Sequence[float]) -> None:
    shares_short = int(int(str(r["shares_short"])) * f[0])
    daily_volume = int(int(str(r["avg_daily_share_volume"])) * f[1])
    r.update(
        shares_short=str(shares_short),
        short_percent=round(shares_short / p.float_shares * 100, 2),
        avg_daily_share_volume=str(daily_volume),
        days_to_cover=max(round(shares_short / daily_volume, 2), 0.01),
        avg_daily_short_volume=str(int(int(str(r["avg_daily_short_volume"])) * f[2])),
    )


def _hk_interest_restated(p: Profile, r: Record, f: Sequence[float]) -> None:
    aggregated = int(int(str(r["aggregated_short"])) * f[0])
    r.update(
        aggregated_short=str(aggregated),
        aggregated_short_ratio=round(aggregated / p.float_shares * 100, 2),
        avg_daily_short_volume=str(int(int(str(r["avg_daily_short_volume"])) * f[1])),
        avg_cost=round(float(str(r["avg_cost"])) * f[2], 3),
    )


_RESTATERS = {
    ("US", "short_trades"): _us_trade_restated,
    ("HK", "short_trades"): _hk_trade_restated,
    ("US", "short_interest"): _us_interest_restated,
    ("HK", "short_interest"): _hk_interest_restated,
}
"""Per (market, endpoint): how a restatement changes a record, in QUANTITIES order."""
