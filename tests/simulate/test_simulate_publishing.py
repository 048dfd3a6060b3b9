"""Publishing as real vendors do, seen from outside: holidays, late publishers, suspended and
delisted symbols, explicit restatements; their TOML, flags and one-line errors.

Real HTTP on 127.0.0.1 against in-process gateways stepped with ``POST /_sim/today``, a
gateway without the setting in lockstep as the control, and one gateway process driven by
flags. Expected dates are written out from the calendars (docs/nightly.md), not worked out
by the gateway's own code.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import re
import tomllib
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest

from harvester.simulate import Gateway, GatewaySettings, add_arguments, settings_from_args
from harvester.simulate.restate import restatements

TRADES, INTEREST = "short_trades", "short_interest"
PAIRS = ((TRADES, "US"), (TRADES, "HK"), (INTEREST, "US"), (INTEREST, "HK"))
D = dt.date


def _wire(symbol: str, endpoint: str) -> str:
    """The symbol as the endpoint takes it: ``700.HK`` or ``HK.00700``."""
    code, market = symbol.rsplit(".", 1)
    if endpoint == TRADES:
        return symbol
    return f"HK.{code.zfill(5)}" if market == "HK" else f"US.{code}"


def _day(record: dict[str, Any], market: str) -> str:
    """A record's date: ``timestamp_str``, or the local day of its RFC 3339 midnight."""
    if "timestamp_str" in record:
        return str(record["timestamp_str"])
    moment = dt.datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))
    return (moment + dt.timedelta(hours=8 if market == "HK" else -4)).date().isoformat()


async def _served(call: Any, gw: Gateway, symbol: str, endpoint: str, count: int) -> Any:
    """``{date: record}`` (newest first) of a success, else the answer's code."""
    doc = (await call(gw, endpoint, _wire(symbol, endpoint), count)).json()
    code = doc["code"] if endpoint == TRADES else doc["ret_code"]
    if code != 0:
        return code
    items = doc["data"] if endpoint == TRADES else doc["data"]["items"]
    market = symbol.rsplit(".", 1)[1]
    return {_day(item, market): item for item in items}


async def _newest(call: Any, gw: Gateway, symbol: str, endpoint: str) -> str:
    return next(iter(await _served(call, gw, symbol, endpoint, 1)))


@contextlib.asynccontextmanager
async def _gateways(*settings: GatewaySettings) -> AsyncIterator[list[Gateway]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(Gateway(one)) for one in settings]


async def _step(session: Any, body: dict[str, Any], *gateways: Gateway) -> str:
    """Move every gateway's served day as ``POST /_sim/today`` says; the (one) new day."""
    days = set()
    for gw in gateways:
        async with session.post(gw.url + "/_sim/today", json=body) as answer:
            assert answer.status == 200
            days.add((await answer.json())["today"])
    (day,) = days
    return day


# Holidays ------------------------------------------------------------------------------

# The newest record date per pair (US trades, HK trades, US interest, HK interest) with HK
# closed on Friday 2026-05-22 and the US on Tuesday 2026-05-19. Without them (see
# test_simulate_stepping) US trades up to 05-15 appear on 05-19 and HK interest of 05-15
# on 05-22. With them: the US batch comes on 05-20, HK has no 05-22 record, its 05-15
# report comes on Monday 05-25, and its Friday report of 05-22 is dated Thursday 05-21
# and appears 5 business days later, on 05-28.
HOLIDAY_NEWEST = {
    "2026-05-19": ("2026-05-01", "2026-05-19", "2026-04-30", "2026-05-08"),
    "2026-05-20": ("2026-05-15", "2026-05-20", "2026-04-30", "2026-05-08"),
    "2026-05-21": ("2026-05-15", "2026-05-21", "2026-04-30", "2026-05-08"),
    "2026-05-22": ("2026-05-15", "2026-05-21", "2026-04-30", "2026-05-08"),
    "2026-05-25": ("2026-05-15", "2026-05-25", "2026-04-30", "2026-05-15"),
    "2026-05-26": ("2026-05-15", "2026-05-26", "2026-05-15", "2026-05-15"),
    "2026-05-27": ("2026-05-15", "2026-05-27", "2026-05-15", "2026-05-15"),
    "2026-05-28": ("2026-05-15", "2026-05-28", "2026-05-15", "2026-05-21"),
    "2026-05-29": ("2026-05-15", "2026-05-29", "2026-05-15", "2026-05-21"),
}
HOLIDAYS = GatewaySettings(
    schedules=True,
    restate_rate=0,
    holidays=["HK:2026-05-22", "US:2026-05-19"],
    today=D(2026, 5, 18),
)


