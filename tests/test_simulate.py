"""Tests of the simulated upstream gateway, mostly over real HTTP on loopback.

The gateway is the reference the harvester's adapters are tested against, so
these tests pin it to /work/shared/API.md: both envelopes, both symbol styles,
the value types, the timestamps, the error table and every fault mode.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import aiohttp
import orjson
import pytest
from yarl import URL

from harvester.simulate import (
    FAULTS,
    Gateway,
    GatewaySettings,
    GatewayStats,
    add_arguments,
    serve,
    settings_from_args,
)
from harvester.simulate import data as sim_data
from harvester.simulate import dates as sim_dates
from harvester.simulate import draws as sim_draws
from harvester.simulate.service import Service
from harvester.simulate.symbols import parse_interest_symbol, parse_trades_symbol

ROOT = Path(__file__).resolve().parents[1]
TRADES = "short_trades"
INTEREST = "short_interest"
PATHS = {
    TRADES: "/v1/quote/{}/short-selling/short-trades",
    INTEREST: "/v1/quote/{}/short-selling/short-interest",
}
US_TRADE_KEYS = {"timestamp", "nus_amount", "ny_amount", "total_amount", "rate", "close"}
HK_TRADE_KEYS = {"timestamp", "amount", "balance", "total_amount", "rate", "close"}
US_INTEREST_TYPES = {
    "timestamp": int,
    "timestamp_str": str,
    "shares_short": str,
    "short_percent": float,
    "avg_daily_share_volume": str,
    "days_to_cover": float,
    "close_price": float,
    "last_close_price": float,
    "avg_daily_short_volume": str,
}
HK_INTEREST_TYPES = {
    "timestamp": int,
    "timestamp_str": str,
    "aggregated_short": str,
    "aggregated_short_ratio": float,
    "close_price": float,
    "last_close_price": float,
    "avg_cost": float,
    "avg_daily_short_volume": str,
}
INTEGER = re.compile(r"[0-9]+")
RATE = re.compile(r"[01]\.[0-9]{4}")


@dataclass
class Reply:
    """What the client saw: status, headers, raw body, or the transport error."""

    status: int = 0
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: bytes = b""
    error: BaseException | None = None

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0]

    @property
    def kind(self) -> str:
        """A short label of the outcome, comparable across gateways."""
        if self.error is not None:
            return type(self.error).__name__
        if self.status != 200 or self.content_type != "application/json":
            return f"{self.status} {self.content_type}"
        try:
            doc = self.json()
        except orjson.JSONDecodeError:
            return "bad json"
        return str(doc.get("code", doc.get("ret_code")))


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


def url(gw: Gateway, endpoint: str, symbol: str, count: object = None, *, raw: bool = False) -> URL:
    """The request URL; ``raw`` sends the symbol segment exactly as given."""
    segment = symbol if raw else quote(symbol, safe="")
    text = gw.url + PATHS[endpoint].format(segment)
    if count is not None:
        text += "?count=" + quote(str(count), safe="")
    return URL(text, encoded=True)


async def fetch(session: aiohttp.ClientSession, target: URL | str, **kwargs: Any) -> Reply:
    try:
        async with session.get(target, **kwargs) as response:
            return Reply(response.status, dict(response.headers), await response.read())
    except aiohttp.ClientError as exc:
        return Reply(error=exc)


async def call(session, gw, endpoint, symbol, count=None, **kwargs) -> Reply:
    return await fetch(session, url(gw, endpoint, symbol, count), **kwargs)


def quantized(short: int, total: int) -> str:
    exact = Decimal(short) / Decimal(total)
    return str(exact.quantize(Decimal("0.0001"), ROUND_HALF_UP))


def local_date(stamp: str, zone: str) -> dt.date:
    moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    local = moment.astimezone(ZoneInfo(zone))
    assert local.time() == dt.time(0, 0), stamp
    return local.date()


# --- success shapes and types -------------------------------------------------------


async def test_us_short_trades_matches_the_contract(session):
    async with Gateway() as gw:
        reply = await call(session, gw, TRADES, "AAPL.US", 100)
    assert reply.status == 200 and reply.content_type == "application/json"
    doc = reply.json()
    assert set(doc) == {"code", "message", "data"}
    assert (doc["code"], doc["message"]) == (0, "success")
    records = doc["data"]
    assert len(records) == 100
    days = [local_date(r["timestamp"], "America/New_York") for r in records]
    assert days == sorted(days, reverse=True) and len(set(days)) == 100
    assert all(day.weekday() < 5 for day in days)
    assert days[0] == dt.date(2026, 5, 18)
    for r in records:
        assert set(r) == US_TRADE_KEYS
        assert all(isinstance(v, str) for v in r.values())
        for key in ("nus_amount", "ny_amount", "total_amount"):
            assert INTEGER.fullmatch(r[key])
        short, total = int(r["nus_amount"]) + int(r["ny_amount"]), int(r["total_amount"])
        assert RATE.fullmatch(r["rate"]) and r["rate"] == quantized(short, total)
        assert 10**6 <= total <= 10**9
        assert re.fullmatch(r"[0-9]+\.[0-9]{3}", r["close"]) and 5 < float(r["close"]) < 2000
    # The contract's example date, and New York winter time a few months back.
    stamps = {r["timestamp"] for r in records}
    assert "2026-05-15T04:00:00Z" in stamps
    assert "2026-01-15T05:00:00Z" in stamps


async def test_hk_short_trades_matches_the_contract(session):
    async with Gateway() as gw:
        reply = await call(session, gw, TRADES, "700.HK", 100)
    doc = reply.json()
    assert (doc["code"], doc["message"]) == (0, "success")
    records = doc["data"]
    assert len(records) == 100
    # HK trading day 2026-05-18 falls on 2026-05-17 in UTC.
    assert records[0]["timestamp"] == "2026-05-17T16:00:00Z"
    assert local_date(records[0]["timestamp"], "Asia/Hong_Kong") == dt.date(2026, 5, 18)
    for r in records:
        assert set(r) == HK_TRADE_KEYS
        assert all(isinstance(v, str) for v in r.values())
        assert r["timestamp"].endswith("T16:00:00Z")
        assert INTEGER.fullmatch(r["amount"]) and INTEGER.fullmatch(r["total_amount"])
        assert re.fullmatch(r"[0-9]+\.[0-9]{2}", r["balance"])
        assert r["rate"] == quantized(int(r["amount"]), int(r["total_amount"]))
        assert 10**6 <= int(r["total_amount"]) <= 10**11
        assert re.fullmatch(r"[0-9]+(\.[0-9]{1,3})?", r["close"])


async def test_us_short_interest_matches_the_contract(session):
    async with Gateway() as gw:
        reply = await call(session, gw, INTEREST, "US.BRK.B", 90)
    doc = reply.json()
    assert set(doc) == {"ret_code", "ret_msg", "data"}
    assert (doc["ret_code"], doc["ret_msg"]) == (0, "success")
    items = doc["data"]["items"]
    assert len(items) == 90
    assert items[0]["timestamp_str"] == "2026-05-15"
    assert [i["timestamp_str"] for i in items[:3]] == ["2026-05-15", "2026-04-30", "2026-04-15"]
    for item in items:
        assert {k: type(v) for k, v in item.items()} == US_INTEREST_TYPES
        day = dt.date.fromisoformat(item["timestamp_str"])
        midnight = dt.datetime.combine(day, dt.time(), ZoneInfo("America/New_York"))
        assert item["timestamp"] == int(midnight.timestamp()) * 1000
        for key in ("shares_short", "avg_daily_share_volume", "avg_daily_short_volume"):
            assert INTEGER.fullmatch(item[key])
    stamps = [i["timestamp"] for i in items]
    assert stamps == sorted(stamps, reverse=True)


async def test_hk_short_interest_matches_the_contract(session):
    async with Gateway() as gw:
        reply = await call(session, gw, INTEREST, "HK.00700", 2)
    doc = reply.json()
    assert (doc["ret_code"], doc["ret_msg"]) == (0, "success")
    items = doc["data"]["items"]
    assert [(i["timestamp"], i["timestamp_str"]) for i in items] == [
        (1778774400000, "2026-05-15"),
        (1778169600000, "2026-05-08"),
    ]
    for item in items:
        assert {k: type(v) for k, v in item.items()} == HK_INTEREST_TYPES
        assert INTEGER.fullmatch(item["aggregated_short"])


async def test_counts_default_to_20_and_30(session):
    async with Gateway() as gw:
        trades = (await call(session, gw, TRADES, "TSLA.US")).json()
        interest = (await call(session, gw, INTEREST, "HK.09988")).json()
        one = (await call(session, gw, TRADES, "TSLA.US", 1)).json()
    assert len(trades["data"]) == 20
    assert len(interest["data"]["items"]) == 30
    assert one["data"] == trades["data"][:1]


def test_timestamp_functions_agree_with_the_contract():
    assert sim_dates.rfc3339_utc(dt.date(2026, 5, 18), "HK") == "2026-05-17T16:00:00Z"
    assert sim_dates.rfc3339_utc(dt.date(2026, 5, 15), "US") == "2026-05-15T04:00:00Z"
    assert sim_dates.rfc3339_utc(dt.date(2026, 1, 15), "US") == "2026-01-15T05:00:00Z"
    assert sim_dates.epoch_ms(dt.date(2026, 5, 15), "HK") == 1778774400000


# --- determinism ----------------------------------------------------------------------


async def test_two_gateways_serve_identical_bytes(session):
    requests = [
        (TRADES, "AAPL.US"),
        (TRADES, "700.HK"),
        (INTEREST, "US.AAPL"),
        (INTEREST, "HK.00700"),
    ]
    bodies = []
    for _ in range(2):
        async with Gateway() as gw:
            bodies.append([(await call(session, gw, e, s, 50)).body for e, s in requests])
    assert bodies[0] == bodies[1]
    assert bodies[0][0] != bodies[0][1]


def test_data_is_the_same_in_another_process():
    code = (
        "import datetime, orjson\n"
        "from harvester.simulate import data, symbols\n"
        "a = datetime.date(2026, 5, 18)\n"
        "for code in ('NVDA.US', '700.HK'):\n"
        "    s = symbols.parse_trades_symbol(code)\n"
        "    print(orjson.dumps([data.short_trades(s, a, 5), data.short_interest(s, a, 5)]))\n"
    )
    outputs = set()
    for hash_seed in ("1", "2"):
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": path}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
            timeout=60,
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1


# --- properties of the generated data -------------------------------------------------

ANCHOR = dt.date(2026, 5, 18)


@pytest.mark.parametrize("code", ["AAPL.US", "700.HK"])
def test_a_day_keeps_its_figures_when_the_anchor_moves(code):
    symbol = parse_trades_symbol(code)
    monday = sim_data.short_trades(symbol, ANCHOR, 30)
    friday = sim_data.short_trades(symbol, dt.date(2026, 5, 15), 29)
    assert monday[1:] == friday
    # Both markets' newest report stays that of 2026-05-15 until the 20th.
    reports = sim_data.short_interest(symbol, ANCHOR, 20)
    assert reports == sim_data.short_interest(symbol, dt.date(2026, 5, 20), 20)
    assert reports[0]["timestamp_str"] == "2026-05-15"


@pytest.mark.parametrize(("trades", "interest"), [("TSLA.US", "US.TSLA"), ("5.HK", "HK.00005")])
def test_both_endpoints_agree_on_every_close(trades, interest):
    zone = "America/New_York" if trades.endswith(".US") else "Asia/Hong_Kong"
    days = sim_data.short_trades(parse_trades_symbol(trades), ANCHOR, 100)
    closes = {local_date(r["timestamp"], zone): float(r["close"]) for r in days}
    items = sim_data.short_interest(parse_interest_symbol(interest), ANCHOR, 90)
    checked = 0
    for item in items:
        day = dt.date.fromisoformat(item["timestamp_str"])
        before = sim_dates.previous_trading_day(day)
        if day in closes and before in closes:
            assert item["close_price"] == closes[day]
            assert item["last_close_price"] == closes[before]
            checked += 1
    assert checked >= 5


def test_ratio_rounds_half_up_like_decimal():
    pairs = [(0, 7), (1, 20000), (3, 60000), (5, 100000), (1, 3), (2, 3), (7, 7), (1, 1)]
    pairs += [(n * 7919 % 10**7, 10**7 + n) for n in range(500)]
    for short, total in pairs:
        assert sim_data.ratio(short, total) == quantized(short, total), (short, total)
    assert sim_data.ratio(3, 2) == "1.5000" and sim_data.ratio(0, 0) == "0.0000"


def test_the_draw_pool_is_standard_normal_then_uniform():
    rows = sim_draws.pool()
    assert len(rows) == sim_draws.POOL_SIZE and len(set(rows)) == len(rows)
    normals = [x for row in rows for x in row[: sim_draws.NORMALS]]
    uniforms = [x for row in rows for x in row[sim_draws.NORMALS :]]
    mean = sum(normals) / len(normals)
    spread = (sum((x - mean) ** 2 for x in normals) / len(normals)) ** 0.5
    assert abs(mean) < 0.02 and abs(spread - 1) < 0.02
    assert sum(abs(x) > 1.96 for x in normals) / len(normals) == pytest.approx(0.05, abs=0.005)
    assert all(0 <= x < 1 for x in uniforms)
    assert sum(uniforms) / len(uniforms) == pytest.approx(0.5, abs=0.01)
    # A symbol's walk passes every row before its days repeat one.
    size = sim_draws.POOL_SIZE
    for first, second in [(0, 0), (5, 2**32 - 1), (2**31, 2**20)]:
        start, stride = sim_draws.walk(first, second)
        assert len({(start + day * stride) % size for day in range(size)}) == size


# --- malformed requests ---------------------------------------------------------------


@pytest.mark.parametrize(
    "segment",
    ["00700.HK", "HK.00700", "US.AAPL", "aapl.us", "AAPL", "AAPL%2FX.US", "%E2%82%AC.US", "%00"],
)
async def test_short_trades_rejects_the_wrong_symbol_style(session, segment):
    async with Gateway() as gw:
        reply = await fetch(session, url(gw, TRADES, segment, raw=True))
    assert reply.status == 200
    doc = reply.json()
    assert doc["code"] == -3 and doc["data"] == []
    assert doc["message"].startswith("invalid symbol format: ")


@pytest.mark.parametrize(
    "segment", ["700.HK", "HK.700", "HK.0700", "HK.00000", "AAPL.US", "us.aapl", "US.AAPL%2F1"]
)
async def test_short_interest_rejects_the_wrong_symbol_style(session, segment):
    async with Gateway() as gw:
        reply = await fetch(session, url(gw, INTEREST, segment, raw=True))
    doc = reply.json()
    assert doc["ret_code"] == -3 and doc["data"] is None
    assert doc["error"]["code"] == "invalid_parameter"
    assert doc["ret_msg"].startswith("invalid symbol format: ")


async def test_an_encoded_slash_stays_inside_one_segment(session):
    async with Gateway() as gw:
        encoded = await fetch(session, url(gw, TRADES, "BRK%2FB.US", raw=True))
        bare = await fetch(session, url(gw, TRADES, "BRK/B.US", raw=True))
    assert encoded.json()["message"] == "invalid symbol format: BRK/B.US"
    assert bare.status == 404


@pytest.mark.parametrize("count", ["0", "101", "-1", "abc", "", "2.5"])
async def test_short_trades_bad_count_is_http_400(session, count):
    async with Gateway() as gw:
        reply = await call(session, gw, TRADES, "AAPL.US", count)
    assert reply.status == 400 and reply.content_type == "text/plain"
    assert 0 < len(reply.body) < 200


@pytest.mark.parametrize("count", ["0", "91", "x"])
async def test_short_interest_bad_count_is_minus_3(session, count):
    async with Gateway() as gw:
        reply = await call(session, gw, INTEREST, "US.AAPL", count)
    doc = reply.json()
    assert reply.status == 200
    assert doc["ret_code"] == -3 and doc["error"]["code"] == "invalid_parameter"


@pytest.mark.parametrize(("endpoint", "symbol"), [(TRADES, "600519.SH"), (INTEREST, "SH.600519")])
async def test_other_markets_are_unsupported(session, endpoint, symbol):
    async with Gateway() as gw:
        doc = (await call(session, gw, endpoint, symbol)).json()
    assert doc.get("code", doc.get("ret_code")) == -8


async def test_unknown_paths_are_404(session):
    async with Gateway() as gw:
        for path in ("/", "/v1/quote/AAPL.US/short-selling/other", "/v1/quote/AAPL.US"):
            assert (await fetch(session, gw.url + path)).status == 404


# --- special symbols and scripts --------------------------------------------------------


async def test_special_symbol_lists_answer_on_both_endpoints(session):
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
            trades = (await call(session, gw, TRADES, trades_symbol)).json()
            interest = (await call(session, gw, INTEREST, interest_symbol)).json()
            assert trades["code"] == code and trades["message"]
            assert interest["ret_code"] == code and interest["error"]["code"] == name
        empty_trades = (await call(session, gw, TRADES, "X.US")).json()
        empty_interest = (await call(session, gw, INTEREST, "US.X")).json()
    assert empty_trades == {"code": 0, "message": "success", "data": []}
    assert empty_interest == {"ret_code": 0, "ret_msg": "success", "data": {"items": []}}


async def test_scripts_run_per_symbol_and_endpoint_then_answers_are_normal(session):
    settings = GatewaySettings(
        scripted={"AAPL.US": ("internal_error", "http_500", "ok", "no_data")}
    )
    async with Gateway(settings) as gw:
        trades = [(await call(session, gw, TRADES, "AAPL.US")).kind for _ in range(6)]
        interest = [(await call(session, gw, INTEREST, "US.AAPL")).kind for _ in range(2)]
        other = (await call(session, gw, TRADES, "MSFT.US")).kind
    assert trades == ["-5", "500 text/plain", "0", "-10", "0", "0"]
    assert interest == ["-5", "500 text/plain"]
    assert other == "0"


async def test_a_final_star_repeats_the_step_before_it(session):
    settings = GatewaySettings(scripted={"700.HK": ("ok", "unsupported", "*")})
    async with Gateway(settings) as gw:
        kinds = [(await call(session, gw, INTEREST, "HK.00700")).kind for _ in range(5)]
    assert kinds == ["0", "-8", "-8", "-8", "-8"]


def _check_envelope(code: int, string_code: str | None):
    def check(reply: Reply, endpoint: str) -> None:
        assert reply.status == 200 and reply.content_type == "application/json"
        doc = reply.json()
        if endpoint == TRADES:
            assert doc["code"] == code and doc["message"]
        else:
            assert doc["ret_code"] == code and doc["ret_msg"]
            assert doc["error"]["code"] == string_code and doc["error"]["message"]

    return check


def _check_status(status: int, content_type: str, retry_after: str | None = None):
    def check(reply: Reply, endpoint: str) -> None:
        assert (reply.status, reply.content_type) == (status, content_type)
        assert reply.headers.get("Retry-After") == retry_after

    return check


def _check_truncated(reply: Reply, endpoint: str) -> None:
    assert reply.status == 200 and reply.content_type == "application/json"
    with pytest.raises(orjson.JSONDecodeError):
        reply.json()


def _check_reset(reply: Reply, endpoint: str) -> None:
    assert isinstance(reply.error, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError)


def _check_ok(reply: Reply, endpoint: str) -> None:
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
async def test_every_fault_gives_its_documented_answer(session, fault):
    settings = GatewaySettings(scripted={"700.HK": (fault,)})
    async with Gateway(settings) as gw:
        for endpoint, symbol in ((TRADES, "700.HK"), (INTEREST, "HK.00700")):
            FAULT_CHECKS[fault](await call(session, gw, endpoint, symbol), endpoint)
            assert (await call(session, gw, endpoint, symbol)).kind == "0"
        outcomes = gw.stats.as_dict()["by_outcome"]
    if fault != "ok":
        assert outcomes[TRADES][fault] == 1 and outcomes[INTEREST][fault] == 1


# --- random faults ----------------------------------------------------------------------

RANDOM = GatewaySettings(
    seed=7, error_rate=0.2, http_429_rate=0.1, http_5xx_rate=0.1, malformed_rate=0.2
)
KEYS = [(TRADES, "AAPL.US"), (TRADES, "700.HK"), (INTEREST, "US.AAPL"), (INTEREST, "HK.00005")]


async def _kinds(session, settings, order):
    async with Gateway(settings) as gw:
        seen: dict[tuple[str, str], list[str]] = {key: [] for key in KEYS}
        for key in order:
            seen[key].append((await call(session, gw, *key)).kind)
        return seen, gw.stats.as_dict()["by_outcome"]


async def test_random_faults_depend_on_the_request_number_not_the_order(session):
    in_turn = [key for key in KEYS for _ in range(25)]
    interleaved = [key for _ in range(25) for key in reversed(KEYS)]
    first, first_outcomes = await _kinds(session, RANDOM, in_turn)
    second, second_outcomes = await _kinds(session, RANDOM, interleaved)
    assert first == second and first_outcomes == second_outcomes
    kinds = {kind for sequence in first.values() for kind in sequence}
    assert {"0", "-5", "429 text/plain", "502 text/html"} <= kinds
    assert kinds & {"bad json", "200 text/html"}
    other_seed, _ = await _kinds(session, dataclasses.replace(RANDOM, seed=8), in_turn)
    assert other_seed != first


async def test_no_rates_means_no_faults(session):
    seen, _ = await _kinds(session, GatewaySettings(seed=3), [k for k in KEYS for _ in range(5)])
    assert {kind for sequence in seen.values() for kind in sequence} == {"0"}


def test_latency_and_jitter_are_drawn_per_request():
    settings = GatewaySettings(latency=0.5, latency_jitter=0.2)
    delays = []
    for _ in range(2):
        service = Service(settings, GatewayStats(), FakeClock())
        delays.append([service.handle(TRADES, "AAPL.US", None, None)[1] for _ in range(5)])
    assert delays[0] == delays[1]
    assert all(0.5 <= d < 0.7 for d in delays[0]) and len(set(delays[0])) > 1


# --- rate limit, token, stats -----------------------------------------------------------


async def test_rate_limit_answers_429_and_counts_everything(session):
    clock = FakeClock()
    settings = GatewaySettings(rate_limit={TRADES: 3})
    async with Gateway(settings, clock=clock) as gw:
        burst = [await call(session, gw, TRADES, "AAPL.US") for _ in range(5)]
        other = await call(session, gw, INTEREST, "US.AAPL")
        clock.now += 0.999
        still = await call(session, gw, TRADES, "AAPL.US")
        clock.now += 0.001
        later = [await call(session, gw, TRADES, "AAPL.US") for _ in range(3)]
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


async def test_a_token_is_required_when_set(session):
    async with Gateway(GatewaySettings(token="s3cret")) as gw:
        missing = await call(session, gw, TRADES, "AAPL.US")
        wrong = await call(session, gw, TRADES, "AAPL.US", headers={"Authorization": "Bearer x"})
        right = await call(
            session, gw, INTEREST, "US.AAPL", headers={"Authorization": "Bearer s3cret"}
        )
        outcomes = gw.stats.as_dict()["by_outcome"]
    assert missing.status == 401 and wrong.status == 401
    assert right.kind == "0"
    assert outcomes == {TRADES: {"http_401": 2}, INTEREST: {"ok": 1}}


async def test_stats_are_served_over_http_and_can_be_reset(session):
    async with Gateway(GatewaySettings(scripted={"AAPL.US": ("http_429",)})) as gw:
        await call(session, gw, TRADES, "AAPL.US")
        await call(session, gw, TRADES, "AAPL.US")
        await call(session, gw, INTEREST, "HK.00700", 500)
        served = (await fetch(session, gw.url + "/_stats")).json()
        assert served == gw.stats.as_dict()
        async with session.post(gw.url + "/_stats/reset") as response:
            assert response.status == 200
        zeroed = (await fetch(session, gw.url + "/_stats")).json()
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


async def test_serve_runs_until_cancelled(session):
    urls: list[str] = []
    ready = asyncio.Event()

    def on_ready(base: str) -> None:
        urls.append(base)
        ready.set()

    task = asyncio.create_task(serve(GatewaySettings(), port=0, ready=on_ready))
    await ready.wait()
    reply = await fetch(session, urls[0] + PATHS[TRADES].format("AAPL.US"))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert reply.kind == "0"


# --- settings and flags -------------------------------------------------------------------


def test_settings_from_a_toml_like_mapping():
    settings = GatewaySettings.from_mapping(
        {
            "seed": 4,
            "latency": 0,
            "rate_limit": {"short_trades": 5},
            "no_data": ["AAPL.US"],
            "scripted": {"700.HK": ["internal_error", "*"]},
            "anchor_date": "2026-05-15",
        }
    )
    assert settings.latency == 0.0 and isinstance(settings.latency, float)
    assert settings.no_data == ("AAPL.US",)
    assert settings.scripted == {"700.HK": ("internal_error", "*")}
    assert settings.anchor_date == dt.date(2026, 5, 15)
    assert GatewaySettings.from_mapping({}) == GatewaySettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.seed = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("mapping", "named"),
    [
        ({"sed": 1}, "sed"),
        ({"seed": "1"}, "seed"),
        ({"seed": True}, "seed"),
        ({"latency": -1}, "latency"),
        ({"error_rate": 1.5}, "error_rate"),
        ({"rate_limit": {"trades": 1}}, "rate_limit"),
        ({"rate_limit": {"short_trades": 1.5}}, "rate_limit.short_trades"),
        ({"no_data": "AAPL.US"}, "no_data"),
        ({"no_data": ["00700.HK"]}, "no_data"),
        ({"scripted": {"AAPL.US": ["boom"]}}, "scripted.AAPL.US"),
        ({"scripted": {"AAPL.US": ["*"]}}, "scripted.AAPL.US"),
        ({"token": 5}, "token"),
        ({"anchor_date": "May 15"}, "anchor_date"),
        ({"short_trades_path": "/v1/{sym}"}, "short_trades_path"),
    ],
)
def test_bad_settings_name_the_key(mapping, named):
    with pytest.raises(ValueError, match=re.escape(named)) as caught:
        GatewaySettings.from_mapping(mapping)
    assert "\n" not in str(caught.value)


def test_fault_rates_may_not_exceed_one():
    with pytest.raises(ValueError, match="rates"):
        GatewaySettings(error_rate=0.6, malformed_rate=0.6)


def test_flags_layer_over_base_settings():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = GatewaySettings(no_data=("A.US",), rate_limit={INTEREST: 2}, seed=1)
    ns = parser.parse_args(
        [
            "--seed=5",
            "--error-rate=0.1",
            "--http-429-rate=0.05",
            "--http-5xx-rate=0.05",
            "--malformed-rate=0.05",
            "--latency=0.25",
            "--no-data=B.US",
            "--rate-limit=short_trades=4",
            "--script=700.HK=http_500,*",
            "--token=t",
        ]
    )
    settings = settings_from_args(ns, base)
    assert settings == dataclasses.replace(
        base,
        seed=5,
        error_rate=0.1,
        http_429_rate=0.05,
        http_5xx_rate=0.05,
        malformed_rate=0.05,
        latency=0.25,
        no_data=("A.US", "B.US"),
        rate_limit={INTEREST: 2, TRADES: 4},
        scripted={"700.HK": ("http_500", "*")},
        token="t",
    )
    assert settings_from_args(parser.parse_args([]), base) == base
