"""Deterministic, realistic-looking records for any US or HK symbol.

Every number comes from ``random.Random`` seeded with ``zlib.crc32`` of the
canonical symbol (and of the date, for daily figures), never from ``hash()``,
so a symbol gives the same records in every process. Daily figures depend on
the date alone, not on the anchor, so moving the anchor shifts the window but
keeps the history. Records are plain dicts already in wire types: strings for
``short_trades``; ints, floats and strings for ``short_interest``.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math
import random
import zlib
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .dates import (
    epoch_ms,
    hk_report_dates,
    previous_trading_day,
    rfc3339_utc,
    trading_days,
    us_report_dates,
)
from .symbols import Symbol

TRADES_HISTORY = 100
"""Trading days kept per symbol: the largest ``short_trades`` count."""

INTEREST_HISTORY = 90
"""Reports kept per symbol: the largest ``short_interest`` count."""

Record = dict[str, object]
"""One record as it goes on the wire."""

_HK_TICKS = (
    (Decimal("0.25"), Decimal("0.001")),
    (Decimal("0.5"), Decimal("0.005")),
    (Decimal("10"), Decimal("0.01")),
    (Decimal("20"), Decimal("0.02")),
    (Decimal("100"), Decimal("0.05")),
    (Decimal("200"), Decimal("0.1")),
    (Decimal("500"), Decimal("0.2")),
    (Decimal("1000"), Decimal("0.5")),
    (Decimal("2000"), Decimal("1")),
)


def _rng(*parts: object) -> random.Random:
    """A generator seeded from the parts, identical in every process."""
    return random.Random(zlib.crc32("|".join(map(str, parts)).encode()))


@dataclass(frozen=True)
class _Profile:
    """Per-symbol constants that daily figures vary around."""

    price: float
    phases: tuple[float, float]
    volume: float  # US: shares a day; HK: turnover a day, HKD
    short_ratio: float  # short share of the day's volume or turnover
    nyse_share: float  # US: part of short volume reported by NYSE (0 = none)
    float_shares: float  # shares outstanding in the float
    interest_pct: float  # short interest as a fraction of the float


@functools.lru_cache(maxsize=4096)
def _profile(symbol: Symbol) -> _Profile:
    """The symbol's constants, drawn once from its crc32 seed."""
    rng = _rng(symbol.canonical)
    price = math.exp(rng.uniform(math.log(10), math.log(900)))
    phases = (rng.uniform(0, math.tau), rng.uniform(0, math.tau))
    if symbol.market == "US":
        volume = math.exp(rng.uniform(math.log(5e6), math.log(8e7)))
        ratio = rng.uniform(0.3, 0.55)
        nyse = rng.choice((0.0, rng.uniform(0.05, 0.3)))
        pct = math.exp(rng.uniform(math.log(0.005), math.log(0.15)))
        # Float of 30..300 days of volume keeps days-to-cover mostly under 10.
        float_shares = volume * math.exp(rng.uniform(math.log(30), math.log(300)))
    else:
        volume = math.exp(rng.uniform(math.log(5e7), math.log(5e9)))
        ratio = rng.uniform(0.03, 0.3)
        nyse = 0.0
        pct = rng.uniform(0.001, 0.05)
        float_shares = volume / price * rng.uniform(200, 2000)
    return _Profile(price, phases, volume, ratio, nyse, float_shares, pct)


def close_price(symbol: Symbol, day: dt.date) -> Decimal:
    """Closing price on ``day``: a smooth wave plus daily noise, on the tick grid."""
    p = _profile(symbol)
    n = day.toordinal()
    wave = 0.15 * math.sin(math.tau * n / 71 + p.phases[0])
    wave += 0.06 * math.sin(math.tau * n / 17 + p.phases[1])
    raw = p.price * math.exp(wave) * (1 + 0.01 * _rng(symbol.canonical, day, "close").gauss(0, 1))
    if symbol.market == "HK":
        return _hk_tick(Decimal(f"{raw:.6f}"))
    return Decimal(f"{raw:.2f}")


def _hk_tick(price: Decimal) -> Decimal:
    """Round to the HKEX spread table so prices look like real quotes."""
    tick = next((t for limit, t in _HK_TICKS if price < limit), Decimal("2"))
    return ((price / tick).to_integral_value(ROUND_HALF_UP) * tick).normalize()


def ratio(short: int, total: int) -> str:
    """``short / total`` rounded half-up to four decimals, as the wire writes it."""
    if total == 0:
        return "0.0000"
    exact = Decimal(short) / Decimal(total)
    return str(exact.quantize(Decimal("0.0001"), ROUND_HALF_UP))