@pytest.mark.timeout(60)
async def test_holidays_have_no_record_and_move_publications(call, fetch, session):
    async with _gateways(HOLIDAYS) as (gw,):
        for expected_day, expected in HOLIDAY_NEWEST.items():
            assert await _step(session, {"advance": 1}, gw) == expected_day
            doc = (await fetch(gw.url + "/_sim/today")).json()
            for (endpoint, market), newest, row in zip(PAIRS, expected, doc["pairs"], strict=True):
                symbol = "AAPL.US" if market == "US" else "700.HK"
                assert await _newest(call, gw, symbol, endpoint) == newest, (expected_day, row)
                assert (row["market"], row["endpoint"], row["newest"]) == (market, endpoint, newest)
        hk_trades = await _served(call, gw, "700.HK", TRADES, 7)
        hk_reports = await _served(call, gw, "700.HK", INTEREST, 3)
        await _step(session, {"today": "2026-06-02"}, gw)  # the US batch up to 05-29
        us_trades = await _served(call, gw, "AAPL.US", TRADES, 10)
    assert list(hk_trades) == [
        "2026-05-29",
        "2026-05-28",
        "2026-05-27",
        "2026-05-26",
        "2026-05-25",
        "2026-05-21",  # 05-22 closed
        "2026-05-20",
    ]
    assert list(hk_reports) == ["2026-05-21", "2026-05-15", "2026-05-08"]
    # The US trades on HK's holiday and closes on its own: 05-19 has no record.
    assert list(us_trades) == [
        "2026-05-29",
        "2026-05-28",
        "2026-05-27",
        "2026-05-26",
        "2026-05-25",
        "2026-05-22",
        "2026-05-21",
        "2026-05-20",
        "2026-05-18",
        "2026-05-15",
    ]


@pytest.mark.timeout(30)
async def test_a_bare_date_closes_both_markets_also_without_schedules(call, session):
    settings = GatewaySettings(holidays=["2026-05-20"], today=D(2026, 5, 19))
    async with _gateways(settings) as (gw,):
        seen = {}
        for symbol in ("AAPL.US", "700.HK"):
            seen[symbol, "2026-05-19"] = await _newest(call, gw, symbol, TRADES)
        await _step(session, {"advance": 1}, gw)
        for symbol in ("AAPL.US", "700.HK"):
            seen[symbol, "2026-05-20"] = await _newest(call, gw, symbol, TRADES)
        await _step(session, {"advance": 1}, gw)
        for symbol in ("AAPL.US", "700.HK"):
            seen[symbol, "2026-05-21"] = list(await _served(call, gw, symbol, TRADES, 2))
    for symbol in ("AAPL.US", "700.HK"):
        assert seen[symbol, "2026-05-19"] == "2026-05-19"
        assert seen[symbol, "2026-05-20"] == "2026-05-19"  # the holiday itself serves none
        assert seen[symbol, "2026-05-21"] == ["2026-05-21", "2026-05-19"]


# Late publishers ------------------------------------------------------------------------

LATE = ("MSFT.US", "9988.HK")
PEERS = {"US": "AAPL.US", "HK": "700.HK"}


