"""Requests the simulated gateway refuses: wrong symbol styles, bad counts, other markets.

Each refusal is the documented one: -3 in the right envelope, HTTP 400 for a bad short_trades
count, -8 for a market it does not serve, 404 for a path it does not know.
"""

from __future__ import annotations

import pytest

from harvester.simulate import Gateway

TRADES = "short_trades"
INTEREST = "short_interest"


@pytest.mark.parametrize(
    "segment",
    ["00700.HK", "HK.00700", "US.AAPL", "aapl.us", "AAPL", "AAPL%2FX.US", "%E2%82%AC.US", "%00"],
)
async def test_short_trades_rejects_the_wrong_symbol_style(fetch, url, segment):
    async with Gateway() as gw:
        reply = await fetch(url(gw, TRADES, segment, raw=True))
    assert reply.status == 200
    doc = reply.json()
    assert doc["code"] == -3 and doc["data"] == []
    assert doc["message"].startswith("invalid symbol format: ")


@pytest.mark.parametrize(
    "segment", ["700.HK", "HK.700", "HK.0700", "HK.00000", "AAPL.US", "us.aapl", "US.AAPL%2F1"]
)
async def test_short_interest_rejects_the_wrong_symbol_style(fetch, url, segment):
    async with Gateway() as gw:
        reply = await fetch(url(gw, INTEREST, segment, raw=True))
    doc = reply.json()
    assert doc["ret_code"] == -3 and doc["data"] is None
    assert doc["error"]["code"] == "invalid_parameter"
    assert doc["ret_msg"].startswith("invalid symbol format: ")


async def test_an_encoded_slash_stays_inside_one_segment(fetch, url):
    async with Gateway() as gw:
        encoded = await fetch(url(gw, TRADES, "BRK%2FB.US", raw=True))
        bare = await fetch(url(gw, TRADES, "BRK/B.US", raw=True))
    assert encoded.json()["message"] == "invalid symbol format: BRK/B.US"
    assert bare.status == 404


@pytest.mark.parametrize("count", ["0", "101", "-1", "abc", "", "2.5"])
async def test_short_trades_bad_count_is_http_400(call, count):
    async with Gateway() as gw:
        reply = await call(gw, TRADES, "AAPL.US", count)
    assert reply.status == 400 and reply.content_type == "text/plain"
    assert 0 < len(reply.body) < 200


@pytest.mark.parametrize("count", ["0", "91", "x"])
async def test_short_interest_bad_count_is_minus_3(call, count):
    async with Gateway() as gw:
        reply = await call(gw, INTEREST, "US.AAPL", count)
    doc = reply.json()
    assert reply.status == 200
    assert doc["ret_code"] == -3 and doc["error"]["code"] == "invalid_parameter"


@pytest.mark.parametrize(("endpoint", "symbol"), [(TRADES, "600519.SH"), (INTEREST, "SH.600519")])
async def test_other_markets_are_unsupported(call, endpoint, symbol):
    async with Gateway() as gw:
        doc = (await call(gw, endpoint, symbol)).json()
    assert doc.get("code", doc.get("ret_code")) == -8


async def test_unknown_paths_are_404(fetch):
    async with Gateway() as gw:
        for path in ("/", "/v1/quote/AAPL.US/short-selling/other", "/v1/quote/AAPL.US"):
            assert (await fetch(gw.url + path)).status == 404
