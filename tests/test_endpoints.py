"""Unit tests of the endpoint adapters (harvester/endpoints/): pure, no network, no event loop.

The API.md examples go in as bytes and must come out as exactly the expected rows. Then the
error table of API.md section 3 for both envelopes, HTTP statuses, bodies that are not the
envelope, the value mapping (bad values become None plus one warning each), dates in the
exchange's zone, ``count`` ranges and the encoding of the symbol into the request path.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.config import EndpointConfig
from harvester.endpoint_catalog import ENDPOINTS
from harvester.endpoints import ADAPTERS, Adapter
from harvester.endpoints.base import retry_after_seconds
from harvester.endpoints.values import floats, ints, to_float, to_int
from harvester.errors import (
    CredentialsRefused,
    FetchError,
    InvalidRequest,
    MalformedResponse,
    NoData,
    PermanentError,
    RateLimited,
    Rejected,
    TransientError,
    TransportError,
    Unsupported,
    UpstreamError,
)
from harvester.model import MARKET_TZ, Symbol, TaskStatus

TRADES = ADAPTERS["short_trades"]
INTEREST = ADAPTERS["short_interest"]
TSLA = Symbol("TSLA", "US")
TENCENT = Symbol("700", "HK")
JSON = "application/json"
MISSING = object()  # stands for a field left out of the record

US_TRADES_EXAMPLE = b"""{"code": 0, "message": "success", "data": [
  {"timestamp": "2026-05-15T04:00:00Z", "nus_amount": "5748485", "ny_amount": "0",
   "total_amount": "15778974", "rate": "0.3643", "close": "300.230"}]}"""

HK_TRADES_EXAMPLE = b"""{"code": 0, "message": "success", "data": [
  {"timestamp": "2026-05-17T16:00:00Z", "amount": "2926000", "balance": "1318056100.00",
   "total_amount": "29497076", "rate": "0.0992", "close": "449.2"}]}"""

HK_INTEREST_EXAMPLE = b"""{"ret_code": 0, "ret_msg": "success", "data": {"items": [
  {"aggregated_short": "54177721", "aggregated_short_ratio": 0.59, "avg_cost": 456.399,
   "avg_daily_short_volume": "3755740", "close_price": 456.4, "last_close_price": 454.9,
   "timestamp": 1778774400000, "timestamp_str": "2026-05-15"},
  {"aggregated_short": "44972868", "aggregated_short_ratio": 0.49, "avg_cost": 471.399,
   "avg_daily_short_volume": "2392820", "close_price": 466.1, "last_close_price": 472.1,
   "timestamp": 1778169600000, "timestamp_str": "2026-05-08"}]}}"""

US_TRADE = {
    "timestamp": "2026-05-15T04:00:00Z", "nus_amount": "5748485", "ny_amount": "0",
    "total_amount": "15778974", "rate": "0.3643", "close": "300.230",
}
HK_TRADE = {
    "timestamp": "2026-05-17T16:00:00Z", "amount": "2926000", "balance": "1318056100.00",
    "total_amount": "29497076", "rate": "0.0992", "close": "449.2",
}
US_INTEREST = {
    "timestamp": 1778731200000, "timestamp_str": "2026-05-14", "shares_short": "81234567",
    "short_percent": 2.61, "avg_daily_share_volume": "95123456", "days_to_cover": 1.2,
    "close_price": 300.23, "last_close_price": 298.1, "avg_daily_short_volume": "4123456",
}
HK_INTEREST = {
    "aggregated_short": "54177721", "aggregated_short_ratio": 0.59, "avg_cost": 456.399,
    "avg_daily_short_volume": "3755740", "close_price": 456.4, "last_close_price": 454.9,
    "timestamp": 1778774400000, "timestamp_str": "2026-05-15",
}
RECORDS: dict[tuple[str, str], dict[str, Any]] = {
    ("short_trades", "US"): US_TRADE,
    ("short_trades", "HK"): HK_TRADE,
    ("short_interest", "US"): US_INTEREST,
    ("short_interest", "HK"): HK_INTEREST,
}
SYMBOLS = {"US": TSLA, "HK": TENCENT}


def config(adapter: Adapter, count: int | None = None) -> EndpointConfig:
    """The endpoint's settings at their defaults, or with ``count``."""
    endpoint = adapter.endpoint
    return EndpointConfig(name=endpoint.name, path=endpoint.path, count=count or endpoint.count)