@pytest.mark.timeout(60)
async def test_a_late_symbol_serves_what_its_pair_served_a_business_day_before(call, session):
    start = D(2026, 5, 15)
    settings = GatewaySettings(schedules=True, restate_rate=0.25, seed=3, today=start)
    late = dataclasses.replace(settings, late=LATE)
    behind = 0
    async with _gateways(late, settings) as (gw, control):
        previous: dict[tuple[str, str], Any] = {}
        for step in range(11):
            if step:
                await _step(session, {"advance": 1}, gw, control)
            now: dict[tuple[str, str], Any] = {}
            for symbol in LATE:
                market = symbol.rsplit(".", 1)[1]
                for endpoint in (TRADES, INTEREST):
                    count = 30 if endpoint == TRADES else 12
                    served = await _served(call, gw, symbol, endpoint, count)
                    peer = await _newest(call, gw, PEERS[market], endpoint)
                    now[symbol, endpoint] = await _served(call, control, symbol, endpoint, count)
                    assert peer == next(iter(now[symbol, endpoint]))
                    if previous:
                        # Newest record and every value, restatements included: a day behind.
                        assert served == previous[symbol, endpoint], (gw.today, symbol)
                        behind += next(iter(served)) != peer
            previous = now
    assert behind >= 10  # HK trades every day, and US and HK publications now and then


@pytest.mark.timeout(30)
async def test_without_schedules_a_late_symbol_ends_a_business_day_early(call, session):
    settings = GatewaySettings(late=["MSFT.US", "9988.HK"], today=D(2026, 5, 18))
    newest = []
    async with _gateways(settings) as (gw,):
        for _ in range(3):
            newest.append([await _newest(call, gw, s, TRADES) for s in ("AAPL.US", *LATE)])
            await _step(session, {"advance": 1}, gw)
    assert newest == [
        ["2026-05-18", "2026-05-15", "2026-05-15"],
        ["2026-05-19", "2026-05-18", "2026-05-18"],
        ["2026-05-20", "2026-05-19", "2026-05-19"],
    ]


# Suspended and delisted -----------------------------------------------------------------


@pytest.mark.timeout(60)
async def test_a_suspended_symbol_stops_before_its_date_while_its_peers_go_on(call, session):
    settings = GatewaySettings(today=D(2026, 5, 11))
    suspended = dataclasses.replace(
        settings, suspended={"MSFT.US": "2026-05-12", "9988.HK": "2026-05-13"}
    )
    seen: dict[str, list[tuple[str, ...]]] = {}
    async with _gateways(suspended, settings) as (gw, control):
        for step in range(6):
            if step:
                day = await _step(session, {"advance": 1}, gw, control)
            else:
                day = "2026-05-11"
            row = []
            for symbol in ("AAPL.US", "MSFT.US", "700.HK", "9988.HK"):
                for endpoint in (TRADES, INTEREST):
                    count = 20 if endpoint == TRADES else 4
                    served = await _served(call, gw, symbol, endpoint, count)
                    # As many records as asked for; the values of each day as without it.
                    assert len(served) == count
                    older = await _served(call, control, symbol, endpoint, 90)
                    assert all(older[key] == value for key, value in served.items())
                    row.append(next(iter(served)))
            seen[day] = row
    # AAPL.US trades and reports, MSFT.US's, 700.HK's, 9988.HK's
    assert seen == {
        "2026-05-11": [
            *("2026-05-11", "2026-04-30", "2026-05-11", "2026-04-30"),
            *("2026-05-11", "2026-05-08", "2026-05-11", "2026-05-08"),
        ],
        "2026-05-12": [
            *("2026-05-12", "2026-04-30", "2026-05-11", "2026-04-30"),
            *("2026-05-12", "2026-05-08", "2026-05-12", "2026-05-08"),
        ],
        "2026-05-13": [
            *("2026-05-13", "2026-04-30", "2026-05-11", "2026-04-30"),
            *("2026-05-13", "2026-05-08", "2026-05-12", "2026-05-08"),
        ],
        "2026-05-14": [
            *("2026-05-14", "2026-04-30", "2026-05-11", "2026-04-30"),
            *("2026-05-14", "2026-05-08", "2026-05-12", "2026-05-08"),
        ],
        "2026-05-15": [
            *("2026-05-15", "2026-05-15", "2026-05-11", "2026-04-30"),
            *("2026-05-15", "2026-05-15", "2026-05-12", "2026-05-08"),
        ],
        "2026-05-18": [
            *("2026-05-18", "2026-05-15", "2026-05-11", "2026-04-30"),
            *("2026-05-18", "2026-05-15", "2026-05-12", "2026-05-08"),
        ],
    }


