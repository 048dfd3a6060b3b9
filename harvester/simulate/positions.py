"""Short positions, the OpenAPI dialect's second data set: deterministic figures per report date.

Records stand for the short interest report dates of :mod:`.dates` (US: the
15th and the month end; HK: Fridays) and draw on the same per-symbol profile
and daily pool rows as :mod:`.data` (normals 8-10 of a day's row), so a day's
close agrees with the other data sets, while the position figures are their
own. Every value is a string, as the OpenAPI sends them:

- US: ``rate`` (short shares / float, a fraction to four places), ``close``,
  ``current_shares_short``, ``avg_daily_share_volume``, ``days_to_cover``.
- HK: ``rate`` (as US), ``close``, ``amount`` (the position's value in HKD:
  ``balance`` x ``close``), ``balance`` (shares short), ``cost`` (average cost).

These are not the gateway dialect's short interest fields, nor their meaning.
A restatement (:mod:`.restate`) scales the short shares or the second quantity
of :data:`.data.QUANTITIES`; what derives from them follows, the close never moves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .data import Profile, Record, Restated, day_draws, hk_price_text, profile, ratio, restate
from .dates import Day
from .symbols import Symbol

_SHARES, _VOLUME, _COST = 8, 9, 10
"""Which normals of a day's pool row the figures take (data.day_draws documents the rest)."""


def positions_on(
    symbol: Symbol, days: Sequence[Day], restated: Restated | None = None
) -> list[Record]:
    """The records of these report dates, in their order; ``restated`` as in :mod:`.data`."""
    p = profile(symbol)
    us = p.market == "US"
    records = [(_us_position if us else _hk_position)(p, day) for day in days]
    if restated:
        restate(p, records, restated, _us_restated if us else _hk_restated)
    return records


def _float(p: Profile) -> int:
    """Shares in the float, whole: the denominator of ``rate``."""
    return max(int(p.float_shares), 1)


def _cover(shares: int, volume: int) -> str:
    """Days to cover, two places, never shown as zero."""
    return f"{max(shares / max(volume, 1), 0.01):.2f}"


def _us_position(p: Profile, day: Day) -> Record:
    r, close = day_draws(p, day.ordinal)
    shares = int(p.float_shares * min(p.interest_pct * math.exp(0.15 * r[_SHARES]), 0.4))
    volume = int(p.volume * math.exp(0.2 * r[_VOLUME]))
    return {
        "timestamp": str(day.seconds),
        "rate": ratio(shares, _float(p)),
        "close": f"{close / 1000:.3f}",
        "current_shares_short": str(shares),
        "avg_daily_share_volume": str(volume),
        "days_to_cover": _cover(shares, volume),
    }


def _hk_position(p: Profile, day: Day) -> Record:
    r, close = day_draws(p, day.ordinal)
    balance = int(p.float_shares * min(p.interest_pct * math.exp(0.15 * r[_SHARES]), 0.4))
    cost = int(close * (1 + 0.02 * r[_COST]) + 0.5)
    return {
        "timestamp": str(day.seconds),
        "rate": ratio(balance, _float(p)),
        "close": hk_price_text(close),
        "amount": str(balance * close // 1000),
        "balance": str(balance),
        "cost": hk_price_text(cost),
    }


def _us_restated(p: Profile, r: Record, f: Sequence[float]) -> None:
    shares = int(int(str(r["current_shares_short"])) * f[0])
    volume = int(int(str(r["avg_daily_share_volume"])) * f[1])
    r.update(
        rate=ratio(shares, _float(p)),
        current_shares_short=str(shares),
        avg_daily_share_volume=str(volume),
        days_to_cover=_cover(shares, volume),
    )


def _hk_restated(p: Profile, r: Record, f: Sequence[float]) -> None:
    balance = int(int(str(r["balance"])) * f[0])
    close = _mils(str(r["close"]))
    r.update(
        rate=ratio(balance, _float(p)),
        amount=str(balance * close // 1000),
        balance=str(balance),
        cost=hk_price_text(int(_mils(str(r["cost"])) * f[1] + 0.5)),
    )


def _mils(text: str) -> int:
    """A price as the wire writes it, back in thousandths (exact: at most three places)."""
    whole, _, part = text.partition(".")
    return int(whole) * 1000 + int((part + "000")[:3])
