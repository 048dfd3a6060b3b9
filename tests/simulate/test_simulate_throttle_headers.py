"""The throttle's rate-limit header fields, exactly as sent: the IETF draft's ``RateLimit-Policy``
and ``RateLimit`` (draft-ietf-httpapi-ratelimit-headers-11: Structured Field Lists of String
items with parameters), or ``X-RateLimit-*``; and the throttle over HTTP, in-process on fake
clocks and as a ``harvester simulate`` process started with its flags.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from typing import Any

import pytest

from harvester.simulate import Gateway, GatewaySettings, GatewayStats
from harvester.simulate.service import Service
from harvester.simulate.throttle_stats import ThrottleStats

TRADES, INTEREST = "short_trades", "short_interest"
WALL = dt.datetime(2026, 5, 18, 20, 0, tzinfo=dt.UTC).timestamp()  # 4 h to UTC midnight
FIELDS = ("RateLimit-Policy", "RateLimit", "X-RateLimit-Limit", "X-RateLimit-Remaining")


def _service(clock: Any, **settings: Any) -> Service:
    stats = GatewayStats(throttle=ThrottleStats())
    return Service(GatewaySettings(**settings), stats, clock, lambda: WALL)


def _headers(service: Service, endpoint: str = TRADES, token: str | None = None) -> dict[str, str]:
    symbol = "AAPL.US" if endpoint == TRADES else "US.AAPL"
    answer, _ = service.handle(endpoint, symbol, None, token)
    return dict(answer.headers)


def test_ietf_fields_say_the_limit_and_what_is_left_of_it(fake_clock):
    service = _service(fake_clock(), shared_rate=3, ratelimit_headers="ietf")
    seen = [_headers(service, endpoint) for endpoint in (TRADES, INTEREST, TRADES, INTEREST)]
    assert [h["RateLimit-Policy"] for h in seen] == ['"default";q=3;w=1'] * 4
    assert [h["RateLimit"] for h in seen] == [
        '"default";r=2;t=1',
        '"default";r=1;t=1',
        '"default";r=0;t=1',
        '"default";r=0;t=1',  # the refused one: nothing left, a slot frees within the second
    ]
    assert seen[3] == {
        "Retry-After": "1",
        "RateLimit-Policy": '"default";q=3;w=1',
        "RateLimit": '"default";r=0;t=1',
    }


def test_ietf_fields_carry_a_daily_item_with_a_quota(fake_clock):
    service = _service(fake_clock(), shared_rate=5, quota=800, ratelimit_headers="ietf")
    headers = _headers(service)
    assert headers["RateLimit-Policy"] == '"default";q=5;w=1, "daily";q=800;w=86400'
    assert headers["RateLimit"] == '"default";r=4;t=1, "daily";r=799;t=14400'


def test_a_spent_quota_says_nothing_left_until_midnight(fake_clock):
    service = _service(fake_clock(), quota=2, ratelimit_headers="ietf")
    seen = [_headers(service) for _ in range(3)]
    assert [h["RateLimit-Policy"] for h in seen] == ['"daily";q=2;w=86400'] * 3
    assert [h["RateLimit"] for h in seen] == [
        '"daily";r=1;t=14400',
        '"daily";r=0;t=14400',
        '"daily";r=0;t=14400',
    ]
    assert seen[2]["Retry-After"] == "14400"


def test_the_fields_follow_the_schedule(fake_clock):
    clock = fake_clock()
    service = _service(clock, rate_schedule=[[0, 20], [20, 5]], ratelimit_headers="ietf")
    before = _headers(service)
    clock.now += 20.0
    after = _headers(service)
    assert (before["RateLimit-Policy"], before["RateLimit"]) == (
        '"default";q=20;w=1',
        '"default";r=19;t=1',
    )
    assert (after["RateLimit-Policy"], after["RateLimit"]) == (
        '"default";q=5;w=1',
        '"default";r=4;t=1',
    )


def test_an_answer_before_any_request_counted_offers_the_whole_limit(fake_clock):
    service = _service(fake_clock(), token="t", shared_rate=5, ratelimit_headers="ietf")
    refused = _headers(service)  # a 401 reaches no limit
    assert refused["RateLimit"] == '"default";r=5;t=1'


def test_x_fields_say_the_shared_limit_or_else_the_quota(fake_clock):
    limited = _service(fake_clock(), shared_rate=5, quota=800, ratelimit_headers="x")
    quota_only = _service(fake_clock(), quota=800, ratelimit_headers="x")
    assert _headers(limited) == {
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "4",
        "X-RateLimit-Reset": "1",
    }
    assert _headers(quota_only) == {
        "X-RateLimit-Limit": "800",
        "X-RateLimit-Remaining": "799",
        "X-RateLimit-Reset": "14400",
    }


@pytest.mark.parametrize("style", ["none", "ietf", "x"])
def test_no_fields_without_a_limit_or_with_none_asked(fake_clock, style):
    unlimited = _service(fake_clock(), ratelimit_headers=style)
    quiet = _service(fake_clock(), shared_rate=5, quota=9)
    assert _headers(unlimited) == {}
    assert _headers(quiet) == {}


# --- over HTTP -----------------------------------------------------------------------------


async def test_the_fields_and_refusals_go_out_on_the_wire_in_both_dialects(call, fetch, fake_clock):
    gateway = GatewaySettings(shared_rate=1, ratelimit_headers="ietf")
    async with Gateway(gateway, clock=fake_clock(), wall=lambda: WALL) as gw:
        ok = await call(gw, TRADES, "AAPL.US")
        refused = await call(gw, INTEREST, "US.AAPL")
        stats = (await fetch(gw.url + "/_stats")).json()
    assert (ok.status, ok.headers["RateLimit"]) == (200, '"default";r=0;t=1')
    assert (refused.status, refused.headers["Retry-After"]) == (429, "1")
    assert refused.headers["RateLimit-Policy"] == '"default";q=1;w=1'
    assert stats["throttle"]["refused"]["shared"] == 1
    assert stats["served_429"] == 1

    openapi = GatewaySettings(api="openapi", quota=1, quota_answer="403", ratelimit_headers="x")
    url = "/v1/quote/short-trades/us?symbol=AAPL.US"
    bearer = {"authorization": "Bearer demo-oauth-token"}
    async with Gateway(openapi, clock=fake_clock(), wall=lambda: WALL) as gw:
        first = await fetch(gw.url + url, headers=bearer)
        second = await fetch(gw.url + url, headers=bearer)
        stats = (await fetch(gw.url + "/_stats")).json()
    assert first.status == 200 and first.headers["X-RateLimit-Remaining"] == "0"
    assert second.status == 403 and "quota" in second.json()["message"]
    assert stats["throttle"]["refused"]["quota"] == 1
    assert stats["by_outcome"]["short_trades"] == {"ok": 1, "quota_exhausted": 1}


def test_a_gateway_process_takes_the_throttle_flags(gateway_process):
    flags = ["--quota", "1", "--quota-answer", "403", "--ratelimit-headers", "ietf"]
    flags += ["--shared-rate", "50", "--overload-answer", "-5", "--count-refused"]
    with gateway_process(0, *flags) as gateway:
        path = "/v1/quote/AAPL.US/short-selling/short-trades"
        with urllib.request.urlopen(gateway.url + path, timeout=5) as answer:
            policy = answer.headers["RateLimit-Policy"]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(gateway.url + path, timeout=5)
        body = json.loads(refused.value.read())
        with urllib.request.urlopen(gateway.url + "/_stats", timeout=5) as answer:
            throttle = json.loads(answer.read())["throttle"]
    assert policy == '"default";q=50;w=1, "daily";q=1;w=86400'
    assert refused.value.code == 403 and "quota" in body["message"]
    assert throttle["refused"]["quota"] == 1 and throttle["quota_used"] == 1
    assert throttle["limit"] == 50