@pytest.mark.timeout(30)
async def test_a_delisted_symbol_answers_no_data_from_its_date(call, session):
    settings = GatewaySettings(
        schedules=True,
        today=D(2026, 5, 18),
        delisted={"NVDA.US": "2026-05-20", "5.HK": "2026-05-20"},
    )
    seen: dict[str, list[Any]] = {}
    async with _gateways(settings) as (gw,):
        for step in range(4):
            day = await _step(session, {"advance": 1}, gw) if step else "2026-05-18"
            row: list[Any] = []
            for symbol in ("NVDA.US", "5.HK", "AAPL.US", "700.HK"):
                for endpoint in (TRADES, INTEREST):
                    reply = await call(gw, endpoint, _wire(symbol, endpoint), 5)
                    doc = reply.json()
                    if endpoint == TRADES:
                        row.append((doc["code"], len(doc["data"])))
                    else:
                        error = (doc.get("error") or {}).get("code")
                        row.append((doc["ret_code"], error))
            seen[day] = row
    listed = [(0, 5), (0, None)] * 2
    gone = [(-10, 0), (-10, "no_data")] * 2
    assert seen == {
        "2026-05-18": listed + listed,
        "2026-05-19": listed + listed,
        "2026-05-20": gone + listed,
        "2026-05-21": gone + listed,
    }


@pytest.mark.timeout(30)
async def test_the_openapi_dialect_answers_suspended_and_delisted_symbols(fetch):
    settings = GatewaySettings(
        api="openapi",
        today=D(2026, 5, 18),
        suspended={"MSFT.US": "2026-05-12", "TSLA.US": "2015-01-01"},
        delisted={"NVDA.US": "2026-05-18"},
    )
    auth = {"authorization": "Bearer demo-oauth-token"}
    seen = {}
    async with _gateways(settings) as (gw,):
        for symbol in ("AAPL.US", "MSFT.US", "TSLA.US", "NVDA.US"):
            query = f"symbol={symbol}&page_size=3&last_timestamp=2000000000"
            url = f"{gw.url}/v1/quote/short-trades/us?{query}"
            reply = await fetch(url, headers=auth)
            doc = reply.json()
            records = (doc.get("data") or {}).get("data") or []
            stamps = [
                dt.datetime.fromtimestamp(int(r["timestamp"]), dt.UTC).date().isoformat()
                for r in records
            ]
            seen[symbol] = (reply.status, doc["code"], stamps)
    assert seen == {
        "AAPL.US": (200, 0, ["2026-05-18", "2026-05-15", "2026-05-14"]),
        "MSFT.US": (200, 0, ["2026-05-11", "2026-05-08", "2026-05-07"]),
        "TSLA.US": (404, 404002, []),  # suspended before history_start: no record at all
        "NVDA.US": (404, 404002, []),
    }


# Explicit restatements ------------------------------------------------------------------

EXPLICIT = (
    "700.HK:short_trades:2026-04-07:2026-05-20:1.25",  # 30 trading days deep
    "AAPL.US:short_interest:2026-03-31:2026-05-20:0.8",
)


