"""The OpenAPI dialect over HTTP: signed requests, both query styles, refusals, lists and faults.

Requests are signed here by hand from API.md section 5 and sent with the query exactly as
written; the gateway's wall clock is pinned, so the x-timestamp check is exact.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

import pytest
from yarl import URL

from harvester.simulate import Gateway, GatewaySettings
from harvester.simulate.settings import DEMO_ACCESS_TOKEN, DEMO_APP_KEY, DEMO_APP_SECRET

WALL = int(dt.datetime(2026, 5, 18, 20, 0, tzinfo=dt.UTC).timestamp())
TRADES = "/v1/quote/short-trades/"
POSITIONS = "/v1/quote/short-positions/"
OPENAPI = GatewaySettings(api="openapi")


def _signed(
    path: str,
    query: str,
    *,
    secret: str = DEMO_APP_SECRET,
    stamp: int = WALL,
    token: str = DEMO_ACCESS_TOKEN,
) -> dict[str, str]:
    text = (
        f"GET|{path}|{query}|authorization:{token}\nx-api-key:{DEMO_APP_KEY}\n"
        f"x-timestamp:{stamp}\n|authorization;x-api-key;x-timestamp|"
    )
    digest = hashlib.sha1(text.encode()).hexdigest()
    sig = hmac.new(secret.encode(), f"HMAC-SHA256|{digest}".encode(), hashlib.sha256).hexdigest()
    return {
        "x-api-key": DEMO_APP_KEY,
        "authorization": token,
        "x-timestamp": str(stamp),
        "x-api-signature": "HMAC-SHA256 SignedHeaders=authorization;x-api-key;x-timestamp, "
        f"Signature={sig}",
    }


@pytest.fixture
def get(fetch):
    """``await get(gw, path, query, **sign)``: a signed GET, the query sent exactly as given."""

    async def one(gw: Gateway, path: str, query: str, **sign: Any):
        target = URL(f"{gw.url}{path}?{query}" if query else gw.url + path, encoded=True)
        return await fetch(target, headers=_signed(path, query, **sign))

    return one


def _gateway(settings: GatewaySettings = OPENAPI) -> Gateway:
    return Gateway(settings, wall=lambda: WALL)


async def test_both_query_styles_answer_the_same_records(get):
    async with _gateway() as gw:
        by_symbol = await get(gw, TRADES + "us", "symbol=AAPL.US&page_size=3")
        by_counter = await get(gw, TRADES + "us", "counter_id=ST/US/AAPL&page_size=3")
        encoded = await get(gw, TRADES + "us", "counter_id=ST%2FUS%2FAAPL&page_size=3")
        both = await get(gw, TRADES + "us", "symbol=AAPL.US&counter_id=ST/US/AAPL&page_size=3")
        etf = await get(gw, POSITIONS + "us", "counter_id=ETF/US/SPY&count=2")
        padded = await get(gw, POSITIONS + "hk", "symbol=00700.HK&count=2")
        bare = await get(gw, POSITIONS + "hk", "counter_id=ST/HK/700&count=2")
    docs = [reply.json() for reply in (by_symbol, by_counter, encoded, both)]
    assert all(reply.status == 200 for reply in (by_symbol, by_counter, encoded, both))
    assert docs[0] == docs[1] == docs[2] == docs[3]
    assert docs[0]["code"] == 0 and docs[0]["message"] == "success"
    assert docs[0]["data"]["counter_id"] == "ST/US/AAPL"
    assert len(docs[0]["data"]["data"]) == 3
    assert etf.json()["data"]["counter_id"] == "ETF/US/SPY"
    assert padded.json() == bare.json()
    assert padded.json()["data"]["counter_id"] == "ST/HK/700"


async def test_counts_default_to_20_and_run_to_100(get):
    async with _gateway() as gw:
        plain = await get(gw, TRADES + "hk", "symbol=700.HK")
        most = await get(gw, POSITIONS + "us", "symbol=AAPL.US&count=100")
        refused = [
            await get(gw, TRADES + "us", f"symbol=AAPL.US&page_size={n}")
            for n in ("0", "101", "-1", "x", "")
        ]
        wrong_name = await get(gw, TRADES + "us", "symbol=AAPL.US&count=5")
        twice = await get(gw, POSITIONS + "us", "symbol=AAPL.US&count=5&count=6")
    assert len(plain.json()["data"]["data"]) == 20
    assert len(most.json()["data"]["data"]) == 100
    for reply in (*refused, wrong_name, twice):
        assert reply.status == 400, reply.body
        assert reply.json()["code"] == 400001
    assert "page_size" in refused[0].json()["message"]
    assert "count" in wrong_name.json()["message"]


@pytest.mark.parametrize(
    ("path", "query", "status", "code"),
    [
        (TRADES + "hk", "symbol=AAPL.US", 400, 400001),  # the path's market is not the symbol's
        (TRADES + "us", "symbol=700.HK", 400, 400001),
        (TRADES + "US", "symbol=AAPL.US", 400, 400001),  # markets are lower case
        (TRADES + "jp", "symbol=AAPL.US", 400, 400001),
        (TRADES + "us", "page_size=5", 400, 400001),  # no symbol
        (TRADES + "us", "symbol=aapl.us", 400, 400001),
        (TRADES + "hk", "symbol=000700.HK", 400, 400001),
        (TRADES + "us", "symbol=AAPL.US&counter_id=ST/US/MSFT", 400, 400001),
        (TRADES + "us", "symbol=AAPL.US&last_timestamp=yesterday", 400, 400001),
        (TRADES + "sh", "symbol=600519.SH", 400, 400002),  # another market: unsupported
        (TRADES + "us", "symbol=600519.SH", 400, 400002),
        (POSITIONS + "us", "counter_id=IX/US/DJI", 400, 400002),  # an index
    ],
)
async def test_refused_requests(get, path, query, status, code):
    async with _gateway() as gw:
        reply = await get(gw, path, query)
    assert (reply.status, reply.json()["code"]) == (status, code)
    assert reply.json()["message"]


async def test_unauthorized_requests_are_401_with_the_vendors_codes(get, fetch):
    query = "symbol=AAPL.US&page_size=1"
    path = TRADES + "us"
    async with _gateway() as gw:
        wrong_secret = await get(gw, path, query, secret="not-the-secret")
        unknown_token = await get(gw, path, query, token="someone-elses-token")
        skewed = await get(gw, path, query, stamp=WALL - 301)
        on_the_edge = await get(gw, path, query, stamp=WALL + 300)
        nothing = await fetch(URL(f"{gw.url}{path}?{query}", encoded=True))
        oauth = await fetch(
            URL(f"{gw.url}{path}?{query}", encoded=True),
            headers={"authorization": "Bearer demo-oauth-token"},
        )
        stats = gw.stats.as_dict()
    assert (wrong_secret.status, wrong_secret.json()["code"]) == (401, 401102)
    assert (unknown_token.status, unknown_token.json()) == (
        401,
        {"code": 401004, "message": "token invalid"},
    )
    assert (skewed.status, skewed.json()["code"]) == (401, 401102)
    assert "x-timestamp" in skewed.json()["message"]
    assert (nothing.status, nothing.json()["code"]) == (401, 401004)
    assert on_the_edge.status == 200 and oauth.status == 200
    assert stats["served_401"] == 4
    assert stats["by_outcome"]["short_trades"] == {
        "signature_invalid": 1,
        "token_invalid": 2,
        "timestamp_invalid": 1,
        "ok": 2,
    }


async def test_the_special_lists_answer_in_this_dialect(get):
    settings = GatewaySettings(
        api="openapi",
        no_data=("NODATA.US",),
        invalid_symbol=("GONE.US",),
        unsupported=("ODD.US",),
        empty=("700.HK",),
    )
    async with _gateway(settings) as gw:
        no_data = await get(gw, TRADES + "us", "symbol=NODATA.US")
        gone = await get(gw, POSITIONS + "us", "counter_id=ST/US/GONE")
        odd = await get(gw, TRADES + "us", "symbol=ODD.US")
        empty = await get(gw, POSITIONS + "hk", "symbol=00700.HK")
    assert (no_data.status, no_data.json()["code"]) == (404, 404002)
    assert (gone.status, gone.json()["code"]) == (404, 404001)
    assert (odd.status, odd.json()["code"]) == (400, 400002)
    assert empty.status == 200
    assert empty.json() == {
        "code": 0,
        "message": "success",
        "data": {"counter_id": "ST/HK/700", "data": []},
    }


async def test_scripted_faults_take_this_dialects_forms(get):
    script = ("internal_error", "http_429", "unknown_code", "http_502_html", "truncated", "ok")
    settings = GatewaySettings(api="openapi", scripted={"700.HK": script})
    async with _gateway(settings) as gw:
        replies = [await get(gw, TRADES + "hk", "symbol=00700.HK") for _ in script]
        outcomes = gw.stats.as_dict()["by_outcome"]["short_trades"]
    internal, limited, unknown, html, cut, ok = replies
    assert (internal.status, internal.json()) == (
        500,
        {"code": 500000, "message": "internal error"},
    )
    assert (limited.status, limited.json()["code"]) == (429, 429002)
    assert (unknown.status, unknown.json()["code"]) == (200, 999999)
    assert html.status == 502 and html.content_type == "text/html"
    assert cut.status == 200 and cut.kind == "bad json"
    assert ok.json()["code"] == 0
    assert outcomes == dict.fromkeys(script, 1)


@pytest.mark.parametrize(
    ("rate", "status", "code"),
    [("error_rate", 500, 500000), ("http_429_rate", 429, 429002), ("http_5xx_rate", 502, None)],
)
async def test_random_faults_take_this_dialects_forms(get, rate, status, code):
    async with _gateway(GatewaySettings(api="openapi", **{rate: 1.0})) as gw:
        reply = await get(gw, POSITIONS + "us", "symbol=AAPL.US")
    assert reply.status == status
    if code is not None:
        assert reply.json()["code"] == code


async def test_each_dialect_serves_only_its_own_routes(get, call):
    async with _gateway() as gw:
        gateway_style = await call(gw, "short_trades", "AAPL.US")
        served = await get(gw, TRADES + "us", "symbol=AAPL.US")
    async with Gateway() as gw:
        openapi_style = await get(gw, TRADES + "us", "symbol=AAPL.US")
    assert gateway_style.status == 404 and openapi_style.status == 404
    assert served.status == 200


async def test_the_served_day_lists_this_dialects_pairs(fetch):
    async with _gateway(GatewaySettings(api="openapi", schedules=True)) as gw:
        served = (await fetch(gw.url + "/_sim/today")).json()
    pairs = {(row["market"], row["endpoint"]): row["newest"] for row in served["pairs"]}
    # Positions publish as short interest does: US seven, HK five business days late; the
    # US batch ending Friday 2026-05-15 comes out on Tuesday.
    assert pairs == {
        ("US", "short_trades"): "2026-05-01",
        ("HK", "short_trades"): "2026-05-18",
        ("US", "short_positions"): "2026-04-30",
        ("HK", "short_positions"): "2026-05-08",
    }
