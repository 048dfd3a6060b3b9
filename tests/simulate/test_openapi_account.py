"""The OpenAPI dialect's account limit: 10 requests in any second and 5 in flight, over both
data sets together, counted as they arrive (refused ones too), and shown in ``/_stats``.

A fake monotonic clock drives the one-second window, so nothing here sleeps; requests are
held in flight by not departing them (in the service) or by the gateway's own latency.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from harvester.simulate import Gateway, GatewaySettings, GatewayStats
from harvester.simulate.account import AccountStats
from harvester.simulate.openapi import PATHS, Call, OpenApiService
from harvester.simulate.settings import OPENAPI_ENDPOINTS

BEARER = {"authorization": "Bearer demo-oauth-token"}
WALL = 1_779_134_400.0


def _call(endpoint: str = "short_trades", headers: dict[str, str] = BEARER) -> Call:
    market = "us"
    query = "symbol=AAPL.US&last_timestamp=1779134400"
    return Call(
        endpoint=endpoint,
        market=market,
        path=PATHS[endpoint].format(market=market),
        query=query,
        parameters=(("symbol", "AAPL.US"), ("last_timestamp", "1779134400")),
        headers=headers,
    )


def _service(clock: Any, **settings: Any) -> OpenApiService:
    stats = GatewayStats(OPENAPI_ENDPOINTS, AccountStats())
    return OpenApiService(GatewaySettings(api="openapi", **settings), stats, clock, lambda: WALL)


def _code(service: OpenApiService, call: Call | None = None) -> int:
    """The code of one request's answer, the request departed at once."""
    answer, _ = service.answer(call or _call())
    service.depart()
    return int(orjson.loads(answer.body)["code"])


def test_the_eleventh_request_in_a_second_is_refused(fake_clock):
    clock = fake_clock()
    service = _service(clock)
    endpoints = OPENAPI_ENDPOINTS * 5  # both data sets count together
    first = [_code(service, _call(endpoint)) for endpoint in endpoints]
    eleventh = _code(service)
    clock.now += 0.999
    knocking = _code(service)  # the refused one still counts: 12 in this second
    clock.now += 0.001
    later = _code(service)
    assert first == [0] * 10
    assert (eleventh, knocking, later) == (429002, 429002, 0)
    account = service.stats.as_dict()["account"]
    assert account == {
        "max_per_second": 12,
        "max_in_flight": 1,
        "refused_rate": 2,
        "refused_concurrency": 0,
        "arrivals_per_second": [12, 1],
    }
    assert service.stats.as_dict()["by_outcome"]["short_trades"]["account_limited"] == 2


def test_the_sixth_request_in_flight_is_refused(fake_clock):
    service = _service(fake_clock())
    answers = [service.answer(_call())[0] for _ in range(6)]
    assert [a.status for a in answers] == [200] * 5 + [429]
    assert orjson.loads(answers[-1].body)["code"] == 429002
    service.depart()  # the refused one leaves
    assert service.answer(_call())[0].status == 429  # five still in flight
    service.depart()
    service.depart()  # one of the five answered: room for one more
    assert service.answer(_call())[0].status == 200
    account = service.stats.as_dict()["account"]
    assert account["max_in_flight"] == 6 and account["refused_concurrency"] == 2


def test_a_limit_of_zero_is_no_limit(fake_clock):
    service = _service(fake_clock(), account_rate=0, account_concurrency=0)
    answers = [service.answer(_call())[0] for _ in range(30)]
    assert {a.status for a in answers} == {200}
    assert service.stats.as_dict()["account"]["max_per_second"] == 30


def test_unauthorised_requests_count_but_are_401_not_429(fake_clock):
    service = _service(fake_clock(), account_rate=2)
    codes = [_code(service, _call(headers={"authorization": "Bearer x"})) for _ in range(4)]
    assert codes == [401004] * 4
    stats = service.stats.as_dict()
    assert stats["served_401"] == 4 and stats["served_429"] == 0
    assert stats["account"]["max_per_second"] == 4


async def test_in_flight_lasts_through_the_latency_over_http(fetch, fake_clock):
    settings = GatewaySettings(api="openapi", latency=1.0)
    url = PATHS["short_positions"].format(market="hk") + "?symbol=700.HK&count=1"
    async with Gateway(settings, clock=fake_clock(), wall=lambda: WALL) as gw:
        replies = await asyncio.gather(*(fetch(gw.url + url, headers=BEARER) for _ in range(6)))
        stats = gw.stats.as_dict()
    assert sorted(r.status for r in replies) == [200] * 5 + [429]
    assert stats["account"]["max_in_flight"] == 6
    assert stats["account"]["refused_concurrency"] == 1
    assert stats["by_outcome"]["short_positions"] == {"ok": 5, "account_limited": 1}


async def test_stats_reset_zeroes_the_account_figures(session, fetch, fake_clock):
    clock = fake_clock()
    url = PATHS["short_trades"].format(market="us") + "?symbol=AAPL.US"
    async with Gateway(GatewaySettings(api="openapi"), clock=clock, wall=lambda: WALL) as gw:
        for _ in range(12):
            await fetch(gw.url + url, headers=BEARER)
        served = (await fetch(gw.url + "/_stats")).json()
        async with session.post(gw.url + "/_stats/reset") as response:
            zeroed = orjson.loads(await response.read())
    assert served["account"]["refused_rate"] == 2 and served["served_429"] == 2
    assert served["by_endpoint"] == {"short_trades": 12, "short_positions": 0}
    assert zeroed["served_401"] == 0 and zeroed["served_429"] == 0
    assert zeroed["account"] == {
        "max_per_second": 0,
        "max_in_flight": 0,
        "refused_rate": 0,
        "refused_concurrency": 0,
        "arrivals_per_second": [],
    }