@pytest.mark.timeout(60)
async def test_an_explicit_restatement_changes_that_record_from_its_day_on(
    call, session, quantized
):
    settings = GatewaySettings(schedules=True, restate_rate=0, today=D(2026, 5, 18))
    explicit = dataclasses.replace(settings, restatements=EXPLICIT)
    changed: dict[str, set[tuple[str, str, str]]] = {}
    async with _gateways(explicit, settings) as (gw, control):
        for step in range(5):
            day = await _step(session, {"advance": 1}, gw, control) if step else "2026-05-18"
            changed[day] = set()
            for symbol in ("700.HK", "AAPL.US", "9988.HK"):
                for endpoint, count in ((TRADES, 100), (INTEREST, 90)):
                    served = await _served(call, gw, symbol, endpoint, count)
                    plain = await _served(call, control, symbol, endpoint, count)
                    assert served.keys() == plain.keys()
                    for key in served:
                        if served[key] != plain[key]:
                            changed[day].add((symbol, endpoint, key))
            if day >= "2026-05-20":
                hk = (await _served(call, gw, "700.HK", TRADES, 100))["2026-04-07"]
                hk_plain = (await _served(call, control, "700.HK", TRADES, 100))["2026-04-07"]
                amount = int(int(hk_plain["amount"]) * 1.25) // 1000 * 1000
                assert hk["amount"] == str(amount)
                assert hk["rate"] == quantized(amount, int(hk["total_amount"]))
                assert hk["total_amount"] == hk_plain["total_amount"]
                us = (await _served(call, gw, "AAPL.US", INTEREST, 90))["2026-03-31"]
                us_plain = (await _served(call, control, "AAPL.US", INTEREST, 90))["2026-03-31"]
                assert us["shares_short"] == str(int(int(us_plain["shares_short"]) * 0.8))
                assert us["avg_daily_share_volume"] == us_plain["avg_daily_share_volume"]
                assert us["short_percent"] < us_plain["short_percent"]
    both = {("700.HK", TRADES, "2026-04-07"), ("AAPL.US", INTEREST, "2026-03-31")}
    assert changed == {
        "2026-05-18": set(),
        "2026-05-19": set(),
        "2026-05-20": both,
        "2026-05-21": both,
        "2026-05-22": both,
    }


@pytest.mark.timeout(60)
async def test_every_setting_together_changes_values_only_as_announced(call, session):
    """With drawn restatements too, a value changes exactly on the days ``restatements`` says."""
    symbols = ["AAPL.US", "MSFT.US", "TSLA.US", "700.HK", "9988.HK", "5.HK"]
    settings = GatewaySettings(
        schedules=True,
        restate_rate=0.3,
        seed=5,
        today=D(2026, 5, 13),
        holidays=["2026-05-15", "HK:2026-05-22", "US:2026-05-19"],
        late=["MSFT.US", "9988.HK"],
        suspended={"TSLA.US": "2026-05-06"},
        restatements=[
            "AAPL.US:short_trades:2026-03-04:2026-05-18:1.25",
            "MSFT.US:short_trades:2026-05-14:2026-05-21:1.1",
            "700.HK:short_interest:2026-02-27:2026-05-19:0.8",
        ],
    )

    async def snapshot(gw: Gateway) -> dict[tuple[str, str, str], Any]:
        found = {}
        for symbol in symbols:
            for endpoint, count in ((TRADES, 60), (INTEREST, 20)):
                served = await _served(call, gw, symbol, endpoint, count)
                found.update({(symbol, endpoint, key): value for key, value in served.items()})
        return found

    changes = 0
    async with _gateways(settings) as (gw,):
        before = await snapshot(gw)
        for _ in range(10):
            day = D.fromisoformat(await _step(session, {"advance": 1}, gw))
            now = await snapshot(gw)
            changed = {key for key in before.keys() & now.keys() if before[key] != now[key]}
            announced = {
                (r.symbol, r.endpoint, r.record_date.isoformat())
                for r in restatements(gw.settings, symbols, day)
            }
            assert changed == announced, day
            changes += len(changed)
            before = now
    assert changes >= 6  # the three explicit ones and some drawn ones


