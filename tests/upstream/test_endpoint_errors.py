"""Upstream codes, HTTP statuses and Retry-After become the right error, carrying its wait.

The error table of API.md section 3 for both envelopes; pure, no network and no event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

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
from harvester.model import TaskStatus
from harvester.upstream.endpoints import ADAPTERS, Adapter
from harvester.upstream.endpoints.base import retry_after_seconds

TRADES = ADAPTERS["short_trades"]
INTEREST = ADAPTERS["short_interest"]

Parse = Callable[..., Any]

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
    parse: Parse, number: int, name: str, error: type[FetchError], status: TaskStatus
) -> None:
    with pytest.raises(error) as info:
        parse(TRADES, {"code": number, "message": "boom"})
    assert type(info.value) is error
    assert info.value.status is status
    assert info.value.code == str(number)
    assert "boom" in info.value.message


@pytest.mark.parametrize(("number", "name", "error", "status"), CODES)
def test_short_interest_codes_are_classified(
    parse: Parse, number: int, name: str, error: type[FetchError], status: TaskStatus
) -> None:
    body = {"ret_code": number, "ret_msg": "boom", "error": {"code": name}}
    with pytest.raises(error) as info:
        parse(INTEREST, body)
    assert type(info.value) is error
    assert info.value.status is status
    assert "boom" in info.value.message


@pytest.mark.parametrize(("number", "name", "error", "status"), CODES)
def test_short_interest_numeric_code_alone_is_enough(
    parse: Parse, number: int, name: str, error: type[FetchError], status: TaskStatus
) -> None:
    with pytest.raises(error):
        parse(INTEREST, {"ret_code": number, "ret_msg": "boom"})


@pytest.mark.parametrize(("number", "name", "error", "status"), CODES)
def test_short_interest_string_error_code_alone_is_enough(
    parse: Parse, number: int, name: str, error: type[FetchError], status: TaskStatus
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
def test_unknown_codes_are_rejected_unless_set_to_retry(
    parse: Parse, adapter: Adapter, body: Any
) -> None:
    with pytest.raises(Rejected) as info:
        parse(adapter, body)
    assert info.value.status is TaskStatus.FAILED
    assert info.value.code == "-42"
    assert "strange" in info.value.message
    with pytest.raises(UpstreamError) as retried:
        parse(adapter, body, retry_unknown=True)
    assert retried.value.code == "-42"
    assert "strange" in retried.value.message


# HTTP statuses ---------------------------------------------------------------------------

HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
ADAPTER_LIST = pytest.mark.parametrize("adapter", [TRADES, INTEREST], ids=lambda a: a.name)


@ADAPTER_LIST
def test_http_400_is_an_invalid_request(parse: Parse, adapter: Adapter) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse(adapter, b"", status=400, content_type="")
    assert info.value.status is TaskStatus.INVALID
    assert info.value.code == "http_400"


@ADAPTER_LIST
@pytest.mark.parametrize(
    ("header", "seconds"), [("3", 3.0), ("0.5", 0.5), (None, None), ("soon", None)]
)
def test_http_429_is_rate_limited_with_its_retry_after(
    parse: Parse, adapter: Adapter, header: str | None, seconds: float | None
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
    [
        ("Wed, 21 Oct 2026 07:28:01 GMT", FAR_NOW),
        ("Thu, 22 Oct 2026 00:00:00 GMT", FAR_NOW),
        (None, datetime(2026, 10, 21, 7, 28, 1, tzinfo=UTC)),
        (None, datetime(2027, 1, 1, tzinfo=UTC)),
    ],
)
def test_retry_after_as_a_date_in_the_past_is_zero(date_header: str | None, now: datetime) -> None:
    assert retry_after_seconds(RETRY_AT, date_header=date_header, now=now) == 0.0


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "soon",
        "Wed, 32 Oct 2026 07:28:00 GMT",
        "Wed, 21 Oct 2026",
        "Wed, 21 Oct 2026 25:28:00 GMT",
        "Wed, 21 Foo 2026 07:28:00 GMT",
        "-3",
        "1,5",
        "nan",
    ],
)
def test_retry_after_garbage_is_none(value: str | None) -> None:
    assert (
        retry_after_seconds(value, date_header="Wed, 21 Oct 2026 07:00:00 GMT", now=FAR_NOW) is None
    )


@pytest.mark.parametrize(("value", "seconds"), [("120", 120.0), ("0", 0.0), ("2.5", 2.5)])
def test_retry_after_in_seconds_ignores_the_date_header_and_now(value: str, seconds: float) -> None:
    assert retry_after_seconds(value) == seconds
    assert retry_after_seconds(value, date_header=RETRY_AT, now=FAR_NOW) == seconds


@ADAPTER_LIST
@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": RETRY_AT, "Date": "Wed, 21 Oct 2026 07:27:45 GMT"}, 15.0),
        ({"Retry-After": RETRY_AT}, 86400.0),
        ({"Retry-After": "Tue, 20 Oct 2026 07:00:00 GMT"}, 0.0),
        ({"Retry-After": "Wed, 21 Oct 2026 07:99:00 GMT", "Date": RETRY_AT}, None),
    ],
)
def test_http_429_with_a_date_retry_after_carries_the_wait(
    parse: Parse, adapter: Adapter, headers: dict[str, str], seconds: float | None
) -> None:
    with pytest.raises(RateLimited) as info:
        parse(adapter, b"", status=429, content_type="", headers=headers, now=FAR_NOW)
    assert info.value.retry_after == seconds


@ADAPTER_LIST
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_http_5xx_with_an_html_page_is_a_transport_error(
    parse: Parse, adapter: Adapter, status: int
) -> None:
    with pytest.raises(TransportError) as info:
        parse(adapter, HTML, status=status, content_type="text/html")
    assert info.value.code == f"http_{status}"


@ADAPTER_LIST
@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_stop_the_run_rather_than_fail_a_task(
    parse: Parse, adapter: Adapter, status: int
) -> None:
    with pytest.raises(CredentialsRefused) as info:
        parse(adapter, b"", status=status, content_type="text/plain")
    assert info.value.code == f"http_{status}"
    assert not isinstance(info.value, PermanentError | TransientError)


@ADAPTER_LIST
@pytest.mark.parametrize("status", [301, 404, 418])
def test_other_statuses_are_rejected(parse: Parse, adapter: Adapter, status: int) -> None:
    with pytest.raises(Rejected):
        parse(adapter, b"{}", status=status)


@ADAPTER_LIST
def test_200_with_an_html_body_is_malformed(parse: Parse, adapter: Adapter) -> None:
    with pytest.raises(MalformedResponse):
        parse(adapter, HTML, content_type="text/html")
