"""The simulated gateway's fault modes: special symbols, scripts, every named fault, random faults.

Each fault gives its documented answer on both endpoints and is counted; scripts run per symbol
and endpoint; random faults depend on the request number, not on the order requests come in.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp
import orjson
import pytest

from harvester.simulate import FAULTS, Gateway, GatewaySettings, GatewayStats
from harvester.simulate.service import Service

TRADES = "short_trades"
INTEREST = "short_interest"


# --- special symbols and scripts --------------------------------------------------------


async def test_special_symbol_lists_answer_on_both_endpoints(call):
    settings = GatewaySettings(
        no_data=("AAPL.US",), unsupported=("5.HK",), invalid_symbol=("700.HK",), empty=("X.US",)
    )
    cases = [
        ("AAPL.US", "US.AAPL", -10, "no_data"),
        ("5.HK", "HK.00005", -8, "unsupported"),
        ("700.HK", "HK.00700", -7, "invalid_symbol"),
    ]
    async with Gateway(settings) as gw:
        for trades_symbol, interest_symbol, code, name in cases:
            trades = (await call(gw, TRADES, trades_symbol)).json()
            interest = (await call(gw, INTEREST, interest_symbol)).json()
            assert trades["code"] == code and trades["message"]
            assert interest["ret_code"] == code and interest["error"]["code"] == name
        empty_trades = (await call(gw, TRADES, "X.US")).json()
        empty_interest = (await call(gw, INTEREST, "US.X")).json()
    assert empty_trades == {"code": 0, "message": "success", "data": []}
    assert empty_interest == {"ret_code": 0, "ret_msg": "success", "data": {"items": []}}


async def test_scripts_run_per_symbol_and_endpoint_then_answers_are_normal(call):
    settings = GatewaySettings(
        scripted={"AAPL.US": ("internal_error", "http_500", "ok", "no_data")}
    )
    async with Gateway(settings) as gw:
        trades = [(await call(gw, TRADES, "AAPL.US")).kind for _ in range(6)]
        interest = [(await call(gw, INTEREST, "US.AAPL")).kind for _ in range(2)]
        other = (await call(gw, TRADES, "MSFT.US")).kind
    assert trades == ["-5", "500 text/plain", "0", "-10", "0", "0"]
    assert interest == ["-5", "500 text/plain"]
    assert other == "0"


async def test_a_final_star_repeats_the_step_before_it(call):
    settings = GatewaySettings(scripted={"700.HK": ("ok", "unsupported", "*")})
    async with Gateway(settings) as gw:
        kinds = [(await call(gw, INTEREST, "HK.00700")).kind for _ in range(5)]
    assert kinds == ["0", "-8", "-8", "-8", "-8"]


def _check_envelope(code: int, string_code: str | None):
    def check(reply: Any, endpoint: str) -> None:
        assert reply.status == 200 and reply.content_type == "application/json"
        doc = reply.json()
        if endpoint == TRADES:
            assert doc["code"] == code and doc["message"]
        else:
            assert doc["ret_code"] == code and doc["ret_msg"]
            assert doc["error"]["code"] == string_code and doc["error"]["message"]

    return check


def _check_status(status: int, content_type: str, retry_after: str | None = None):
    def check(reply: Any, endpoint: str) -> None:
        assert (reply.status, reply.content_type) == (status, content_type)
        assert reply.headers.get("Retry-After") == retry_after

    return check


def _check_truncated(reply: Any, endpoint: str) -> None:
    assert reply.status == 200 and reply.content_type == "application/json"
    with pytest.raises(orjson.JSONDecodeError):
        reply.json()


def _check_reset(reply: Any, endpoint: str) -> None:
    assert isinstance(reply.error, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError)


def _check_ok(reply: Any, endpoint: str) -> None:
    assert reply.kind == "0"


FAULT_CHECKS = {
    "internal_error": _check_envelope(-5, "internal_error"),
    "invalid_parameter": _check_envelope(-3, "invalid_parameter"),
    "invalid_symbol": _check_envelope(-7, "invalid_symbol"),
    "unsupported": _check_envelope(-8, "unsupported"),
    "no_data": _check_envelope(-10, "no_data"),
    "unknown_code": _check_envelope(-99, "unknown_error"),
    "http_429": _check_status(429, "text/plain", "1"),
    "http_400": _check_status(400, "text/plain"),
    "http_502_html": _check_status(502, "text/html"),
    "http_500": _check_status(500, "text/plain"),
    "html_200": _check_status(200, "text/html"),
    "truncated": _check_truncated,
    "reset": _check_reset,
    "ok": _check_ok,
}


def test_every_fault_name_is_checked():
    assert set(FAULT_CHECKS) == set(FAULTS) and len(FAULTS) == len(set(FAULTS))


@pytest.mark.parametrize("fault", FAULTS)
async def test_every_fault_gives_its_documented_answer(call, fault):
    settings = GatewaySettings(scripted={"700.HK": (fault,)})
    async with Gateway(settings) as gw:
        for endpoint, symbol in ((TRADES, "700.HK"), (INTEREST, "HK.00700")):
            FAULT_CHECKS[fault](await call(gw, endpoint, symbol), endpoint)
            assert (await call(gw, endpoint, symbol)).kind == "0"
        outcomes = gw.stats.as_dict()["by_outcome"]
    if fault != "ok":
        assert outcomes[TRADES][fault] == 1 and outcomes[INTEREST][fault] == 1


# --- random faults ----------------------------------------------------------------------

RANDOM = GatewaySettings(
    seed=7, error_rate=0.2, http_429_rate=0.1, http_5xx_rate=0.1, malformed_rate=0.2
)
KEYS = [(TRADES, "AAPL.US"), (TRADES, "700.HK"), (INTEREST, "US.AAPL"), (INTEREST, "HK.00005")]


async def _kinds(call, settings, order):
    """Each key's reply kinds in ``order``, and the gateway's counts by outcome."""
    async with Gateway(settings) as gw:
        seen: dict[tuple[str, str], list[str]] = {key: [] for key in KEYS}
        for key in order:
            seen[key].append((await call(gw, *key)).kind)
        return seen, gw.stats.as_dict()["by_outcome"]


async def test_random_faults_depend_on_the_request_number_not_the_order(call):
    in_turn = [key for key in KEYS for _ in range(25)]
    interleaved = [key for _ in range(25) for key in reversed(KEYS)]
    first, first_outcomes = await _kinds(call, RANDOM, in_turn)
    second, second_outcomes = await _kinds(call, RANDOM, interleaved)
    assert first == second and first_outcomes == second_outcomes
    kinds = {kind for sequence in first.values() for kind in sequence}
    assert {"0", "-5", "429 text/plain", "502 text/html"} <= kinds
    assert kinds & {"bad json", "200 text/html"}
    other_seed, _ = await _kinds(call, dataclasses.replace(RANDOM, seed=8), in_turn)
    assert other_seed != first


async def test_no_rates_means_no_faults(call):
    seen, _ = await _kinds(call, GatewaySettings(seed=3), [k for k in KEYS for _ in range(5)])
    assert {kind for sequence in seen.values() for kind in sequence} == {"0"}


def test_latency_and_jitter_are_drawn_per_request(fake_clock):
    settings = GatewaySettings(latency=0.5, latency_jitter=0.2)
    delays = []
    for _ in range(2):
        service = Service(settings, GatewayStats(), fake_clock())
        delays.append([service.handle(TRADES, "AAPL.US", None, None)[1] for _ in range(5)])
    assert delays[0] == delays[1]
    assert all(0.5 <= d < 0.7 for d in delays[0]) and len(set(delays[0])) > 1
