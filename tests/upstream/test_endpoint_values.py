"""Record values map to typed columns: an unusable value becomes None plus one warning.

Pure: records in, rows and a warning count out, no network and no event loop. A
property closes it: no JSON value in any field breaks ``map_records``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.catalog import ROW_HEAD
from harvester.model import MARKET_TZ, Symbol
from harvester.upstream.endpoints import ADAPTERS, Adapter

TRADES = ADAPTERS["short_trades"]
INTEREST = ADAPTERS["short_interest"]
TSLA = Symbol("TSLA", "US")
SYMBOLS = {"US": TSLA, "HK": Symbol("700", "HK")}
MISSING = ...  # with_value leaves the field out

Records = Mapping[tuple[str, str], Mapping[str, Any]]
WithValue = Callable[..., dict[str, Any]]


def column(adapter: Adapter, name: str) -> int:
    """The index of data column ``name`` in a row."""
    return len(ROW_HEAD) + [c.name for c in adapter.columns].index(name)


# Value mapping -----------------------------------------------------------------------------

BAD_VALUES = [
    "N/A",
    "",
    MISSING,
    None,
    "NaN",
    "nan",
    "1e309",
    "-5",
    -5,
    -0.5,
    True,
    False,
    "1" * 100,
    float("nan"),
    float("inf"),
    "abc",
    [],
    {},
]
FIELDS = [
    # adapter, market, source field, column
    (TRADES, "US", "nus_amount", "nasdaq_short_volume"),
    (TRADES, "US", "total_amount", "total_volume"),
    (TRADES, "US", "close", "close"),
    (TRADES, "HK", "amount", "short_turnover"),
    (TRADES, "HK", "rate", "short_ratio"),
    (INTEREST, "US", "shares_short", "short_shares"),
    (INTEREST, "US", "days_to_cover", "days_to_cover"),
    (INTEREST, "HK", "aggregated_short_ratio", "short_percent"),
    (INTEREST, "HK", "avg_daily_short_volume", "avg_daily_short_volume"),
]


@pytest.mark.parametrize(
    ("adapter", "market", "field", "name"), FIELDS, ids=lambda v: getattr(v, "name", v)
)
@pytest.mark.parametrize("value", BAD_VALUES, ids=repr)
def test_an_unusable_value_is_none_with_one_warning_and_the_rest_is_kept(
    records: Records,
    with_value: WithValue,
    adapter: Adapter,
    market: str,
    field: str,
    name: str,
    value: Any,
) -> None:
    symbol = SYMBOLS[market]
    record = records[adapter.name, market]
    good = adapter.map_records(symbol, [record])
    assert good.warnings == 0
    parsed = adapter.map_records(symbol, [with_value(record, field, value)])
    assert parsed.warnings == 1
    assert len(parsed.rows) == 1
    index = column(adapter, name)
    assert good.rows[0][index] is not None
    assert parsed.rows[0][index] is None
    expected = list(good.rows[0])
    expected[index] = None
    assert list(parsed.rows[0]) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5748485", 5748485), ("5748485.0", 5748485), (" 42 ", 42), (7, 7), (7.0, 7), ("0", 0)],
)
def test_share_counts_accept_whole_numbers_in_any_spelling(
    records: Records, with_value: WithValue, value: Any, expected: int
) -> None:
    record = with_value(records["short_trades", "US"], "nus_amount", value)
    parsed = TRADES.map_records(TSLA, [record])
    result = parsed.rows[0][column(TRADES, "nasdaq_short_volume")]
    assert result == expected
    assert type(result) is int
    assert parsed.warnings == 0


@pytest.mark.parametrize("value", ["1.5", 1.5, str(2**63), 2**63])
def test_share_counts_refuse_fractions_and_values_beyond_int64(
    records: Records, with_value: WithValue, value: Any
) -> None:
    record = with_value(records["short_trades", "US"], "nus_amount", value)
    parsed = TRADES.map_records(TSLA, [record])
    assert parsed.rows[0][column(TRADES, "nasdaq_short_volume")] is None
    assert parsed.warnings == 1


def test_several_unusable_values_in_one_record_count_one_warning_each(records: Records) -> None:
    record = {**records["short_trades", "US"], "nus_amount": "N/A", "rate": None, "close": "NaN"}
    del record["ny_amount"]
    parsed = TRADES.map_records(TSLA, [record])
    assert parsed.warnings == 4
    assert parsed.rows == (
        ("TSLA.US", "US", "2026-05-15", None, None, 15778974, None, None, None, None, None),
    )


@pytest.mark.parametrize("adapter", [TRADES, INTEREST], ids=lambda a: a.name)
@pytest.mark.parametrize("record", [None, "row", 5, [1, 2]], ids=repr)
def test_a_record_that_is_not_an_object_is_skipped_with_a_warning(
    records: Records, adapter: Adapter, record: Any
) -> None:
    good = records[adapter.name, "US"]
    parsed = adapter.map_records(TSLA, [record, good])
    assert len(parsed.rows) == 1
    assert parsed.warnings == 1


# Property: no value breaks map_records -----------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)


@settings(database=None, deadline=None, max_examples=300)
@given(data=st.data())
def test_any_json_value_in_any_field_maps_to_typed_values_or_none(
    records: Records, data: st.DataObject
) -> None:
    key = data.draw(st.sampled_from(sorted(records)), label="key")
    fields = sorted({name for record in records.values() for name in record})
    field = data.draw(st.sampled_from(fields), label="field")
    value = data.draw(JSON_VALUES | st.just(MISSING), label="value")
    adapter = ADAPTERS[key[0]]
    record = records[key]
    if value is MISSING:
        record = {k: v for k, v in record.items() if k != field}
    else:
        record = {**record, field: value}
    symbol = SYMBOLS[key[1]]
    parsed = adapter.map_records(symbol, [record])
    assert len(parsed.rows) <= 1
    # One warning per date problem, per record dropped and per mapped value left None.
    mapped = {spec.column for spec in adapter.fields[symbol.market]}
    unusable = sum(
        cell is None
        for row in parsed.rows
        for spec, cell in zip(adapter.columns, row[len(ROW_HEAD) :], strict=True)
        if spec.name in mapped
    )
    _, date_warnings = adapter.record_dates([record], MARKET_TZ[symbol.market])
    assert parsed.warnings == date_warnings + (1 - len(parsed.rows)) + unusable
    for row in parsed.rows:
        assert len(row) == len(ROW_HEAD) + len(adapter.columns)
        for spec, cell in zip(adapter.columns, row[len(ROW_HEAD) :], strict=True):
            if cell is None:
                continue
            if spec.type == "INTEGER":
                assert type(cell) is int
                assert 0 <= cell < 2**63
            else:
                assert type(cell) is float
                assert math.isfinite(cell)
                assert cell >= 0
