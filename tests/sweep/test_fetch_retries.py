"""One task's retries through the real client, adapters and outage guard, answered by aioresponses.

tests/sweep/test_fetch.py drives the loop with a scripted client and a one-row adapter;
here the answers are the upstream's own bodies (API.md), so the symbol style of each
family, its envelope, its error codes and the headers the client keeps all take part.
Backoff waits are recorded, not waited: ``delays`` lists them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aioresponses import aioresponses
from aioresponses.core import RequestCall

from harvester.model import Symbol, TaskResult, TaskStatus
from harvester.settings.symbols import parse_symbol
from harvester.sweep.fetch import Job, Tally
from harvester.sweep.outage import OUTAGE_AFTER, GuardState, OutageGuard

Fetch = Callable[[Job, Symbol], Awaitable[TaskResult]]
Recorded = dict[str, list[RequestCall]]

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "api_examples"  # API.md's bodies
TRADES = "/v1/quote/{}/short-selling/short-trades?count=20"  # the default path and count
INTEREST = "/v1/quote/{}/short-selling/short-interest?count=30"

# The API.md examples, as the gateway sends them.
US_TRADES = (EXAMPLES / "us_short_trades.json").read_bytes()
HK_TRADES = (EXAMPLES / "hk_short_trades.json").read_bytes()
HK_INTEREST = (EXAMPLES / "hk_short_interest.json").read_bytes()
# API.md lists the US item's fields but shows no example: this one has them all.
US_INTEREST = b"""{"ret_code": 0, "ret_msg": "success", "data": {"items": [
  {"timestamp": 1778731200000, "timestamp_str": "2026-05-14", "shares_short": "81234567",
   "short_percent": 2.61, "avg_daily_share_volume": "95123456", "days_to_cover": 1.2,
   "close_price": 300.23, "last_close_price": 298.1, "avg_daily_short_volume": "4123456"}]}}"""

TRADES_BUSY = b'{"code": -5, "message": "internal error"}'
INTEREST_BUSY = (
    b'{"ret_code": -5, "ret_msg": "internal error", "error": {"code": "internal_error"}}'
)
BAD_GATEWAY = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


def url(base_url: str, template: str, upstream_symbol: str) -> str:
    """The full URL the gateway must be asked, the symbol written in its endpoint's style."""
    return base_url + template.format(upstream_symbol)


def in_backoff_bounds(delays: list[float], job: Job) -> bool:
    """Each wait n lies between half and all of ``backoff_base * 2^(n-1)``, capped."""
    policy = job.policy
    steps = [min(policy.backoff_max, policy.backoff_base * 2**n) for n in range(len(delays))]
    return all(step / 2 <= delay <= step for step, delay in zip(steps, delays, strict=True))


def assert_plain_retries(guard: OutageGuard, guard_waits: list[float]) -> None:
    """The guard stayed closed and held nothing: the retries were the task's own."""
    assert (guard.state, guard.outages, guard_waits) == (GuardState.CLOSED, 0, [])