# Settings: TOML, flags, checks ----------------------------------------------------------

TOML = """
holidays = ["US:2026-05-25", "HK:2026-05-19", 2026-12-25]
late = ["AAPL.US", "700.HK"]
suspended = { "MSFT.US" = "2026-05-12" }
delisted = ["NVDA.US=2026-05-20"]
restatements = ["AAPL.US:short_trades:2026-05-04:2026-05-15:1.25"]
"""
EXPECTED = GatewaySettings(
    holidays=[("US", D(2026, 5, 25)), ("HK", D(2026, 5, 19)), "2026-12-25"],
    late=("AAPL.US", "700.HK"),
    suspended=["MSFT.US=2026-05-12"],
    delisted={"NVDA.US": D(2026, 5, 20)},
    restatements=("AAPL.US:short_trades:2026-05-04:2026-05-15:1.25",),
)


@pytest.mark.timeout(10)
def test_the_settings_read_from_toml_keywords_and_flags_alike():
    assert GatewaySettings.from_mapping(tomllib.loads(TOML)) == EXPECTED
    assert EXPECTED.holidays == (
        ("HK", D(2026, 5, 19)),
        ("HK", D(2026, 12, 25)),
        ("US", D(2026, 5, 25)),
        ("US", D(2026, 12, 25)),
    )
    assert [str(one) for one in EXPECTED.restatements] == [
        "AAPL.US:short_trades:2026-05-04:2026-05-15:1.25"
    ]
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    flags = parser.parse_args(
        [
            *("--holidays", "US:2026-05-25", "--holidays", "HK:2026-05-19"),
            *("--holidays", "2026-12-25", "--late", "AAPL.US", "--late", "700.HK"),
            *("--suspended", "MSFT.US=2026-05-12", "--delisted", "NVDA.US=2026-05-20"),
            *("--restatements", "AAPL.US:short_trades:2026-05-04:2026-05-15:1.25"),
        ]
    )
    assert settings_from_args(flags, GatewaySettings()) == EXPECTED
    # Flags add to what the config set.
    more = parser.parse_args(["--suspended", "TSLA.US=2026-05-01", "--late", "5.HK"])
    added = settings_from_args(more, EXPECTED)
    assert added.suspended == {"MSFT.US": D(2026, 5, 12), "TSLA.US": D(2026, 5, 1)}
    assert added.late == ("AAPL.US", "700.HK", "5.HK")
    assert settings_from_args(parser.parse_args([]), EXPECTED) == EXPECTED


@pytest.mark.parametrize(
    ("mapping", "shown"),
    [
        ({"holidays": "2026-05-25"}, "'2026-05-25'"),
        ({"holidays": ["SG:2026-05-25"]}, "'SG:2026-05-25'"),
        ({"holidays": ["2026-5-25"]}, "'2026-5-25'"),
        ({"holidays": ["US:1800-01-01"]}, "'US:1800-01-01'"),
        ({"late": ["AAPL"]}, "'AAPL'"),
        ({"late": "AAPL.US"}, "'AAPL.US'"),
        ({"suspended": ["AAPL.US"]}, "'AAPL.US'"),
        ({"suspended": {"AAPL.US": "soon"}}, "'soon'"),
        ({"suspended": ["aapl.us=2026-05-12"]}, "'aapl.us=2026-05-12'"),
        ({"delisted": "AAPL.US=2026-05-12"}, "'AAPL.US=2026-05-12'"),
        ({"delisted": {"AAPL.US": 20260512}}, "20260512"),
        ({"restatements": ["AAPL.US:short_trades:2026-05-04:1.25"]}, "2026-05-04:1.25'"),
        ({"restatements": ["AAPL.US:trades:2026-05-04:2026-05-15:1.25"]}, ":trades:"),
        ({"restatements": ["AAPL.US:short_trades:2026-05-04:2026-05-15:0"]}, ":0'"),
        ({"restatements": ["AAPL.US:short_trades:2026-05-04:2026-05-15:nan"]}, ":nan'"),
        ({"restatements": ["AAPL.US:short_trades:2026-05-04:2026-05-01:2"]}, "2026-05-01:2'"),
        ({"restatements": ["600519.SH:short_trades:2026-05-04:2026-05-15:2"]}, "600519.SH"),
        # A Saturday, and a US record date on a US holiday: no such record.
        ({"restatements": ["AAPL.US:short_trades:2026-05-16:2026-05-18:2"]}, "2026-05-16"),
        (
            {
                "holidays": ["US:2026-05-04"],
                "restatements": ["AAPL.US:short_trades:2026-05-04:2026-05-15:2"],
            },
            "AAPL.US:short_trades:2026-05-04",
        ),
        ({"restatements": ["AAPL.US:short_interest:2026-05-14:2026-05-20:2"]}, "2026-05-14"),
    ],
)
@pytest.mark.timeout(10)
def test_a_bad_value_is_one_line_naming_the_setting_and_the_value(mapping, shown):
    (name,) = {key for key in mapping if key != "holidays"} or {"holidays"}
    with pytest.raises(ValueError, match=re.escape(name)) as caught:
        GatewaySettings.from_mapping(mapping)
    message = str(caught.value)
    assert message.startswith(f"simulate: {name} must be ") and shown in message
    assert "\n" not in message


