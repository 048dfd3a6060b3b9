"""The API.md examples parse to exactly the expected rows; bodies that are not the envelope don't.

Pure: bytes in, rows or a MalformedResponse out, no network and no event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from harvester.errors import MalformedResponse
from harvester.model import Symbol
from harvester.upstream.endpoints import ADAPTERS, Adapter

TRADES = ADAPTERS["short_trades"]
INTEREST = ADAPTERS["short_interest"]
TSLA = Symbol("TSLA", "US")
TENCENT = Symbol("700", "HK")

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "api_examples"  # API.md's bodies
US_TRADES_EXAMPLE = (EXAMPLES / "us_short_trades.json").read_bytes()
HK_TRADES_EXAMPLE = (EXAMPLES / "hk_short_trades.json").read_bytes()
HK_INTEREST_EXAMPLE = (EXAMPLES / "hk_short_interest.json").read_bytes()

Parse = Callable[..., Any]


# The API.md examples ---------------------------------------------------------------------


def test_us_short_trades_example_gives_exactly_the_expected_row(parse: Parse) -> None:
    parsed = parse(TRADES, US_TRADES_EXAMPLE, TSLA)
    assert parsed.rows == (
        ("TSLA.US", "US", "2026-05-15", 5748485, 0, 15778974, None, None, None, 0.3643, 300.23),
    )
    assert parsed.warnings == 0
    row = parsed.rows[0]
    assert [type(value) for value in row[3:6]] == [int, int, int]
    assert [type(value) for value in row[9:]] == [float, float]


def test_hk_short_trades_example_is_dated_in_hong_kong_time(parse: Parse) -> None:
    parsed = parse(TRADES, HK_TRADES_EXAMPLE, TENCENT)
    assert parsed.rows == (
        (
            "700.HK",
            "HK",
            "2026-05-18",
            None,
            None,
            None,
            2926000.0,
            1318056100.0,
            29497076.0,
            0.0992,
            449.2,
        ),
    )
    assert parsed.warnings == 0
    assert [type(value) for value in parsed.rows[0][6:]] == [float] * 5


def test_hk_short_interest_example_gives_both_reports(parse: Parse) -> None:
    parsed = parse(INTEREST, HK_INTEREST_EXAMPLE, TENCENT)
    assert parsed.rows == (
        ("700.HK", "HK", "2026-05-15", 54177721, 0.59, 3755740, None, None, 456.399, 456.4, 454.9),
        ("700.HK", "HK", "2026-05-08", 44972868, 0.49, 2392820, None, None, 471.399, 466.1, 472.1),
    )
    assert parsed.warnings == 0
    for row in parsed.rows:
        assert [type(row[i]) for i in (3, 4, 5, 8, 9, 10)] == [int, float, int, float, float, float]


def test_a_us_short_interest_record_fills_the_us_columns(
    records: Mapping[tuple[str, str], Any],
) -> None:
    parsed = INTEREST.map_records(TSLA, [records["short_interest", "US"]])
    assert parsed.rows == (
        (
            "TSLA.US",
            "US",
            "2026-05-14",
            81234567,
            2.61,
            4123456,
            95123456,
            1.2,
            None,
            300.23,
            298.1,
        ),
    )
    assert parsed.warnings == 0


# Bodies that are not the envelope ----------------------------------------------------------


@pytest.mark.parametrize(
    ("adapter", "body"), [(TRADES, US_TRADES_EXAMPLE), (INTEREST, HK_INTEREST_EXAMPLE)]
)
@pytest.mark.parametrize("cut", [1, 10, 50, 120])
def test_truncated_json_is_malformed(parse: Parse, adapter: Adapter, body: bytes, cut: int) -> None:
    with pytest.raises(MalformedResponse):
        parse(adapter, body[:cut])


NOT_TRADES_ENVELOPES = [
    [],
    [1, 2],
    None,
    "success",
    0,
    {},
    {"message": "success", "data": []},
    {"code": None, "data": []},
    {"code": "zero", "data": []},
    {"code": True, "data": []},
    {"code": 0, "data": {}},
    {"code": 0, "data": "rows"},
    {"code": 0, "data": 5},
    {"ret_code": 0, "data": {"items": []}},
]
NOT_INTEREST_ENVELOPES = [
    [],
    None,
    "success",
    {},
    {"ret_msg": "success", "data": {"items": []}},
    {"ret_code": None},
    {"ret_code": "zero"},
    {"ret_code": 0, "data": []},
    {"ret_code": 0, "data": "items"},
    {"ret_code": 0, "data": {"items": {}}},
    {"ret_code": 0, "data": {"items": "x"}},
    {"code": 0, "data": []},
]


@pytest.mark.parametrize("body", NOT_TRADES_ENVELOPES)
def test_json_that_is_not_the_short_trades_envelope_is_malformed(parse: Parse, body: Any) -> None:
    with pytest.raises(MalformedResponse):
        parse(TRADES, body)


@pytest.mark.parametrize("body", NOT_INTEREST_ENVELOPES)
def test_json_that_is_not_the_short_interest_envelope_is_malformed(parse: Parse, body: Any) -> None:
    with pytest.raises(MalformedResponse):
        parse(INTEREST, body)


@pytest.mark.parametrize(
    ("adapter", "body"),
    [
        (TRADES, {"code": 0, "message": "success", "data": []}),
        (TRADES, {"code": 0, "message": "success"}),
        (INTEREST, {"ret_code": 0, "ret_msg": "success", "data": {"items": []}}),
        (INTEREST, {"ret_code": 0, "ret_msg": "success", "data": {}}),
    ],
)
def test_success_with_no_records_gives_zero_rows(parse: Parse, adapter: Adapter, body: Any) -> None:
    parsed = parse(adapter, body)
    assert parsed.rows == ()
    assert parsed.warnings == 0