@pytest.mark.parametrize(
    ("endpoint", "symbol", "where", "busy", "good", "rows"),
    [
        pytest.param(
            "short_trades",
            "TSLA.US",
            (TRADES, "TSLA.US"),
            TRADES_BUSY,
            US_TRADES,
            [
                (
                    "TSLA.US",
                    "US",
                    "2026-05-15",
                    5748485,
                    0,
                    15778974,
                    None,
                    None,
                    None,
                    0.3643,
                    300.23,
                )
            ],
            id="trades-US",
        ),
        pytest.param(
            "short_trades",
            "700.HK",
            (TRADES, "700.HK"),
            TRADES_BUSY,
            HK_TRADES,
            [
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
                )
            ],
            id="trades-HK",
        ),
        pytest.param(
            "short_interest",
            "TSLA.US",
            (INTEREST, "US.TSLA"),
            INTEREST_BUSY,
            US_INTEREST,
            [
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
                )
            ],
            id="interest-US",
        ),
        pytest.param(
            "short_interest",
            "00700.HK",
            (INTEREST, "HK.00700"),
            INTEREST_BUSY,
            HK_INTEREST,
            [
                (
                    "700.HK",
                    "HK",
                    "2026-05-15",
                    54177721,
                    0.59,
                    3755740,
                    None,
                    None,
                    456.399,
                    456.4,
                    454.9,
                ),
                (
                    "700.HK",
                    "HK",
                    "2026-05-08",
                    44972868,
                    0.49,
                    2392820,
                    None,
                    None,
                    471.399,
                    466.1,
                    472.1,
                ),
            ],
            id="interest-HK",
        ),
    ],
)
async def test_two_internal_errors_then_an_answer_is_ok_with_its_rows(
    endpoint: str,
    symbol: str,
    where: tuple[str, str],
    busy: bytes,
    good: bytes,
    rows: list[tuple[Any, ...]],
    base_url: str,
    mocked: aioresponses,
    recorded: Callable[[], Recorded],
    make_job: Callable[..., Job],
    fetch: Fetch,
    tally: Tally,
    delays: list[float],
    guard: OutageGuard,
    guard_waits: list[float],
) -> None:
    asked = url(base_url, *where)
    for body in (busy, busy, good):
        mocked.get(asked, body=body)
    job = make_job(endpoint, max_attempts=4)
    result = await fetch(job, parse_symbol(symbol))
    assert (result.status, list(result.rows), result.warnings) == (TaskStatus.OK, rows, 0)
    assert result.attempts == tally.sent == 3
    assert {key: len(calls) for key, calls in recorded().items()} == {asked: 3}
    assert len(delays) == 2 and in_backoff_bounds(delays, job), delays
    assert_plain_retries(guard, guard_waits)


@pytest.mark.parametrize(
    ("retry_after_max", "headers", "waited"),
    [
        pytest.param(60.0, {"Retry-After": "7"}, 7.0, id="seconds"),
        pytest.param(3.0, {"Retry-After": "7"}, 3.0, id="capped"),
        pytest.param(
            60.0,
            {
                "Retry-After": "Wed, 21 Oct 2026 07:28:07 GMT",
                "Date": "Wed, 21 Oct 2026 07:28:00 GMT",
            },
            7.0,
            id="http-date",
        ),
    ],
)
async def test_a_429_waits_its_retry_after_up_to_the_cap(
    retry_after_max: float,
    headers: dict[str, str],
    waited: float,
    base_url: str,
    mocked: aioresponses,
    make_job: Callable[..., Job],
    fetch: Fetch,
    delays: list[float],
) -> None:
    asked = url(base_url, TRADES, "TSLA.US")
    mocked.get(asked, status=429, headers=headers, body=b"")
    mocked.get(asked, body=US_TRADES)
    # backoff_base 1: the jittered step alone would be at most 1 s, under both floors.
    job = make_job("short_trades", backoff_base=1.0, retry_after_max=retry_after_max)
    result = await fetch(job, parse_symbol("TSLA.US"))
    assert (result.status, result.attempts, len(result.rows)) == (TaskStatus.OK, 2, 1)
    assert delays == [waited]


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(
            {"status": 502, "body": BAD_GATEWAY, "content_type": "text/html"}, id="502-html"
        ),
        pytest.param({"status": 503, "body": b""}, id="503-empty"),
        pytest.param({"status": 200, "body": US_TRADES[:40]}, id="truncated-body"),
    ],
)
async def test_a_transient_answer_then_a_good_one_is_ok_after_two_attempts(
    failure: dict[str, Any],
    base_url: str,
    mocked: aioresponses,
    recorded: Callable[[], Recorded],
    make_job: Callable[..., Job],
    fetch: Fetch,
    delays: list[float],
    guard: OutageGuard,
    guard_waits: list[float],
) -> None:
    asked = url(base_url, TRADES, "TSLA.US")
    mocked.get(asked, **failure)
    mocked.get(asked, body=US_TRADES)
    job = make_job("short_trades")
    result = await fetch(job, parse_symbol("TSLA.US"))
    assert (result.status, result.attempts, len(result.rows)) == (TaskStatus.OK, 2, 1)
    assert result.error_code is None and result.error_message is None
    assert {key: len(calls) for key, calls in recorded().items()} == {asked: 2}
    assert len(delays) == 1 and in_backoff_bounds(delays, job), delays
    assert_plain_retries(guard, guard_waits)