@pytest.mark.timeout(10)
def test_a_bad_flag_is_a_usage_error_naming_the_setting(capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    for flag, value in (
        ("--holidays", "US:25 May"),
        ("--suspended", "AAPL.US"),
        ("--delisted", "AAPL.US=never"),
        ("--restatements", "AAPL.US:short_trades:2026-05-04"),
        ("--late", "aapl"),
    ):
        with pytest.raises(SystemExit):
            parser.parse_args([flag, value])
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert flag in error and value in error and flag.strip("-") in error.split("simulate:")[1]


# A gateway process --------------------------------------------------------------------


def _get(url: str, body: bytes | None = None) -> Any:
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


@pytest.mark.timeout(60)
def test_a_gateway_process_publishes_by_its_flags(gateway_process):
    flags = (
        *("--schedules", "--restate-rate", "0", "--date", "2026-05-19"),
        *("--holidays", "US:2026-05-19", "--late", "9988.HK"),
        *("--suspended", "MSFT.US=2026-05-12", "--delisted", "NVDA.US=2026-05-19"),
        *("--restatements", "700.HK:short_trades:2026-05-18:2026-05-20:2"),
    )
    trades = "/v1/quote/{}/short-selling/short-trades?count=3"
    with gateway_process(0, *flags) as gw:

        def newest(symbol: str) -> Any:
            doc = _get(gw.url + trades.format(symbol))
            return doc["code"], [_day(r, symbol[-2:]) for r in doc["data"][:2]]

        first = {s: newest(s) for s in ("AAPL.US", "MSFT.US", "NVDA.US", "700.HK", "9988.HK")}
        amounts = [_get(gw.url + trades.format("700.HK"))["data"][1]["amount"]]
        _get(gw.url + "/_sim/today", b'{"advance": 1}')
        amounts.append(_get(gw.url + trades.format("700.HK"))["data"][2]["amount"])
        us = _get(gw.url + "/_sim/today")["pairs"][0]
    assert first == {
        "AAPL.US": (0, ["2026-05-01", "2026-04-30"]),  # the batch up to 05-15 moved to 05-20
        "MSFT.US": (0, ["2026-05-01", "2026-04-30"]),
        "NVDA.US": (-10, []),
        "700.HK": (0, ["2026-05-19", "2026-05-18"]),
        "9988.HK": (0, ["2026-05-18", "2026-05-15"]),
    }
    assert int(amounts[1]) == int(amounts[0]) * 2  # 05-18's short turnover, from 05-20 on
    assert (us["newest"], us["published"]) == ("2026-05-15", "2026-05-20")
