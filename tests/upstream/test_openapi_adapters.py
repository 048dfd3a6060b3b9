"""The OpenAPI adapters: requests, the nested answer, unix-second days and the vendor's codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import orjson
import pytest

from harvester.errors import (
    CredentialsRefused,
    InvalidRequest,
    MalformedResponse,
    RateLimited,
    Rejected,
    UpstreamError,
)
from harvester.model import Symbol
from harvester.upstream.endpoints.openapi import OPEN_SHORT_POSITIONS, OPEN_SHORT_TRADES

NOW = datetime(2026, 5, 20, 2, 0, tzinfo=UTC)
AAPL, TENCENT = Symbol("AAPL", "US"), Symbol("700", "HK")


def answer(records: list[dict[str, str]]) -> bytes:
    return orjson.dumps(
        {"code": 0, "message": "success", "data": {"counter_id": "ST/US/AAPL", "data": records}}
    )


def parse(adapter, symbol, body: bytes, status: int = 200, headers=None):  # type: ignore[no-untyped-def]
    return adapter.parse(symbol, status, "application/json", headers or {}, body, now=NOW)


def test_requests_go_to_the_markets_path_with_symbol_cut_off_and_count() -> None:
    spec = OPEN_SHORT_TRADES.request(AAPL, "/ignored/{symbol}", 5, now=NOW)
    assert spec.path == "/v1/quote/short-trades/us"
    assert spec.query == (
        ("symbol", "AAPL.US"),
        ("last_timestamp", str(int(NOW.timestamp()))),
        ("page_size", "5"),
    )
    spec = OPEN_SHORT_POSITIONS.request(TENCENT, "", 7, before=1778774400)
    assert spec.path == "/v1/quote/short-positions/hk"
    assert spec.query == (("symbol", "700.HK"), ("last_timestamp", "1778774400"), ("count", "7"))


def test_us_short_trades_are_read_from_the_nested_answer() -> None:
    body = answer(
        [
            {
                "timestamp": "1778817600",
                "nus_amount": "5748485",
                "ny_amount": "0",
                "total_amount": "15778974",
                "rate": "0.3643",
                "close": "300.230",
            }
        ]
    )
    parsed = parse(OPEN_SHORT_TRADES, AAPL, body)
    # 1778817600 is 2026-05-15 00:00 in New York.
    assert parsed.rows == (
        ("AAPL.US", "US", "2026-05-15", 5748485, 0, 15778974, None, None, None, 0.3643, 300.23),
    )
    assert parsed.warnings == 0


def test_hk_days_are_taken_in_hong_kong() -> None:
    # 1779033600 is 2026-05-17 16:00 UTC: 2026-05-18 00:00 in Hong Kong.
    body = answer(
        [
            {
                "timestamp": "1779033600",
                "amount": "2926000",
                "balance": "1318056100.00",
                "total_amount": "29497076",
                "rate": "0.0992",
                "close": "449.2",
            }
        ]
    )
    (row,) = parse(OPEN_SHORT_TRADES, TENCENT, body).rows
    assert row[:3] == ("700.HK", "HK", "2026-05-18")


def test_short_positions_fill_their_own_columns_per_market() -> None:
    us = answer(
        [
            {
                "timestamp": "1778817600",
                "rate": "0.01",
                "close": "300",
                "current_shares_short": "123",
                "avg_daily_share_volume": "456",
                "days_to_cover": "1.5",
            }
        ]
    )
    (row,) = parse(OPEN_SHORT_POSITIONS, AAPL, us).rows
    assert row == ("AAPL.US", "US", "2026-05-15", 123, 456, 1.5, None, None, None, 0.01, 300.0)
    hk = answer(
        [
            {
                "timestamp": "1779033600",
                "rate": "0.05",
                "close": "653.5",
                "amount": "142947070322.0",
                "balance": "218740735",
                "cost": "645.132",
            }
        ]
    )
    (row,) = parse(OPEN_SHORT_POSITIONS, TENCENT, hk).rows
    assert row[3:] == (None, None, None, 142947070322.0, 218740735.0, 645.132, 0.05, 653.5)


def test_a_flat_data_list_is_malformed_not_silently_empty() -> None:
    body = orjson.dumps({"code": 0, "message": "success", "data": [{"timestamp": "1778817600"}]})
    with pytest.raises(MalformedResponse):
        parse(OPEN_SHORT_TRADES, AAPL, body)


def test_an_empty_answer_is_no_data() -> None:
    assert parse(OPEN_SHORT_TRADES, AAPL, answer([])).rows == ()


def refusal(code: int, message: str) -> bytes:
    return orjson.dumps({"code": code, "message": message})


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (401, 401004, CredentialsRefused),
        (401, 401102, CredentialsRefused),
        (401, 401003, CredentialsRefused),
        (403, 403201, CredentialsRefused),
        (403, 403203, CredentialsRefused),
        (403, 403202, RateLimited),  # a repeated x-timestamp: sign again next second
        (429, 429002, RateLimited),
        (200, 500000, UpstreamError),
        (500, 500000, UpstreamError),
        (200, 123456, Rejected),
        (404, 404001, Rejected),  # undocumented: failed, its code and message kept
        (400, 400001, InvalidRequest),
        (502, 502001, UpstreamError),
    ],
)
def test_the_vendors_codes_decide(status: int, code: int, kind: type) -> None:
    with pytest.raises(kind) as caught:
        parse(OPEN_SHORT_TRADES, AAPL, refusal(code, "words"), status)
    assert str(code) in caught.value.message


def test_a_429_keeps_its_retry_after() -> None:
    with pytest.raises(RateLimited) as caught:
        parse(OPEN_SHORT_TRADES, AAPL, refusal(429002, "slow"), 429, {"Retry-After": "3"})
    assert caught.value.retry_after == 3.0


@pytest.mark.parametrize("skew", [timedelta(minutes=-7), timedelta(minutes=9)])
def test_a_refusal_from_a_clock_minutes_off_says_so(skew: timedelta) -> None:
    date = format_datetime(NOW + skew, usegmt=True)
    with pytest.raises(CredentialsRefused) as caught:
        parse(OPEN_SHORT_TRADES, AAPL, refusal(401102, "bad"), 401, {"Date": date})
    message = caught.value.message
    assert "clock" in message and f"{abs(skew.total_seconds()) / 60:.0f} min" in message
    assert ("behind" if skew.total_seconds() > 0 else "ahead of") in message


def test_a_refusal_with_the_clock_right_does_not_blame_it() -> None:
    date = format_datetime(NOW + timedelta(seconds=20), usegmt=True)
    with pytest.raises(CredentialsRefused) as caught:
        parse(OPEN_SHORT_TRADES, AAPL, refusal(403201, "signature invalid"), 403, {"Date": date})
    assert "clock" not in caught.value.message


def test_a_duplicate_request_is_retried_in_the_next_second() -> None:
    with pytest.raises(RateLimited) as caught:
        parse(OPEN_SHORT_TRADES, AAPL, refusal(403202, "duplicate request"), 403)
    assert caught.value.retry_after == 1.0 and caught.value.code == "403202"
