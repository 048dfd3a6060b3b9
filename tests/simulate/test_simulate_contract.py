"""The simulated gateway's answers match the contract (/work/shared/API.md) field by field.

Both envelopes, both symbol styles, the value types and formats, the timestamps of both
markets, and the default counts, asked over real HTTP on loopback.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from harvester.simulate import Gateway
from harvester.simulate import dates as sim_dates

TRADES = "short_trades"
INTEREST = "short_interest"
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


async def test_us_short_trades_matches_the_contract(call, quantized, local_date):
    async with Gateway() as gw:
        reply = await call(gw, TRADES, "AAPL.US", 100)
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


async def test_hk_short_trades_matches_the_contract(call, quantized, local_date):
    async with Gateway() as gw:
        reply = await call(gw, TRADES, "700.HK", 100)
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


async def test_us_short_interest_matches_the_contract(call):
    async with Gateway() as gw:
        reply = await call(gw, INTEREST, "US.BRK.B", 90)
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


async def test_hk_short_interest_matches_the_contract(call):
    async with Gateway() as gw:
        reply = await call(gw, INTEREST, "HK.00700", 2)
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


async def test_counts_default_to_20_and_30(call):
    async with Gateway() as gw:
        trades = (await call(gw, TRADES, "TSLA.US")).json()
        interest = (await call(gw, INTEREST, "HK.09988")).json()
        one = (await call(gw, TRADES, "TSLA.US", 1)).json()
    assert len(trades["data"]) == 20
    assert len(interest["data"]["items"]) == 30
    assert one["data"] == trades["data"][:1]


def test_timestamp_functions_agree_with_the_contract():
    assert sim_dates.rfc3339_utc(dt.date(2026, 5, 18), "HK") == "2026-05-17T16:00:00Z"
    assert sim_dates.rfc3339_utc(dt.date(2026, 5, 15), "US") == "2026-05-15T04:00:00Z"
    assert sim_dates.rfc3339_utc(dt.date(2026, 1, 15), "US") == "2026-01-15T05:00:00Z"
    assert sim_dates.epoch_ms(dt.date(2026, 5, 15), "HK") == 1778774400000