def parse(adapter: Adapter, body: Any, symbol: Symbol = TSLA, *, status: int = 200,
          content_type: str = JSON, headers: dict[str, str] | None = None,
          retry_unknown: bool = False, now: datetime | None = None) -> Any:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return adapter.parse(symbol, status, content_type, headers or {}, raw,
                         retry_unknown=retry_unknown, now=now)


def column(adapter: Adapter, name: str) -> int:
    """The index of data column ``name`` in a row."""
    return 3 + [c.name for c in adapter.columns].index(name)


def with_value(record: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    changed = dict(record)
    if value is MISSING:
        del changed[field]
    else:
        changed[field] = value
    return changed


# The API.md examples ---------------------------------------------------------------------


def test_us_short_trades_example_gives_exactly_the_expected_row() -> None:
    parsed = parse(TRADES, US_TRADES_EXAMPLE, TSLA)
    assert parsed.rows == (
        ("TSLA.US", "US", "2026-05-15", 5748485, 0, 15778974, None, None, None, 0.3643, 300.23),
    )
    assert parsed.warnings == 0
    row = parsed.rows[0]
    assert [type(value) for value in row[3:6]] == [int, int, int]
    assert [type(value) for value in row[9:]] == [float, float]


def test_hk_short_trades_example_is_dated_in_hong_kong_time() -> None:
    parsed = parse(TRADES, HK_TRADES_EXAMPLE, TENCENT)
    assert parsed.rows == (
        ("700.HK", "HK", "2026-05-18", None, None, None,
         2926000.0, 1318056100.0, 29497076.0, 0.0992, 449.2),
    )
    assert parsed.warnings == 0
    assert [type(value) for value in parsed.rows[0][6:]] == [float] * 5


def test_hk_short_interest_example_gives_both_reports() -> None:
    parsed = parse(INTEREST, HK_INTEREST_EXAMPLE, TENCENT)
    assert parsed.rows == (
        ("700.HK", "HK", "2026-05-15", 54177721, 0.59, 3755740, None, None, 456.399, 456.4,
         454.9),
        ("700.HK", "HK", "2026-05-08", 44972868, 0.49, 2392820, None, None, 471.399, 466.1,
         472.1),
    )
    assert parsed.warnings == 0
    for row in parsed.rows:
        assert [type(row[i]) for i in (3, 4, 5, 8, 9, 10)] == [int, float, int, float, float,
                                                              float]


def test_a_us_short_interest_record_fills_the_us_columns() -> None:
    parsed = INTEREST.map_records(TSLA, [US_INTEREST])
    assert parsed.rows == (
        ("TSLA.US", "US", "2026-05-14", 81234567, 2.61, 4123456, 95123456, 1.2, None, 300.23,
         298.1),
    )
    assert parsed.warnings == 0


def test_the_same_instant_is_a_different_day_in_new_york_and_hong_kong() -> None:
    record = {**US_TRADE, "timestamp": "2026-05-17T16:00:00Z"}
    assert TRADES.map_records(TSLA, [record]).rows[0][2] == "2026-05-17"
    assert TRADES.map_records(TENCENT, [record]).rows[0][2] == "2026-05-18"


# Upstream codes, both envelopes ------------------------------------------------------------

CODES = [
    (-3, "invalid_parameter", InvalidRequest, TaskStatus.INVALID),
    (-7, "invalid_symbol", InvalidRequest, TaskStatus.INVALID),
    (-8, "unsupported", Unsupported, TaskStatus.UNSUPPORTED),
    (-10, "no_data", NoData, TaskStatus.NO_DATA),
    (-5, "internal_error", UpstreamError, TaskStatus.FAILED),
]


@pytest.mark.parametrize(("number", "name", "error", "status"), CODES)
def test_short_trades_codes_are_classified(
    number: int, name: str, error: type[FetchError], status: TaskStatus
) -> None:
    with pytest.raises(error) as info:
        parse(TRADES, {"code": number, "message": "boom"})
    assert type(info.value) is error
    assert info.value.status is status
    assert info.value.code == str(number)
    assert "boom" in info.value.message


@pytest.mark.parametrize(("number", "name", "error", "status"), CODES)
def test_short_interest_codes_are_classified(
    number: int, name: str, error: type[FetchError], status: TaskStatus
) -> None:
    body = {"ret_code": number, "ret_msg": "boom", "error": {"code": name}}
    with pytest.raises(error) as info:
        parse(INTEREST, body)
    assert type(info.value) is error
    assert info.value.status is status
    assert "boom" in info.value.message


@pytest.mark.parametrize(("number", "name", "error", "status"), CODES)
def test_short_interest_numeric_code_alone_is_enough(
    number: int, name: str, error: type[FetchError], status: TaskStatus
) -> None:
    with pytest.raises(error):
        parse(INTEREST, {"ret_code": number, "ret_msg": "boom"})


@pytest.mark.parametrize(("number", "name", "error", "status"), CODES)
def test_short_interest_string_error_code_alone_is_enough(
    number: int, name: str, error: type[FetchError], status: TaskStatus
) -> None:
    body = {"ret_code": -1, "ret_msg": "boom", "error": {"code": name}}
    with pytest.raises(error) as info:
        parse(INTEREST, body)
    assert type(info.value) is error


@pytest.mark.parametrize(
    ("adapter", "body"),
    [
        (TRADES, {"code": -42, "message": "strange"}),
        (TRADES, {"code": "-42", "message": "strange"}),
        (INTEREST, {"ret_code": -42, "ret_msg": "strange"}),
        (INTEREST, {"ret_code": -42, "ret_msg": "strange", "error": {"code": "weird"}}),
    ],
)
def test_unknown_codes_are_rejected_unless_set_to_retry(adapter: Adapter, body: Any) -> None:
    with pytest.raises(Rejected) as info:
        parse(adapter, body)
    assert info.value.status is TaskStatus.FAILED
    assert info.value.code == "-42"
    assert "strange" in info.value.message
    with pytest.raises(UpstreamError) as retried:
        parse(adapter, body, retry_unknown=True)
    assert retried.value.code == "-42"
    assert "strange" in retried.value.message


# HTTP statuses and bodies that are not the envelope ----------------------------------------

HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
ADAPTER_LIST = pytest.mark.parametrize("adapter", [TRADES, INTEREST], ids=lambda a: a.name)


@ADAPTER_LIST
def test_http_400_is_an_invalid_request(adapter: Adapter) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse(adapter, b"", status=400, content_type="")
    assert info.value.status is TaskStatus.INVALID
    assert info.value.code == "http_400"


@ADAPTER_LIST
@pytest.mark.parametrize(
    ("header", "seconds"), [("3", 3.0), ("0.5", 0.5), (None, None), ("soon", None)]
)
def test_http_429_is_rate_limited_with_its_retry_after(
    adapter: Adapter, header: str | None, seconds: float | None
) -> None:
    headers = {"Retry-After": header} if header is not None else {}
    with pytest.raises(RateLimited) as info:
        parse(adapter, b"", status=429, content_type="", headers=headers)
    assert info.value.retry_after == seconds


RETRY_AT = "Wed, 21 Oct 2026 07:28:00 GMT"
FAR_NOW = datetime(2026, 10, 20, 7, 28, tzinfo=UTC)  # a day before RETRY_AT


@pytest.mark.parametrize(
    ("retry_after", "date_header", "seconds"),
    [
        (RETRY_AT, "Wed, 21 Oct 2026 07:27:30 GMT", 30.0),
        (RETRY_AT, "Wed, 21 Oct 2026 06:28:00 GMT", 3600.0),
        ("Wed, 21 Oct 2026 09:28:00 +0200", "Wed, 21 Oct 2026 07:27:00 GMT", 60.0),
        (RETRY_AT, "Wed, 21 Oct 2026 09:27:00 +0200", 60.0),
        # ``-0000`` (zone unknown) parses as a naive time; HTTP-dates are GMT.
        ("Wed, 21 Oct 2026 07:28:00 -0000", "Wed, 21 Oct 2026 07:27:30 GMT", 30.0),
        (RETRY_AT, "Wed, 21 Oct 2026 07:27:30 -0000", 30.0),
    ],
)
def test_retry_after_as_an_http_date_counts_from_the_answers_date_header(
    retry_after: str, date_header: str, seconds: float
) -> None:
    # ``now`` is a day away: only the Date header can give these answers.
    assert retry_after_seconds(retry_after, date_header=date_header, now=FAR_NOW) == seconds


@pytest.mark.parametrize("date_header", [None, "", "yesterday", "Wed, 32 Oct 2026 07:00:00 GMT"])
def test_retry_after_as_an_http_date_counts_from_now_without_a_usable_date_header(
    date_header: str | None,
) -> None:
    now = datetime(2026, 10, 21, 7, 26, 30, tzinfo=UTC)
    assert retry_after_seconds(RETRY_AT, date_header=date_header, now=now) == 90.0


def test_retry_after_as_an_http_date_counts_from_the_real_clock_by_default() -> None:
    then = (datetime.now(UTC) + timedelta(hours=1)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    seconds = retry_after_seconds(then)
    assert seconds is not None
    assert 3590.0 <= seconds <= 3600.0


@pytest.mark.parametrize(
    ("date_header", "now"),
    [("Wed, 21 Oct 2026 07:28:01 GMT", FAR_NOW),
     ("Thu, 22 Oct 2026 00:00:00 GMT", FAR_NOW),
     (None, datetime(2026, 10, 21, 7, 28, 1, tzinfo=UTC)),
     (None, datetime(2027, 1, 1, tzinfo=UTC))],
)
def test_retry_after_as_a_date_in_the_past_is_zero(date_header: str | None, now: datetime) -> None:
    assert retry_after_seconds(RETRY_AT, date_header=date_header, now=now) == 0.0


@pytest.mark.parametrize(
    "value",
    [None, "", "soon", "Wed, 32 Oct 2026 07:28:00 GMT", "Wed, 21 Oct 2026",
     "Wed, 21 Oct 2026 25:28:00 GMT", "Wed, 21 Foo 2026 07:28:00 GMT", "-3", "1,5", "nan"],
)
def test_retry_after_garbage_is_none(value: str | None) -> None:
    assert retry_after_seconds(value, date_header="Wed, 21 Oct 2026 07:00:00 GMT",
                               now=FAR_NOW) is None


@pytest.mark.parametrize(("value", "seconds"), [("120", 120.0), ("0", 0.0), ("2.5", 2.5)])
def test_retry_after_in_seconds_ignores_the_date_header_and_now(
    value: str, seconds: float
) -> None:
    assert retry_after_seconds(value) == seconds
    assert retry_after_seconds(value, date_header=RETRY_AT, now=FAR_NOW) == seconds


@ADAPTER_LIST
@pytest.mark.parametrize(
    ("headers", "seconds"),
    [({"Retry-After": RETRY_AT, "Date": "Wed, 21 Oct 2026 07:27:45 GMT"}, 15.0),
     ({"Retry-After": RETRY_AT}, 86400.0),
     ({"Retry-After": "Tue, 20 Oct 2026 07:00:00 GMT"}, 0.0),
     ({"Retry-After": "Wed, 21 Oct 2026 07:99:00 GMT", "Date": RETRY_AT}, None)],
)
def test_http_429_with_a_date_retry_after_carries_the_wait(
    adapter: Adapter, headers: dict[str, str], seconds: float | None
) -> None:
    with pytest.raises(RateLimited) as info:
        parse(adapter, b"", status=429, content_type="", headers=headers, now=FAR_NOW)
    assert info.value.retry_after == seconds


@ADAPTER_LIST
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_http_5xx_with_an_html_page_is_a_transport_error(adapter: Adapter, status: int) -> None:
    with pytest.raises(TransportError) as info:
        parse(adapter, HTML, status=status, content_type="text/html")
    assert info.value.code == f"http_{status}"


@ADAPTER_LIST
@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_stop_the_run_rather_than_fail_a_task(
    adapter: Adapter, status: int
) -> None:
    with pytest.raises(CredentialsRefused) as info:
        parse(adapter, b"", status=status, content_type="text/plain")
    assert info.value.code == f"http_{status}"
    assert not isinstance(info.value, PermanentError | TransientError)


@ADAPTER_LIST
@pytest.mark.parametrize("status", [301, 404, 418])
def test_other_statuses_are_rejected(adapter: Adapter, status: int) -> None:
    with pytest.raises(Rejected):
        parse(adapter, b"{}", status=status)


@ADAPTER_LIST
def test_200_with_an_html_body_is_malformed(adapter: Adapter) -> None:
    with pytest.raises(MalformedResponse):
        parse(adapter, HTML, content_type="text/html")


@pytest.mark.parametrize(
    ("adapter", "body"), [(TRADES, US_TRADES_EXAMPLE), (INTEREST, HK_INTEREST_EXAMPLE)]
)
@pytest.mark.parametrize("cut", [1, 10, 50, 120])
def test_truncated_json_is_malformed(adapter: Adapter, body: bytes, cut: int) -> None:
    with pytest.raises(MalformedResponse):
        parse(adapter, body[:cut])


NOT_TRADES_ENVELOPES = [
    [], [1, 2], None, "success", 0, {}, {"message": "success", "data": []},
    {"code": None, "data": []}, {"code": "zero", "data": []}, {"code": True, "data": []},
    {"code": 0, "data": {}}, {"code": 0, "data": "rows"}, {"code": 0, "data": 5},
    {"ret_code": 0, "data": {"items": []}},
]
NOT_INTEREST_ENVELOPES = [
    [], None, "success", {}, {"ret_msg": "success", "data": {"items": []}},
    {"ret_code": None}, {"ret_code": "zero"}, {"ret_code": 0, "data": []},
    {"ret_code": 0, "data": "items"}, {"ret_code": 0, "data": {"items": {}}},
    {"ret_code": 0, "data": {"items": "x"}}, {"code": 0, "data": []},
]


@pytest.mark.parametrize("body", NOT_TRADES_ENVELOPES)
def test_json_that_is_not_the_short_trades_envelope_is_malformed(body: Any) -> None:
    with pytest.raises(MalformedResponse):
        parse(TRADES, body)


@pytest.mark.parametrize("body", NOT_INTEREST_ENVELOPES)
def test_json_that_is_not_the_short_interest_envelope_is_malformed(body: Any) -> None:
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
def test_success_with_no_records_gives_zero_rows(adapter: Adapter, body: Any) -> None:
    parsed = parse(adapter, body)
    assert parsed.rows == ()
    assert parsed.warnings == 0


# Value mapping -----------------------------------------------------------------------------

BAD_VALUES = [
    "N/A", "", MISSING, None, "NaN", "nan", "1e309", "-5", -5, -0.5, True, False,
    "1" * 100, float("nan"), float("inf"), "abc", [], {},
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
    adapter: Adapter, market: str, field: str, name: str, value: Any
) -> None:
    symbol = SYMBOLS[market]
    record = RECORDS[(adapter.name, market)]
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
def test_share_counts_accept_whole_numbers_in_any_spelling(value: Any, expected: int) -> None:
    parsed = TRADES.map_records(TSLA, [with_value(US_TRADE, "nus_amount", value)])
    result = parsed.rows[0][column(TRADES, "nasdaq_short_volume")]
    assert result == expected
    assert type(result) is int
    assert parsed.warnings == 0


@pytest.mark.parametrize("value", ["1.5", 1.5, str(2**63), 2**63])
def test_share_counts_refuse_fractions_and_values_beyond_int64(value: Any) -> None:
    parsed = TRADES.map_records(TSLA, [with_value(US_TRADE, "nus_amount", value)])
    assert parsed.rows[0][column(TRADES, "nasdaq_short_volume")] is None
    assert parsed.warnings == 1


def test_several_unusable_values_in_one_record_count_one_warning_each() -> None:
    record = {**US_TRADE, "nus_amount": "N/A", "rate": None, "close": "NaN"}
    del record["ny_amount"]
    parsed = TRADES.map_records(TSLA, [record])
    assert parsed.warnings == 4
    assert parsed.rows == (
        ("TSLA.US", "US", "2026-05-15", None, None, 15778974, None, None, None, None, None),
    )


@pytest.mark.parametrize(
    "timestamp",
    [
        "yesterday", "", None, MISSING, 1778774400000, True, "2026-05-15",
        "2026-05-15T04:00:00",  # no offset: refuse to guess the zone
        "2026-13-45T00:00:00Z", "1970-01-02T00:00:00Z", "9999-06-01T00:00:00Z",
        "2026-05-15T04:00:00Z" + "0" * 80,
    ],
    ids=repr,
)
def test_a_short_trades_record_without_a_usable_date_is_dropped_with_a_warning(
    timestamp: Any,
) -> None:
    records = [with_value(US_TRADE, "timestamp", timestamp),
               {**US_TRADE, "timestamp": "2026-05-14T04:00:00Z"}]
    parsed = TRADES.map_records(TSLA, records)
    assert [row[2] for row in parsed.rows] == ["2026-05-14"]
    assert parsed.warnings == 1


@pytest.mark.parametrize(
    ("symbol", "timestamp"),
    [(TENCENT, "9999-12-31T23:00:00Z"), (TSLA, "0001-01-01T00:00:00+01:00")],
)
def test_a_short_trades_timestamp_at_the_edge_of_time_is_dropped(
    symbol: Symbol, timestamp: str
) -> None:
    record = {**(HK_TRADE if symbol is TENCENT else US_TRADE), "timestamp": timestamp}
    parsed = TRADES.map_records(symbol, [record])
    assert parsed.rows == ()
    assert parsed.warnings == 1


@pytest.mark.parametrize(
    ("timestamp", "timestamp_str"),
    [(0, MISSING), (0, "1970-01-01"), (MISSING, MISSING), ("1778774400000", MISSING),
     (253_370_764_800_000, "9999-01-01"), (1778774400000.0, None)],
    ids=repr,
)
def test_a_short_interest_record_without_a_usable_date_is_dropped_with_a_warning(
    timestamp: Any, timestamp_str: Any
) -> None:
    record = with_value(with_value(HK_INTEREST, "timestamp", timestamp),
                        "timestamp_str", timestamp_str)
    parsed = INTEREST.map_records(TENCENT, [record])
    assert parsed.rows == ()
    assert parsed.warnings >= 1


def test_a_short_interest_timestamp_at_the_end_of_time_is_dropped() -> None:
    record = with_value({**HK_INTEREST, "timestamp": 253_402_300_799_000},
                        "timestamp_str", MISSING)
    parsed = INTEREST.map_records(TENCENT, [record])
    assert parsed.rows == ()


# Records dated after tomorrow, in the exchange's zone ---------------------------------------

NOW = datetime(2026, 5, 15, 12, 0, tzinfo=UTC)  # 08:00 in New York, 20:00 in Hong Kong


def trade(symbol: Symbol, day: str) -> dict[str, Any]:
    """A short_trades record of ``day``: midnight of that day in the exchange's zone, in UTC."""
    midnight = "T04:00:00Z" if symbol is TSLA else "T16:00:00Z"
    stamp = date.fromisoformat(day) - timedelta(days=0 if symbol is TSLA else 1)
    return {**(US_TRADE if symbol is TSLA else HK_TRADE), "timestamp": f"{stamp}{midnight}"}


def report(symbol: Symbol, day: str) -> dict[str, Any]:
    """A short_interest record of ``day``, its ``timestamp`` agreeing with ``timestamp_str``."""
    midnight = datetime.combine(date.fromisoformat(day), time(), ZoneInfo(MARKET_TZ[symbol.market]))
    base = US_INTEREST if symbol is TSLA else HK_INTEREST
    return {**base, "timestamp": int(midnight.timestamp()) * 1000, "timestamp_str": day}


MAKERS = pytest.mark.parametrize(
    ("adapter", "make"), [(TRADES, trade), (INTEREST, report)], ids=["short_trades",
                                                                      "short_interest"]
)


@MAKERS
@pytest.mark.parametrize("symbol", [TSLA, TENCENT], ids=str)
def test_a_record_dated_after_tomorrow_is_dropped_with_a_warning(
    adapter: Adapter, make: Any, symbol: Symbol
) -> None:
    days = ["2026-05-16", "2026-05-17", "2026-05-15", "2026-05-14"]  # tomorrow, the day after...
    parsed = adapter.map_records(symbol, [make(symbol, day) for day in days], now=NOW)
    assert [row[2] for row in parsed.rows] == ["2026-05-16", "2026-05-15", "2026-05-14"]
    assert parsed.warnings == 1
    every = adapter.map_records(symbol, [make(symbol, day) for day in days],
                                now=NOW + timedelta(days=1))
    assert [row[2] for row in every.rows] == days
    assert every.warnings == 0


@MAKERS
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
    adapter: Adapter, make: Any, symbol: Symbol, now: datetime, kept: str, dropped: str
) -> None:
    records = [make(symbol, "2026-05-14"), make(symbol, dropped), make(symbol, kept)]
    parsed = adapter.map_records(symbol, records, now=now)
    assert [row[2] for row in parsed.rows] == ["2026-05-14", kept]
    assert parsed.warnings == 1


@pytest.mark.parametrize(
    ("adapter", "body", "symbol"),
    [
        (TRADES, {"code": 0, "message": "success",
                  "data": [trade(TENCENT, "2026-05-18"), trade(TENCENT, "2026-05-17")]}, TENCENT),
        (INTEREST, {"ret_code": 0, "ret_msg": "success",
                    "data": {"items": [report(TENCENT, "2026-05-18"),
                                       report(TENCENT, "2026-05-17")]}}, TENCENT),
        (INTEREST, {"ret_code": 0, "ret_msg": "success",
                    "data": {"items": [report(TSLA, "2026-05-17"),
                                       report(TSLA, "2026-05-16")]}}, TSLA),
    ],
)
def test_parse_drops_records_after_tomorrow_relative_to_its_now(
    adapter: Adapter, body: Any, symbol: Symbol
) -> None:
    now = datetime(2026, 5, 15, 17, 0, tzinfo=UTC)  # the 16th in Hong Kong, the 15th in New York
    parsed = parse(adapter, body, symbol, now=now)
    tomorrow = "2026-05-17" if symbol is TENCENT else "2026-05-16"
    assert [row[2] for row in parsed.rows] == [tomorrow]
    assert parsed.warnings == 1


@pytest.mark.parametrize(("adapter", "make"), [(TRADES, trade), (INTEREST, report)])
def test_a_record_dated_2099_is_dropped_by_the_real_clock(adapter: Adapter, make: Any) -> None:
    records = [make(TSLA, "2099-01-01"), make(TSLA, "2026-05-14")]
    parsed = adapter.map_records(TSLA, records)
    assert [row[2] for row in parsed.rows] == ["2026-05-14"]
    assert parsed.warnings == 1
    assert [row[2] for row in parse(adapter, {"code": 0, "data": records} if adapter is TRADES
                                    else {"ret_code": 0, "data": {"items": records}}).rows
            ] == ["2026-05-14"]


def test_a_short_interest_date_after_tomorrow_is_the_stated_one() -> None:
    # timestamp_str decides the day; a sane timestamp does not save a future timestamp_str.
    record = {**report(TENCENT, "2026-05-15"), "timestamp_str": "2026-05-18"}
    parsed = INTEREST.map_records(TENCENT, [record], now=NOW)
    assert parsed.rows == ()
    assert parsed.warnings == 2  # the disagreement, and the drop
    fallback = with_value(report(TENCENT, "2026-05-18"), "timestamp_str", MISSING)
    parsed = INTEREST.map_records(TENCENT, [fallback], now=NOW)
    assert parsed.rows == ()
    assert parsed.warnings == 2  # the fallback to timestamp, and the drop


def test_the_ceiling_moves_with_the_clock_across_calls() -> None:
    record = trade(TSLA, "2026-05-17")
    assert TRADES.map_records(TSLA, [record], now=NOW).rows == ()
    assert len(TRADES.map_records(TSLA, [record], now=NOW + timedelta(days=1)).rows) == 1
    assert TRADES.map_records(TSLA, [record], now=NOW).rows == ()


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        TRADES.map_records(TSLA, [US_TRADE], now=datetime(2026, 5, 15, 12, 0))


@pytest.mark.parametrize(
    ("adapter", "symbol", "first", "second"),
    [
        (TRADES, TSLA, {**US_TRADE, "close": "1.0"}, {**US_TRADE, "close": "2.0"}),
        # Different instants, same New York day.
        (TRADES, TSLA, {**US_TRADE, "close": "1.0"},
         {**US_TRADE, "timestamp": "2026-05-15T20:00:00Z", "close": "2.0"}),
        (INTEREST, TENCENT, {**HK_INTEREST, "close_price": 1.0},
         {**HK_INTEREST, "close_price": 2.0}),
    ],
)
def test_the_same_day_twice_keeps_the_first_with_a_warning(
    adapter: Adapter, symbol: Symbol, first: dict[str, Any], second: dict[str, Any]
) -> None:
    parsed = adapter.map_records(symbol, [first, second])
    assert len(parsed.rows) == 1
    assert parsed.rows[0][-1 if adapter is TRADES else -2] == 1.0
    assert parsed.warnings == 1


def test_short_interest_timestamp_str_wins_over_a_disagreeing_timestamp() -> None:
    record = {**HK_INTEREST, "timestamp_str": "2026-05-14"}  # timestamp says 2026-05-15
    parsed = INTEREST.map_records(TENCENT, [record])
    assert [row[2] for row in parsed.rows] == ["2026-05-14"]
    assert parsed.warnings == 1


@pytest.mark.parametrize("timestamp_str", [MISSING, None, "15/05/2026", "2026-5-15", 20260515])
def test_short_interest_without_timestamp_str_takes_the_day_of_timestamp(
    timestamp_str: Any,
) -> None:
    record = with_value(HK_INTEREST, "timestamp_str", timestamp_str)
    parsed = INTEREST.map_records(TENCENT, [record])
    assert [row[2] for row in parsed.rows] == ["2026-05-15"]
    assert parsed.warnings == 1


@pytest.mark.parametrize("adapter", [TRADES, INTEREST], ids=lambda a: a.name)
@pytest.mark.parametrize("record", [None, "row", 5, [1, 2]], ids=repr)
def test_a_record_that_is_not_an_object_is_skipped_with_a_warning(
    adapter: Adapter, record: Any
) -> None:
    good = RECORDS[(adapter.name, "US")]
    parsed = adapter.map_records(TSLA, [record, good])
    assert len(parsed.rows) == 1
    assert parsed.warnings == 1


# count and the request -------------------------------------------------------------------


def test_the_adapters_are_the_catalogs_endpoints_in_its_order() -> None:
    # The settings come from the catalog, the sweep runs the adapters: they must agree.
    assert [adapter.endpoint for adapter in ADAPTERS.values()] == list(ENDPOINTS)
    assert list(ADAPTERS) == [endpoint.name for endpoint in ENDPOINTS]


@pytest.mark.parametrize(
    ("adapter", "symbol", "path"),
    [
        (TRADES, Symbol("700", "HK"), "/v1/quote/700.HK/short-selling/short-trades"),
        (INTEREST, Symbol("700", "HK"), "/v1/quote/HK.00700/short-selling/short-interest"),
        (TRADES, Symbol("BRK.B", "US"), "/v1/quote/BRK.B.US/short-selling/short-trades"),
        (INTEREST, Symbol("BRK.B", "US"), "/v1/quote/US.BRK.B/short-selling/short-interest"),
    ],
)
def test_request_puts_the_symbol_in_the_endpoints_style(
    adapter: Adapter, symbol: Symbol, path: str
) -> None:
    spec = adapter.request(symbol, config(adapter, count=7))
    assert spec.path == path
    assert spec.query == (("count", "7"),)


@pytest.mark.parametrize("adapter", [TRADES, INTEREST], ids=lambda a: a.name)
@pytest.mark.parametrize(
    ("code", "encoded"),
    [("A/B", "A%2FB"), ("A B", "A%20B"), ("A?B", "A%3FB"), ("A#B", "A%23B"),
     ("A%2FB", "A%252FB")],
)
def test_request_encodes_the_symbol_as_one_path_segment(
    adapter: Adapter, code: str, encoded: str
) -> None:
    endpoint = config(adapter)
    spec = adapter.request(Symbol(code, "US"), endpoint)
    assert encoded in spec.path
    assert spec.path.count("/") == endpoint.path.count("/")
    assert " " not in spec.path
    assert "?" not in spec.path
    assert "#" not in spec.path


# Property: no value breaks map_records -----------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)
ALL_FIELDS = sorted({key for record in RECORDS.values() for key in record})


@settings(database=None, deadline=None, max_examples=300)
@given(
    key=st.sampled_from(sorted(RECORDS)),
    field=st.sampled_from(ALL_FIELDS),
    value=JSON_VALUES | st.just(MISSING),
)
def test_any_json_value_in_any_field_maps_to_typed_values_or_none(
    key: tuple[str, str], field: str, value: Any
) -> None:
    adapter = ADAPTERS[key[0]]
    record = RECORDS[key]
    if value is MISSING:
        record = {k: v for k, v in record.items() if k != field}
    else:
        record = {**record, field: value}
    symbol = SYMBOLS[key[1]]
    parsed = adapter.map_records(symbol, [record])
    assert len(parsed.rows) <= 1
    # One warning per date problem, per record dropped and per mapped value left None.
    mapped = {spec.column for spec in adapter.fields[symbol.market]}
    unusable = sum(cell is None for row in parsed.rows
                   for spec, cell in zip(adapter.columns, row[3:], strict=True)
                   if spec.name in mapped)
    _, date_warnings = adapter.record_dates([record], MARKET_TZ[symbol.market])
    assert parsed.warnings == date_warnings + (1 - len(parsed.rows)) + unusable
    for row in parsed.rows:
        assert len(row) == 3 + len(adapter.columns)
        for spec, cell in zip(adapter.columns, row[3:], strict=True):
            if cell is None:
                continue
            if spec.sqltype == "INTEGER":
                assert type(cell) is int
                assert 0 <= cell < 2**63
            else:
                assert type(cell) is float
                assert math.isfinite(cell)
                assert cell >= 0


# Property: the column-wise parsers agree with the one-value parsers ----------------------

NUMBER_LIKE = (
    st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.booleans() | st.none()
    | st.text(alphabet="0123456789.-+eE _nainfNAINF", max_size=12)
    | st.integers().map(str) | st.floats().map(str) | st.text(max_size=70)
)


@settings(database=None, deadline=None, max_examples=400)
@given(column=st.lists(NUMBER_LIKE, max_size=8), clean=st.booleans())
def test_column_parsers_equal_the_one_value_parsers(column: list[Any], clean: bool) -> None:
    if clean:  # make the fast path likely: all digit strings, or all plain floats
        column = [str(sum(map(ord, repr(v))) * 7919) for v in column]
    for many, one in ((ints, to_int), (floats, to_float)):
        expected = [one(v) for v in column]
        got = many(list(column))
        assert got == expected
        assert [type(v) for v in got] == [type(v) for v in expected]
