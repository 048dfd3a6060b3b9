"""A record dated after tomorrow, tomorrow taken in the exchange's zone, is dropped with a warning.

Pure: ``now`` is passed in (or the real clock, for a year far away), no network and no event
loop.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from harvester.model import MARKET_TZ, Symbol
from harvester.upstream.endpoints import ADAPTERS, Adapter

TRADES = ADAPTERS["short_trades"]
INTEREST = ADAPTERS["short_interest"]
TSLA = Symbol("TSLA", "US")
TENCENT = Symbol("700", "HK")
BOTH = pytest.mark.parametrize("adapter", [TRADES, INTEREST], ids=lambda a: a.name)
NOW = datetime(2026, 5, 15, 12, 0, tzinfo=UTC)  # 08:00 in New York, 20:00 in Hong Kong

Records = dict[tuple[str, str], dict[str, Any]]
Dated = Callable[[Adapter, Symbol, str], dict[str, Any]]


@pytest.fixture
def dated(records: Records) -> Dated:
    """``dated(adapter, symbol, day)``: a good record of ``day`` in the exchange's zone."""

    def make(adapter: Adapter, symbol: Symbol, day: str) -> dict[str, Any]:
        base = records[adapter.name, symbol.market]
        us = symbol.market == "US"
        if adapter is TRADES:  # midnight of that day in the exchange's zone, in UTC
            stamp = date.fromisoformat(day) - timedelta(days=0 if us else 1)
            return {**base, "timestamp": f"{stamp}{'T04:00:00Z' if us else 'T16:00:00Z'}"}
        # A short_interest report, its timestamp agreeing with its timestamp_str.
        zone = ZoneInfo(MARKET_TZ[symbol.market])
        midnight = datetime.combine(date.fromisoformat(day), time(), zone)
        return {**base, "timestamp": int(midnight.timestamp()) * 1000, "timestamp_str": day}

    return make


def envelope(adapter: Adapter, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A successful answer of ``adapter``'s endpoint carrying ``items``."""
    if adapter is TRADES:
        return {"code": 0, "message": "success", "data": items}
    return {"ret_code": 0, "ret_msg": "success", "data": {"items": items}}


@BOTH
@pytest.mark.parametrize("symbol", [TSLA, TENCENT], ids=str)
def test_a_record_dated_after_tomorrow_is_dropped_with_a_warning(
    dated: Dated, adapter: Adapter, symbol: Symbol
) -> None:
    days = ["2026-05-16", "2026-05-17", "2026-05-15", "2026-05-14"]  # tomorrow, the day after...
    parsed = adapter.map_records(symbol, [dated(adapter, symbol, day) for day in days], now=NOW)
    assert [row[2] for row in parsed.rows] == ["2026-05-16", "2026-05-15", "2026-05-14"]
    assert parsed.warnings == 1
    every = adapter.map_records(
        symbol, [dated(adapter, symbol, day) for day in days], now=NOW + timedelta(days=1)
    )
    assert [row[2] for row in every.rows] == days
    assert every.warnings == 0


@BOTH
@pytest.mark.parametrize(
    ("symbol", "now", "kept", "dropped"),
    [
        # 00:59 on the 16th in Hong Kong, still the 15th in UTC.
        (TENCENT, datetime(2026, 5, 15, 16, 59, tzinfo=UTC), "2026-05-17", "2026-05-18"),
        # 23:59 on the 15th in Hong Kong.
        (TENCENT, datetime(2026, 5, 15, 15, 59, tzinfo=UTC), "2026-05-16", "2026-05-17"),
        # 23:00 on the 15th in New York, already the 16th in UTC.
        (TSLA, datetime(2026, 5, 16, 3, 0, tzinfo=UTC), "2026-05-16", "2026-05-17"),
        # 00:00 on the 16th in New York.
        (TSLA, datetime(2026, 5, 16, 4, 0, tzinfo=UTC), "2026-05-17", "2026-05-18"),
    ],
)
def test_tomorrow_is_taken_in_the_exchanges_zone(
    dated: Dated, adapter: Adapter, symbol: Symbol, now: datetime, kept: str, dropped: str
) -> None:
    records = [dated(adapter, symbol, day) for day in ("2026-05-14", dropped, kept)]
    parsed = adapter.map_records(symbol, records, now=now)
    assert [row[2] for row in parsed.rows] == ["2026-05-14", kept]
    assert parsed.warnings == 1


@pytest.mark.parametrize(
    ("adapter", "symbol", "days"),
    [
        (TRADES, TENCENT, ["2026-05-18", "2026-05-17"]),
        (INTEREST, TENCENT, ["2026-05-18", "2026-05-17"]),
        (INTEREST, TSLA, ["2026-05-17", "2026-05-16"]),
    ],
)
def test_parse_drops_records_after_tomorrow_relative_to_its_now(
    parse: Callable[..., Any], dated: Dated, adapter: Adapter, symbol: Symbol, days: list[str]
) -> None:
    now = datetime(2026, 5, 15, 17, 0, tzinfo=UTC)  # the 16th in Hong Kong, the 15th in New York
    body = envelope(adapter, [dated(adapter, symbol, day) for day in days])
    parsed = parse(adapter, body, symbol, now=now)
    tomorrow = "2026-05-17" if symbol is TENCENT else "2026-05-16"
    assert [row[2] for row in parsed.rows] == [tomorrow]
    assert parsed.warnings == 1


@BOTH
def test_a_record_dated_2099_is_dropped_by_the_real_clock(
    parse: Callable[..., Any], dated: Dated, adapter: Adapter
) -> None:
    records = [dated(adapter, TSLA, "2099-01-01"), dated(adapter, TSLA, "2026-05-14")]
    parsed = adapter.map_records(TSLA, records)
    assert [row[2] for row in parsed.rows] == ["2026-05-14"]
    assert parsed.warnings == 1
    assert [row[2] for row in parse(adapter, envelope(adapter, records)).rows] == ["2026-05-14"]


def test_a_short_interest_date_after_tomorrow_is_the_stated_one(
    dated: Dated, with_value: Callable[..., dict[str, Any]]
) -> None:
    # timestamp_str decides the day; a sane timestamp does not save a future timestamp_str.
    record = {**dated(INTEREST, TENCENT, "2026-05-15"), "timestamp_str": "2026-05-18"}
    parsed = INTEREST.map_records(TENCENT, [record], now=NOW)
    assert parsed.rows == ()
    assert parsed.warnings == 2  # the disagreement, and the drop
    fallback = with_value(dated(INTEREST, TENCENT, "2026-05-18"), "timestamp_str", ...)
    parsed = INTEREST.map_records(TENCENT, [fallback], now=NOW)
    assert parsed.rows == ()
    assert parsed.warnings == 2  # the fallback to timestamp, and the drop


def test_the_ceiling_moves_with_the_clock_across_calls(dated: Dated) -> None:
    record = dated(TRADES, TSLA, "2026-05-17")
    assert TRADES.map_records(TSLA, [record], now=NOW).rows == ()
    assert len(TRADES.map_records(TSLA, [record], now=NOW + timedelta(days=1)).rows) == 1
    assert TRADES.map_records(TSLA, [record], now=NOW).rows == ()


def test_a_naive_now_is_refused(records: Records) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        TRADES.map_records(TSLA, [records["short_trades", "US"]], now=datetime(2026, 5, 15, 12, 0))