def short_trades(symbol: Symbol, anchor: dt.date, count: int) -> list[Record]:
    """The newest ``count`` daily records on or before ``anchor``, newest first.

    The dicts are shared with a cache: read them, don't change them.
    """
    return list(_trades_history(symbol, anchor)[:count])


def short_interest(symbol: Symbol, anchor: dt.date, count: int) -> list[Record]:
    """The newest ``count`` short interest reports on or before ``anchor``."""
    return list(_interest_history(symbol, anchor)[:count])


@functools.lru_cache(maxsize=1024)
def _trades_history(symbol: Symbol, anchor: dt.date) -> tuple[Record, ...]:
    days = itertools.islice(trading_days(anchor), TRADES_HISTORY)
    make = _us_trade if symbol.market == "US" else _hk_trade
    return tuple(make(symbol, day) for day in days)


@functools.lru_cache(maxsize=1024)
def _interest_history(symbol: Symbol, anchor: dt.date) -> tuple[Record, ...]:
    if symbol.market == "US":
        dates = itertools.islice(us_report_dates(anchor), INTEREST_HISTORY)
        return tuple(_us_interest(symbol, day) for day in dates)
    dates = itertools.islice(hk_report_dates(anchor), INTEREST_HISTORY)
    return tuple(_hk_interest(symbol, day) for day in dates)


def _us_trade(symbol: Symbol, day: dt.date) -> Record:
    p = _profile(symbol)
    rng = _rng(symbol.canonical, day, "trades")
    total = int(p.volume * math.exp(rng.gauss(0, 0.35)))
    short = int(total * min(max(p.short_ratio + rng.gauss(0, 0.06), 0.05), 0.95))
    nyse = int(short * p.nyse_share * rng.uniform(0.7, 1.3))
    return {
        "timestamp": rfc3339_utc(day, "US"),
        "nus_amount": str(short - nyse),
        "ny_amount": str(nyse),
        "total_amount": str(total),
        "rate": ratio(short, total),
        "close": f"{close_price(symbol, day):.3f}",
    }


def _hk_trade(symbol: Symbol, day: dt.date) -> Record:
    p = _profile(symbol)
    rng = _rng(symbol.canonical, day, "trades")
    total = int(p.volume * math.exp(rng.gauss(0, 0.4)))
    share = min(max(p.short_ratio + rng.gauss(0, 0.04), 0.005), 0.6)
    # HKEX publishes short turnover rounded to the thousand dollars.
    amount = int(total * share) // 1000 * 1000
    balance = int(amount * rng.uniform(200, 600)) // 100 * 100
    return {
        "timestamp": rfc3339_utc(day, "HK"),
        "amount": str(amount),
        "balance": f"{balance}.00",
        "total_amount": str(total),
        "rate": ratio(amount, total),
        "close": format(close_price(symbol, day), "f"),
    }


def _us_interest(symbol: Symbol, day: dt.date) -> Record:
    p = _profile(symbol)
    rng = _rng(symbol.canonical, day, "interest")
    shares_short = int(p.float_shares * min(p.interest_pct * math.exp(rng.gauss(0, 0.15)), 0.4))
    daily_volume = int(p.volume * math.exp(rng.gauss(0, 0.2)))
    return {
        "timestamp": epoch_ms(day, "US"),
        "timestamp_str": day.isoformat(),
        "shares_short": str(shares_short),
        "short_percent": round(shares_short / p.float_shares * 100, 2),
        "avg_daily_share_volume": str(daily_volume),
        "days_to_cover": max(round(shares_short / daily_volume, 2), 0.01),
        "close_price": float(close_price(symbol, day)),
        "last_close_price": float(close_price(symbol, previous_trading_day(day))),
        "avg_daily_short_volume": str(int(daily_volume * p.short_ratio)),
    }


def _hk_interest(symbol: Symbol, day: dt.date) -> Record:
    p = _profile(symbol)
    rng = _rng(symbol.canonical, day, "interest")
    aggregated = int(p.float_shares * p.interest_pct * math.exp(rng.gauss(0, 0.15)))
    close = close_price(symbol, day)
    daily_shares = p.volume / p.price * p.short_ratio * math.exp(rng.gauss(0, 0.3))
    return {
        "timestamp": epoch_ms(day, "HK"),
        "timestamp_str": day.isoformat(),
        "aggregated_short": str(aggregated),
        "aggregated_short_ratio": round(aggregated / p.float_shares * 100, 2),
        "close_price": float(close),
        "last_close_price": float(close_price(symbol, previous_trading_day(day))),
        "avg_cost": round(float(close) * (1 + rng.gauss(0, 0.02)), 3),
        "avg_daily_short_volume": str(int(daily_shares)),
    }