MOST = OUTAGE_AFTER + 2  # more failures in a row than open the guard, were they spread out


@pytest.mark.parametrize(
    ("failure", "code", "message"),
    [
        pytest.param(
            {"body": b'{"code": -5, "message": "busy; token s3cret-T0KEN"}'},
            "-5",
            "internal_error: busy; token [redacted]",
            id="internal-error",
        ),
        pytest.param(
            {"status": 502, "body": BAD_GATEWAY, "content_type": "text/html"},
            "http_502",
            "HTTP 502 from the gateway (text/html)",
            id="502",
        ),
    ],
)
async def test_a_symbol_failing_every_time_fails_after_max_attempts(
    failure: dict[str, Any],
    code: str,
    message: str,
    base_url: str,
    token: str,
    mocked: aioresponses,
    recorded: Callable[[], Recorded],
    make_job: Callable[..., Job],
    fetch: Fetch,
    tally: Tally,
    delays: list[float],
    guard: OutageGuard,
    guard_waits: list[float],
) -> None:
    asked = url(base_url, TRADES, "TSLA.US")
    mocked.get(asked, repeat=True, **failure)
    job = make_job("short_trades", max_attempts=MOST, backoff_max=4.0)
    result = await fetch(job, parse_symbol("TSLA.US"))
    assert (result.status, result.attempts, tally.sent) == (TaskStatus.FAILED, MOST, MOST)
    assert (result.error_code, result.error_message) == (code, f"{message} (after {MOST} attempts)")
    assert token not in (result.error_message or "")
    assert {key: len(calls) for key, calls in recorded().items()} == {asked: MOST}
    assert len(delays) == MOST - 1 and in_backoff_bounds(delays, job), delays
    # One symbol's failures never open the guard, however many: they are its own.
    assert_plain_retries(guard, guard_waits)


@pytest.mark.parametrize(
    ("endpoint", "symbol", "where", "answer", "status", "code", "message"),
    [
        pytest.param(
            "short_interest",
            "ZZZZ.US",
            (INTEREST, "US.ZZZZ"),
            {
                "body": b'{"ret_code": -7, "ret_msg": "no such security", '
                b'"error": {"code": "invalid_symbol"}}'
            },
            TaskStatus.INVALID,
            "-7",
            "invalid_symbol: no such security",
            id="-7",
        ),
        pytest.param(
            "short_trades",
            "TSLA.US",
            (TRADES, "TSLA.US"),
            {"status": 400, "body": b"Bad Request", "content_type": "text/plain"},
            TaskStatus.INVALID,
            "http_400",
            "HTTP 400 bad request",
            id="http-400",
        ),
        pytest.param(
            "short_trades",
            "12345.HK",
            (TRADES, "12345.HK"),  # a warrant
            {"body": b'{"code": -8, "message": "warrants not supported"}'},
            TaskStatus.UNSUPPORTED,
            "-8",
            "unsupported: warrants not supported",
            id="-8",
        ),
        pytest.param(
            "short_interest",
            "2800.HK",
            (INTEREST, "HK.02800"),
            {"body": b'{"ret_code": -10, "ret_msg": "no data", "error": {"code": "no_data"}}'},
            TaskStatus.NO_DATA,
            "-10",
            "no_data: no data",
            id="-10",
        ),
    ],
)
async def test_a_permanent_answer_ends_the_task_at_once(
    endpoint: str,
    symbol: str,
    where: tuple[str, str],
    answer: dict[str, Any],
    status: TaskStatus,
    code: str,
    message: str,
    base_url: str,
    mocked: aioresponses,
    recorded: Callable[[], Recorded],
    make_job: Callable[..., Job],
    fetch: Fetch,
    delays: list[float],
) -> None:
    asked = url(base_url, *where)
    mocked.get(asked, **answer)
    mocked.get(asked, body=US_TRADES)  # a second request would be answered: none goes out
    result = await fetch(make_job(endpoint), parse_symbol(symbol))
    assert (result.status, result.attempts, result.rows) == (status, 1, ())
    assert (result.error_code, result.error_message) == (code, message)
    assert {key: len(calls) for key, calls in recorded().items()} == {asked: 1}
    assert delays == []
