"""Each record gets its day in the exchange's zone; a record without a usable day is dropped.

Pure: records in, rows and a warning count out, no network and no event loop. Covers the
short_trades timestamp, the short_interest ``timestamp_str`` and ``timestamp`` and their
disagreements, and the same day sent twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harvester.model import Symbol
from harvester.upstream.endpoints import ADAPTERS, Adapter

TRADES = ADAPTERS["short_trades"]
INTEREST = ADAPTERS["short_interest"]
TSLA = Symbol("TSLA", "US")
TENCENT = Symbol("700", "HK")
MISSING = ...  # with_value leaves the field out

Records = dict[tuple[str, str], dict[str, Any]]
WithValue = Callable[..., dict[str, Any]]


def test_the_same_instant_is_a_different_day_in_new_york_and_hong_kong(records: Records) -> None:
    record = {**records["short_trades", "US"], "timestamp": "2026-05-17T16:00:00Z"}
    assert TRADES.map_records(TSLA, [record]).rows[0][2] == "2026-05-17"
    assert TRADES.map_records(TENCENT, [record]).rows[0][2] == "2026-05-18"


# Records without a usable date -------------------------------------------------------------


@pytest.mark.parametrize(
    "timestamp",
    [
        "yesterday",
        "",
        None,
        MISSING,
        1778774400000,
        True,
        "2026-05-15",
        "2026-05-15T04:00:00",  # no offset: refuse to guess the zone
        "2026-13-45T00:00:00Z",
        "1970-01-02T00:00:00Z",
        "9999-06-01T00:00:00Z",
        "2026-05-15T04:00:00Z" + "0" * 80,
    ],
    ids=repr,
)
def test_a_short_trades_record_without_a_usable_date_is_dropped_with_a_warning(
    records: Records,
    with_value: WithValue,
    timestamp: Any,
) -> None:
    us_trade = records["short_trades", "US"]
    pair = [
        with_value(us_trade, "timestamp", timestamp),
        {**us_trade, "timestamp": "2026-05-14T04:00:00Z"},
    ]
    parsed = TRADES.map_records(TSLA, pair)
    assert [row[2] for row in parsed.rows] == ["2026-05-14"]
    assert parsed.warnings == 1


@pytest.mark.parametrize(
    ("symbol", "timestamp"),
    [(TENCENT, "9999-12-31T23:00:00Z"), (TSLA, "0001-01-01T00:00:00+01:00")],
)
def test_a_short_trades_timestamp_at_the_edge_of_time_is_dropped(
    records: Records, symbol: Symbol, timestamp: str
) -> None:
    record = {**records["short_trades", symbol.market], "timestamp": timestamp}
    parsed = TRADES.map_records(symbol, [record])
    assert parsed.rows == ()
    assert parsed.warnings == 1


@pytest.mark.parametrize(
    ("timestamp", "timestamp_str"),
    [
        (0, MISSING),
        (0, "1970-01-01"),
        (MISSING, MISSING),
        ("1778774400000", MISSING),
        (253_370_764_800_000, "9999-01-01"),
        (1778774400000.0, None),
    ],
    ids=repr,
)
def test_a_short_interest_record_without_a_usable_date_is_dropped_with_a_warning(
    records: Records, with_value: WithValue, timestamp: Any, timestamp_str: Any
) -> None:
    record = with_value(
        with_value(records["short_interest", "HK"], "timestamp", timestamp),
        "timestamp_str",
        timestamp_str,
    )
    parsed = INTEREST.map_records(TENCENT, [record])
    assert parsed.rows == ()
    assert parsed.warnings >= 1


def test_a_short_interest_timestamp_at_the_end_of_time_is_dropped(
    records: Records, with_value: WithValue
) -> None:
    record = with_value(
        {**records["short_interest", "HK"], "timestamp": 253_402_300_799_000},
        "timestamp_str",
        MISSING,
    )
    parsed = INTEREST.map_records(TENCENT, [record])
    assert parsed.rows == ()


# Which day a record is -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("adapter", "symbol", "first", "second"),
    [
        (TRADES, TSLA, {"close": "1.0"}, {"close": "2.0"}),
        # Different instants, same New York day.
        (TRADES, TSLA, {"close": "1.0"}, {"timestamp": "2026-05-15T20:00:00Z", "close": "2.0"}),
        (INTEREST, TENCENT, {"close_price": 1.0}, {"close_price": 2.0}),
    ],
)
def test_the_same_day_twice_keeps_the_first_with_a_warning(
    records: Records,
    adapter: Adapter,
    symbol: Symbol,
    first: dict[str, Any],
    second: dict[str, Any],
) -> None:
    base = records[adapter.name, symbol.market]
    parsed = adapter.map_records(symbol, [{**base, **first}, {**base, **second}])
    assert len(parsed.rows) == 1
    assert parsed.rows[0][-1 if adapter is TRADES else -2] == 1.0
    assert parsed.warnings == 1


def test_short_interest_timestamp_str_wins_over_a_disagreeing_timestamp(
    records: Records,
) -> None:
    record = {**records["short_interest", "HK"], "timestamp_str": "2026-05-14"}
    # ... and its timestamp says 2026-05-15.
    parsed = INTEREST.map_records(TENCENT, [record])
    assert [row[2] for row in parsed.rows] == ["2026-05-14"]
    assert parsed.warnings == 1


@pytest.mark.parametrize("timestamp_str", [MISSING, None, "15/05/2026", "2026-5-15", 20260515])
def test_short_interest_without_timestamp_str_takes_the_day_of_timestamp(
    records: Records,
    with_value: WithValue,
    timestamp_str: Any,
) -> None:
    record = with_value(records["short_interest", "HK"], "timestamp_str", timestamp_str)
    parsed = INTEREST.map_records(TENCENT, [record])
    assert [row[2] for row in parsed.rows] == ["2026-05-15"]
    assert parsed.warnings == 1
