"""The simulated gateway as a running service: rate limit, token, stats, start and stop.

A fake clock drives the rate limit; the token is demanded when set; stats are served and reset
over HTTP; the gateway is an async context manager, and ``serve`` runs until cancelled.
"""

from __future__ import annotations

import asyncio

import pytest

from harvester.simulate import Gateway, GatewaySettings, serve

TRADES = "short_trades"
INTEREST = "short_interest"


# --- rate limit, token, stats -----------------------------------------------------------


async def test_rate_limit_answers_429_and_counts_everything(call, fake_clock):
    clock = fake_clock()
    settings = GatewaySettings(rate_limit={TRADES: 3})
    async with Gateway(settings, clock=clock) as gw:
        burst = [await call(gw, TRADES, "AAPL.US") for _ in range(5)]
        other = await call(gw, INTEREST, "US.AAPL")
        clock.now += 0.999
        still = await call(gw, TRADES, "AAPL.US")
        clock.now += 0.001
        later = [await call(gw, TRADES, "AAPL.US") for _ in range(3)]
        stats = gw.stats.as_dict()
    assert [r.status for r in burst] == [200, 200, 200, 429, 429]
    assert burst[3].headers["Retry-After"] == "1"
    assert other.status == 200 and still.status == 429
    assert [r.status for r in later] == [200, 200, 200]
    assert stats["served_429"] == 3
    assert stats["by_outcome"][TRADES] == {"ok": 6, "rate_limited": 3}
    assert stats["by_endpoint"] == {TRADES: 9, INTEREST: 1}
    assert stats["total"] == 10
    assert stats["max_per_second"] == {TRADES: 6, INTEREST: 1}


async def test_a_token_is_required_when_set(call):
    async with Gateway(GatewaySettings(token="s3cret")) as gw:
        missing = await call(gw, TRADES, "AAPL.US")
        wrong = await call(gw, TRADES, "AAPL.US", headers={"Authorization": "Bearer x"})
        right = await call(gw, INTEREST, "US.AAPL", headers={"Authorization": "Bearer s3cret"})
        outcomes = gw.stats.as_dict()["by_outcome"]
    assert missing.status == 401 and wrong.status == 401
    assert right.kind == "0"
    assert outcomes == {TRADES: {"http_401": 2}, INTEREST: {"ok": 1}}


async def test_stats_are_served_over_http_and_can_be_reset(session, fetch, call):
    async with Gateway(GatewaySettings(scripted={"AAPL.US": ("http_429",)})) as gw:
        await call(gw, TRADES, "AAPL.US")
        await call(gw, TRADES, "AAPL.US")
        await call(gw, INTEREST, "HK.00700", 500)
        served = (await fetch(gw.url + "/_stats")).json()
        assert served == gw.stats.as_dict()
        async with session.post(gw.url + "/_stats/reset") as response:
            assert response.status == 200
        zeroed = (await fetch(gw.url + "/_stats")).json()
    assert served["total"] == 3 and served["served_429"] == 1
    assert served["span"] > 0
    assert served["by_outcome"] == {
        TRADES: {"http_429": 1, "ok": 1},
        INTEREST: {"invalid_parameter": 1},
    }
    assert zeroed == {
        "total": 0,
        "by_endpoint": {TRADES: 0, INTEREST: 0},
        "by_outcome": {TRADES: {}, INTEREST: {}},
        "max_per_second": {TRADES: 0, INTEREST: 0},
        "served_429": 0,
        "span": 0.0,
        "response_bytes": 0,
        "response_bytes_by_endpoint": {TRADES: 0, INTEREST: 0},
    }


# --- lifecycle --------------------------------------------------------------------------


async def test_gateway_lifecycle():
    gw = Gateway()
    with pytest.raises(RuntimeError):
        _ = gw.url
    async with gw:
        assert gw.url == f"http://127.0.0.1:{gw.port}" and gw.port > 0
        with pytest.raises(RuntimeError):
            await gw.start()
    await gw.close()
    await gw.close()


async def test_serve_runs_until_cancelled(fetch):
    urls: list[str] = []
    ready = asyncio.Event()

    def on_ready(base: str) -> None:
        urls.append(base)
        ready.set()

    task = asyncio.create_task(serve(GatewaySettings(), port=0, ready=on_ready))
    await ready.wait()
    reply = await fetch(urls[0] + "/v1/quote/AAPL.US/short-selling/short-trades")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert reply.kind == "0"
