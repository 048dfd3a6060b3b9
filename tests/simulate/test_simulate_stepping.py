"""Stepping the served day: one running gateway through business days, in-process and in a process.

Real HTTP on 127.0.0.1 (aiohttp client): each day every pair serves up to its latest
publication, the records that changed since the day before are exactly the restatements
published that day, and a gateway stepped to a day serves the same bytes as one started on it.
``POST /_sim/today`` steps a gateway in another process; a ``--simulate`` sweep takes the
served day and the schedules from ``[simulate]``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
import urllib.error
import urllib.request
from typing import Any

import pytest

from harvester.simulate import Gateway, GatewaySettings
from harvester.simulate.calendars import PAIRS
from harvester.simulate.restate import restatements

TRADES = "short_trades"
INTEREST = "short_interest"
START = dt.date(2026, 5, 15)  # a Friday: the ten steps cross two weekends
SYMBOLS = ["AAPL.US", "MSFT.US", "NVDA.US", "700.HK", "9988.HK", "5.HK"]
# Newest record date per pair on each of the ten business days after START, written out
# from the calendars (docs/settings.md): HK turnover same day; US volume every other Tuesday
# up to the Friday before; HK short interest a week late; US short interest 7 business days
# late.
NEWEST = {
    "2026-05-18": ("2026-05-01", "2026-05-18", "2026-04-30", "2026-05-08"),
    "2026-05-19": ("2026-05-15", "2026-05-19", "2026-04-30", "2026-05-08"),
    "2026-05-20": ("2026-05-15", "2026-05-20", "2026-04-30", "2026-05-08"),
    "2026-05-21": ("2026-05-15", "2026-05-21", "2026-04-30", "2026-05-08"),
    "2026-05-22": ("2026-05-15", "2026-05-22", "2026-04-30", "2026-05-15"),
    "2026-05-25": ("2026-05-15", "2026-05-25", "2026-04-30", "2026-05-15"),
    "2026-05-26": ("2026-05-15", "2026-05-26", "2026-05-15", "2026-05-15"),
    "2026-05-27": ("2026-05-15", "2026-05-27", "2026-05-15", "2026-05-15"),
    "2026-05-28": ("2026-05-15", "2026-05-28", "2026-05-15", "2026-05-15"),
    "2026-05-29": ("2026-05-15", "2026-05-29", "2026-05-15", "2026-05-22"),
}
SETTINGS = GatewaySettings(schedules=True, restate_rate=0.25, seed=11, today=START)


def _wire(symbol: str, endpoint: str) -> str:
    code, market = symbol.rsplit(".", 1)
    if endpoint == TRADES:
        return symbol
    return f"{market}.{code.zfill(5)}" if market == "HK" else f"{market}.{code}"


def _local_day(record: dict[str, Any], market: str) -> str:
    if "timestamp_str" in record:
        return str(record["timestamp_str"])
    moment = dt.datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))
    return (moment + dt.timedelta(hours=8 if market == "HK" else -4)).date().isoformat()


async def _snapshot(call: Any, gw: Gateway) -> tuple[dict[tuple[str, str, str], Any], dict]:
    """Every record served now, by (symbol, endpoint, date), and each pair's newest date."""
    records: dict[tuple[str, str, str], Any] = {}
    newest: dict[tuple[str, str], set[str]] = {}
    for symbol in SYMBOLS:
        market = symbol.rsplit(".", 1)[1]
        for endpoint, count in ((TRADES, 30), (INTEREST, 12)):
            doc = (await call(gw, endpoint, _wire(symbol, endpoint), count)).json()
            items = doc["data"] if endpoint == TRADES else doc["data"]["items"]
            assert len(items) == count
            days = [_local_day(item, market) for item in items]
            newest.setdefault((market, endpoint), set()).add(days[0])
            records.update(
                {(symbol, endpoint, day): item for day, item in zip(days, items, strict=True)}
            )
    return records, newest


async def test_one_gateway_stepped_through_ten_business_days(call, fetch):
    changes = 0
    async with Gateway(SETTINGS) as gw:
        before, _ = await _snapshot(call, gw)
        for expected_day, newest_by_pair in NEWEST.items():
            day = gw.advance()
            assert day.isoformat() == expected_day and gw.today == day
            now, newest = await _snapshot(call, gw)
            served = (await fetch(gw.url + "/_sim/today")).json()
            assert served["today"] == expected_day
            for pair, expected, row in zip(PAIRS, newest_by_pair, served["pairs"], strict=True):
                assert newest[pair] == {expected}, (day, pair)
                assert (row["market"], row["endpoint"], row["newest"]) == (*pair, expected)
            changed = {key for key in before.keys() & now.keys() if before[key] != now[key]}
            announced = {
                (r.symbol, r.endpoint, r.record_date.isoformat())
                for r in restatements(SETTINGS, SYMBOLS, day)
            }
            assert changed == announced, day
            changes += len(changed)
            before = now
        last = gw.today
    assert changes >= 3  # the stepping did show restatements over these ten days
    # A fresh gateway started on the last day serves what the stepped one served.
    async with Gateway(dataclasses.replace(SETTINGS, today=last)) as fresh:
        again, _ = await _snapshot(call, fresh)
    assert again == before


