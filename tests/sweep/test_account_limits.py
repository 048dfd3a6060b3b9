"""The OpenAPI account's limits, end to end: 10 calls in any second and 5 in flight, all data
sets together (API.md section 5), kept by the client whatever the endpoints allow.

The sweep test runs the simulated gateway and the harvester as processes, with the dialect's
documented settings (no rate setting at all), and judges politeness by the gateway's own
counters. Its oracle for the stored rows is the simulator's record pages, computed here in
process (independently of the harvester's adapters); a few of the gateway's answers, asked
for with requests this test signs itself, show that the process serves those very pages.

The client test (a few seconds of real time, so a slow test too) sends 40 requests through
the harvester's client alone, with both endpoints allowed far more than the account, to an
upstream that holds the first six answers: so a sixth request in flight, or an eleventh in
a second, would be seen.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from harvester.catalog import SHORT_POSITIONS, SHORT_TRADES, Endpoint
from harvester.settings.config import load_settings
from harvester.settings.symbols import read_symbols
from harvester.simulate import (
    DEMO_ACCESS_TOKEN,
    DEMO_APP_KEY,
    DEMO_APP_SECRET,
    GatewaySettings,
    history,
)
from harvester.simulate.openapi import COUNT_PARAMETERS, PATHS
from harvester.simulate.signing import signed_headers
from harvester.simulate.symbols import Symbol as SimSymbol
from harvester.upstream.auth import Signed
from harvester.upstream.client import Client

ROOT = Path(__file__).resolve().parents[2]
HARVESTER = [sys.executable, "-m", "harvester", "sweep", "-q", "--json"]
ACCOUNT_RATE, ACCOUNT_IN_FLIGHT = 10, 5  # API.md section 5: per account, every endpoint
DATA_SETS = (SHORT_TRADES, SHORT_POSITIONS)
ZONES = {"US": ZoneInfo("America/New_York"), "HK": ZoneInfo("Asia/Hong_Kong")}
LATENCY = ("--latency", "0.05", "--latency-jitter", "0.02")
PER_MARKET = 100
SWEEP_TIMEOUT = 150.0  # seconds: 400 requests need 40 at 10 a second
CREDENTIALS = {
    "LONGBRIDGE_APP_KEY": DEMO_APP_KEY,
    "LONGBRIDGE_APP_SECRET": DEMO_APP_SECRET,
    "LONGBRIDGE_ACCESS_TOKEN": DEMO_ACCESS_TOKEN,
}


def _environment(**extra: str) -> dict[str, str]:
    """This environment with no setting or credential of the developer's, plus ``extra``."""
    own = ("HARVESTER_", "LONGBRIDGE_", "LONGPORT_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(own)}
    env.update(extra)
    return env


def _universe(count: int) -> list[str]:
    """``count`` US and ``count`` HK canonical symbols: the shipped ones, topped up."""
    shipped = [line.symbol for line in read_symbols(ROOT / "symbols.txt") if line.symbol]
    us = [s.canonical for s in shipped if s.market == "US"]
    hk = [s.canonical for s in shipped if s.market == "HK"]
    letters = "ABCDEFGHIJ"
    us += [f"Q{a}{b}.US" for a in letters for b in letters if f"Q{a}{b}.US" not in us]
    hk += [f"{code}.HK" for code in range(20_001, 20_001 + count) if f"{code}.HK" not in hk]
    return us[:count] + hk[:count]


def _expected_rows(endpoint: Endpoint, symbols: Sequence[str], before: int) -> list[tuple]:
    """The rows the simulator's pages hold, as the table should store them, in key order.

    Fields map to columns by the catalog (``Column.source``), values by the column's SQL
    type, the unix-second ``timestamp`` to the exchange's date.
    """
    served = GatewaySettings(api="openapi")
    convert: dict[str, Callable[[str], Any]] = {"INTEGER": int, "REAL": float, "TEXT": str}
    rows = []
    for canonical in symbols:
        code, _, market = canonical.rpartition(".")
        page = history.page(served, SimSymbol(code, market), endpoint.name, before, endpoint.count)
        assert len(page) == endpoint.count, canonical
        for record in page:
            seconds = int(record[endpoint.date.source(market) or ""])
            day = dt.datetime.fromtimestamp(seconds, ZONES[market]).date().isoformat()
            values = []
            for column in endpoint.columns:
                field = column.source(market)
                values.append(None if field is None else convert[column.type](record[field]))
            rows.append((canonical, market, day, *values))
    return sorted(rows, key=lambda row: (row[0], row[2]))


def _stored_rows(db: Path, endpoint: Endpoint) -> list[tuple]:
    """The table's rows, head and data columns (not the run's bookkeeping), in key order."""
    columns = ", ".join(["symbol", "market", "trade_date", *(c.name for c in endpoint.columns)])
    with contextlib.closing(sqlite3.connect(db)) as conn:
        sql = f"SELECT {columns} FROM {endpoint.name} ORDER BY symbol, trade_date"
        return conn.execute(sql).fetchall()


def _get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    """The JSON of a GET; an HTTP error (a 401, a 429) raises."""
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def _signed_page(base: str, endpoint: str, canonical: str, before: int, count: int) -> Any:
    """One answer of the gateway to a request signed here (API.md section 5), as JSON."""
    market = canonical.rpartition(".")[2].lower()
    path = PATHS[endpoint].format(market=market)
    query = (
        f"symbol={quote(canonical, safe='')}&last_timestamp={before}"
        f"&{COUNT_PARAMETERS[endpoint]}={count}"
    )
    key, secret, token = DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_ACCESS_TOKEN
    headers = signed_headers(key, secret, token, int(time.time()), path, query)
    return _get_json(f"{base}{path}?{query}", headers)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_sweep_with_the_documented_settings_keeps_the_accounts_limits(
    tmp_path: Path, gateway_process: Callable[..., contextlib.AbstractContextManager[Any]]
) -> None:
    symbols = _universe(PER_MARKET)
    assert len(set(symbols)) == 2 * PER_MARKET
    listed = tmp_path / "symbols.txt"
    listed.write_text("".join(f"{symbol}\n" for symbol in symbols), encoding="utf-8")
    db = tmp_path / "h.sqlite"
    env = _environment(HARVESTER_GATEWAY_API="openapi", **CREDENTIALS)
    with gateway_process(0, "--api", "openapi", *LATENCY) as gateway:
        sweep = subprocess.run(
            [*HARVESTER, "--base-url", gateway.url, "--symbols", str(listed), "--db", str(db)],
            cwd=tmp_path,  # no config/harvester.toml: the dialect's defaults
            env=env,
            capture_output=True,
            text=True,
            timeout=SWEEP_TIMEOUT,
            check=False,
        )
        stats = _get_json(f"{gateway.url}/_stats")
    before = int(time.time())
    # A few answers asked for directly, 8 in all (under the account's 10 in any second), of
    # a second gateway process serving the same data: the first one's window still holds
    # the sweep's last second, and would refuse them.
    with gateway_process(0, "--api", "openapi") as fresh:
        asked = [symbols[0], symbols[PER_MARKET - 1], symbols[PER_MARKET], symbols[-1]]
        direct = {
            (endpoint.name, symbol): _signed_page(
                fresh.url, endpoint.name, symbol, before, endpoint.count
            )
            for endpoint in DATA_SETS
            for symbol in asked
        }
    assert sweep.returncode == 0, sweep.stderr
    summary = json.loads(sweep.stdout)
    assert summary["tasks"] == {name: {"ok": 2 * PER_MARKET} for name in PATHS}
    assert (summary["warnings"], summary["failed_tasks_total"]) == (0, 0)

    account = stats["account"]
    assert stats["served_401"] == 0
    assert account["max_per_second"] <= ACCOUNT_RATE, account
    assert max(account["arrivals_per_second"]) <= ACCOUNT_RATE, account
    assert account["max_in_flight"] <= ACCOUNT_IN_FLIGHT, account
    assert (account["refused_rate"], account["refused_concurrency"]) == (0, 0)
    assert stats["served_429"] == 0
    assert stats["total"] == summary["requests"] == 2 * len(symbols)  # nothing retried
    assert stats["by_outcome"] == {name: {"ok": len(symbols)} for name in PATHS}

    for endpoint in DATA_SETS:
        expected = _expected_rows(endpoint, symbols, before)
        assert len(expected) == len(symbols) * endpoint.count
        stored = _stored_rows(db, endpoint)
        assert stored == expected, endpoint.name
    # The oracle is what the gateway process served: the same pages, over the wire.
    for (name, symbol), answer in direct.items():
        code, _, market = symbol.rpartition(".")
        count = next(endpoint.count for endpoint in DATA_SETS if endpoint.name == name)
        page = history.page(
            GatewaySettings(api="openapi"), SimSymbol(code, market), name, before, count
        )
        assert answer["code"] == 0, answer
        assert answer["data"]["data"] == page, (name, symbol)


# The client alone ---------------------------------------------------------------------------

HOLD = 0.7  # seconds the first few answers take: long enough for a sixth to be in flight
HELD = ACCOUNT_IN_FLIGHT + 1
REQUESTS = 40


class Probe:
    """An upstream that counts arrivals and requests in flight; it holds the first ``HELD``."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.arrivals.append(time.monotonic())
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if len(self.arrivals) <= HELD:
                await asyncio.sleep(HOLD)
            return web.json_response({"code": 0, "message": "success", "data": {"data": []}})
        finally:
            self.in_flight -= 1


def most_in_any_second(times: Sequence[float]) -> int:
    """The most of ``times`` in any window ``[t, t + 1)``."""
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + 1.0) - i for i, t in enumerate(ordered)), default=0)


class Sending:
    """The client's side: ``before_send`` as each request goes, ``done`` as its answer is in."""

    def __init__(self) -> None:
        self.sent: list[float] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def before_send(self) -> None:
        self.sent.append(time.monotonic())
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def done(self) -> None:
        self.in_flight -= 1


@pytest.mark.slow
async def test_the_client_keeps_the_accounts_limits_over_higher_endpoint_limits(
    tmp_path: Path,
    serve_app: Callable[[web.Application], contextlib.AbstractAsyncContextManager[str]],
) -> None:
    probe = Probe()
    app = web.Application()
    app.router.add_get("/v1/quote/{data}/{market}", probe.handle)
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    async with serve_app(app) as url:
        lax = {"rate": 100.0, "burst": 10, "concurrency": 8}  # per endpoint: far over the account
        overrides: dict[str, dict[str, Any]] = {
            "gateway": {"api": "openapi", "base_url": url, "timeout": 5.0},
            **{f"endpoints.{endpoint.name}": lax for endpoint in DATA_SETS},
        }
        settings = load_settings(empty, overrides=overrides, environ={})
        assert (settings.gateway.rate, settings.gateway.concurrency) == (10.0, 5)  # the defaults
        assert [e.rate for e in settings.endpoints] == [100.0, 100.0]
        auth = Signed(DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_ACCESS_TOKEN, hint="demo")
        sending = Sending()
        async with Client(settings.gateway, settings.endpoints, auth=auth) as client:

            async def one(i: int) -> int:
                endpoint = DATA_SETS[i % 2]  # both data sets: the limits are the account's
                path = (endpoint.openapi or "").format(market="us")
                query = [("symbol", f"S{i}.US")]
                answer = await client.get(
                    endpoint.name, path, query, before_send=sending.before_send
                )
                sending.done()
                return answer.status

            statuses = await asyncio.gather(*(one(i) for i in range(REQUESTS)))
    assert statuses == [200] * REQUESTS
    assert len(sending.sent) == len(probe.arrivals) == REQUESTS
    assert sending.most_in_flight <= ACCOUNT_IN_FLIGHT, "in flight as the client counts them"
    assert probe.most_in_flight <= ACCOUNT_IN_FLIGHT, "in flight as the upstream saw them"
    assert most_in_any_second(sending.sent) <= ACCOUNT_RATE, "sent in one second"
    assert most_in_any_second(probe.arrivals) <= ACCOUNT_RATE, "arrived in one second"
    # The limits were reached, not merely kept: the run pressed against both.
    assert probe.most_in_flight == ACCOUNT_IN_FLIGHT
    assert most_in_any_second(probe.arrivals) >= ACCOUNT_RATE - 2