async def test_set_today_before_start_and_between_requests(call):
    gw = Gateway(SETTINGS)
    assert gw.set_today("2026-05-19") == dt.date(2026, 5, 19)
    async with gw:
        first = (await call(gw, TRADES, "AAPL.US", 1)).json()["data"][0]["timestamp"]
        gw.set_today(dt.date(2026, 5, 18))
        second = (await call(gw, TRADES, "AAPL.US", 1)).json()["data"][0]["timestamp"]
        with pytest.raises(ValueError, match="today"):
            gw.set_today("next tuesday")
        assert gw.today == dt.date(2026, 5, 18)
    assert (first, second) == ("2026-05-15T04:00:00Z", "2026-05-01T04:00:00Z")
    assert gw.today == dt.date(2026, 5, 18)  # kept after close, for a later start


async def test_post_sim_today_steps_the_day_and_refuses_bad_bodies(session, call):
    async with Gateway(SETTINGS) as gw:

        async def post(body: bytes) -> tuple[int, Any]:
            async with session.post(gw.url + "/_sim/today", data=body) as response:
                return response.status, await response.json()

        status, doc = await post(b'{"today": "2026-05-26"}')
        assert status == 200 and doc["today"] == "2026-05-26" and gw.today.day == 26
        reply = await call(gw, INTEREST, "US.AAPL", 1)
        assert reply.json()["data"]["items"][0]["timestamp_str"] == "2026-05-15"
        assert (await post(b'{"advance": 3}'))[1]["today"] == "2026-05-29"
        assert (await post(b'{"advance": -5}'))[1]["today"] == "2026-05-22"
        for body in (
            b"x",
            b"[]",
            b"{}",
            b'{"today": "May 26"}',
            b'{"advance": 1.5}',
            b'{"advance": true}',
            b'{"today": "1800-01-01"}',
            b'{"today": "2026-05-26", "advance": 1}',
            b'{"tomorrow": 1}',
        ):
            status, doc = await post(body)
            assert status == 400 and isinstance(doc["error"], str) and doc["error"], body
            assert "\n" not in doc["error"]
        assert gw.today == dt.date(2026, 5, 22)


def _http(url: str, body: bytes | None = None) -> Any:
    """The JSON answer of a GET (or a POST of ``body``); an HTTP error status is kept in it."""
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return {"status": exc.code, **json.loads(exc.read())}


def test_a_gateway_process_is_stepped_over_http(gateway_process):
    flags = ("--schedules", "--date", "2026-05-15", "--restate-rate", "0.5", "--seed", "2")
    with gateway_process(0, *flags) as gw:
        first = _http(gw.url + "/_sim/today")
        stepped = _http(gw.url + "/_sim/today", b'{"advance": 1}')
        trades = _http(gw.url + "/v1/quote/AAPL.US/short-selling/short-trades?count=1")
        refused = _http(gw.url + "/_sim/today", b'{"today": "soon"}')
        assert refused["status"] == 400 and "soon" in refused["error"]
        stats = _http(gw.url + "/_stats")
    assert (first["today"], first["schedules"], first["restate_rate"]) == ("2026-05-15", True, 0.5)
    assert stepped["today"] == "2026-05-18"
    assert trades["data"][0]["timestamp"] == "2026-05-01T04:00:00Z"
    assert stats["total"] == 1  # the day's own endpoints are not counted as requests


def test_a_simulated_sweep_takes_the_day_and_schedules_from_its_config(
    tmp_path, harvester, fast_toml
):
    config = tmp_path / "c.toml"
    config.write_text(fast_toml + 'schedules = true\ntoday = "2026-05-18"\n', encoding="utf-8")
    (tmp_path / "s.txt").write_text("AAPL.US\n700.HK\n", encoding="utf-8")
    db = tmp_path / "h.sqlite"
    result = harvester(
        "sweep",
        "--simulate",
        "--config",
        str(config),
        "--symbols",
        str(tmp_path / "s.txt"),
        "--db",
        str(db),
        "-q",
    )
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db) as con:
        newest = dict(
            con.execute(
                "SELECT symbol || ' ' || kind, MAX(trade_date) FROM ("
                " SELECT symbol, 'trades' AS kind, trade_date FROM short_trades UNION ALL"
                " SELECT symbol, 'interest', trade_date FROM short_interest) GROUP BY 1"
            )
        )
    con.close()
    assert newest == {
        "AAPL.US trades": "2026-05-01",
        "700.HK trades": "2026-05-18",
        "AAPL.US interest": "2026-04-30",
        "700.HK interest": "2026-05-08",
    }
