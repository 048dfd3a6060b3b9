"""Restatements: a published record changes later, deterministically, and only when announced.

Served answers are compared day by day: a record's values change exactly on the day a
restatement of it is published (``restate.restatements`` names it), by a few percent, in
the quantity it names and the figures derived from it, and never otherwise. The same seed
gives the same values; ``restate_rate = 0`` or schedules off give no change at all.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from harvester.simulate import GatewaySettings, GatewayStats
from harvester.simulate import calendars as cal
from harvester.simulate.restate import DEPTH, Restatement, restatements
from harvester.simulate.service import Service

TRADES = "short_trades"
INTEREST = "short_interest"
US = [f"R{i}.US" for i in range(12)] + ["AAPL.US", "BRK.B.US"]
HK = [f"{code}.HK" for code in (5, 700, 9988, 1, 2, 3, 11, 16, 27, 66, 388, 1299)]
FIRST, LAST = dt.date(2026, 4, 27), dt.date(2026, 6, 12)
COUNT = 30  # reaches past a US batch (10 days) plus the depth a restatement reaches back

# Per restatable quantity: the wire field that carries it, and those allowed to follow it.
FIELDS = {
    ("US", TRADES, "short_volume"): ("nus_amount", {"nus_amount", "ny_amount", "rate"}),
    ("US", TRADES, "total_volume"): ("total_amount", {"total_amount", "rate"}),
    ("HK", TRADES, "short_turnover"): ("amount", {"amount", "rate"}),
    ("HK", TRADES, "total_turnover"): ("total_amount", {"total_amount", "rate"}),
    ("HK", TRADES, "short_balance"): ("balance", {"balance"}),
    ("US", INTEREST, "short_shares"): (
        "shares_short",
        {"shares_short", "short_percent", "days_to_cover"},
    ),
    ("US", INTEREST, "avg_daily_share_volume"): (
        "avg_daily_share_volume",
        {"avg_daily_share_volume", "days_to_cover"},
    ),
    ("US", INTEREST, "avg_daily_short_volume"): (
        "avg_daily_short_volume",
        {"avg_daily_short_volume"},
    ),
    ("HK", INTEREST, "short_shares"): (
        "aggregated_short",
        {"aggregated_short", "aggregated_short_ratio"},
    ),
    ("HK", INTEREST, "avg_daily_short_volume"): (
        "avg_daily_short_volume",
        {"avg_daily_short_volume"},
    ),
    ("HK", INTEREST, "avg_cost"): ("avg_cost", {"avg_cost"}),
}

Key = tuple[str, str, str]  # symbol, endpoint, record date


def _days() -> Iterator[dt.date]:
    day = FIRST
    while day <= LAST:
        if day.weekday() < 5:
            yield day
        day += dt.timedelta(days=1)


def _date_of(record: dict[str, Any], market: str) -> str:
    if "timestamp_str" in record:
        return str(record["timestamp_str"])
    stamp = dt.datetime.fromisoformat(record["timestamp"][:-1])
    return (stamp + dt.timedelta(hours=8 if market == "HK" else 0)).date().isoformat()


def _served(service: Service, count: int = COUNT) -> dict[Key, dict[str, Any]]:
    """Every record the service serves today for the test symbols, by key."""
    records: dict[Key, dict[str, Any]] = {}
    for symbol in US + HK:
        code, market = symbol.rsplit(".", 1)
        styles = {TRADES: symbol, INTEREST: f"{market}.{code.zfill(5) if market == 'HK' else code}"}
        for endpoint, raw in styles.items():
            doc = orjson.loads(service.handle(endpoint, raw, str(count), None)[0].body)
            items = doc["data"] if endpoint == TRADES else doc["data"]["items"]
            for record in items:
                records[symbol, endpoint, _date_of(record, market)] = record
    return records


def _history(settings: GatewaySettings, clock: Any) -> Iterator[tuple[dt.date, dict, dict]]:
    """(day, served the business day before, served that day) over FIRST..LAST."""
    service = Service(dataclasses.replace(settings, today=FIRST), GatewayStats(), clock)
    before = _served(service)
    for day in list(_days())[1:]:
        service.set_today(day)
        now = _served(service)
        yield day, before, now
        before = now


def _changed(before: dict[Key, Any], now: dict[Key, Any]) -> set[Key]:
    return {key for key in before.keys() & now.keys() if before[key] != now[key]}


SETTINGS = GatewaySettings(schedules=True, restate_rate=0.2, seed=3)


def test_values_change_exactly_when_a_restatement_is_published(fake_clock, quantized):
    seen: Counter[tuple[str, str, str]] = Counter()
    for day, before, now in _history(SETTINGS, fake_clock()):
        announced = restatements(SETTINGS, US + HK, day)
        assert all(isinstance(r, Restatement) and r.published == day for r in announced)
        keys = {(r.symbol, r.endpoint, r.record_date.isoformat()) for r in announced}
        assert _changed(before, now) == keys, day
        for r in announced:
            _check_restated(r, before, now, quantized)
        seen.update((r.market, r.endpoint, r.quantity) for r in announced)
    # Every quantity of every pair was restated at least once over these weeks.
    assert set(seen) == set(FIELDS)


def _check_restated(r: Restatement, before: dict, now: dict, quantized: Any) -> None:
    key = (r.symbol, r.endpoint, r.record_date.isoformat())
    old, new = before[key], now[key]
    field, allowed = FIELDS[r.market, r.endpoint, r.quantity]
    differing = {name for name in old if old[name] != new[name]}
    assert field in differing and differing <= allowed, (r, differing)
    # The record was one of the DEPTH newest the pair had served the day before.
    dates = sorted({k[2] for k in before if k[:2] == key[:2]}, reverse=True)
    assert key[2] in dates[:DEPTH]
    assert 0.01 <= abs(r.factor - 1) <= 0.04
    # Within rounding: HK short turnover is published to the thousand dollars.
    assert float(new[field]) / float(old[field]) == pytest.approx(r.factor, abs=0.005)
    if r.endpoint == TRADES:  # the short ratio still is short / total, rounded half up
        short = int(new.get("amount") or int(new["nus_amount"]) + int(new["ny_amount"]))
        assert new["rate"] == quantized(short, int(new["total_amount"]))
    if r.market == "US" and r.endpoint == INTEREST:
        cover = int(new["shares_short"]) / int(new["avg_daily_share_volume"])
        assert new["days_to_cover"] == pytest.approx(max(cover, 0.01), abs=0.005)


def test_the_same_seed_gives_the_same_values_and_another_seed_others(fake_clock):
    day = dt.date(2026, 5, 19)
    one, two = (
        Service(dataclasses.replace(SETTINGS, today=day), GatewayStats(), fake_clock())
        for _ in range(2)
    )
    assert _served(one) == _served(two)
    other = dataclasses.replace(SETTINGS, seed=4)
    assert restatements(SETTINGS, US + HK, FIRST, LAST) == restatements(
        SETTINGS, US + HK, FIRST, LAST
    )
    assert restatements(SETTINGS, US + HK, FIRST, LAST) != restatements(other, US + HK, FIRST, LAST)


@pytest.mark.parametrize(
    "settings",
    [
        dataclasses.replace(SETTINGS, restate_rate=0.0),
        dataclasses.replace(SETTINGS, schedules=False, restate_rate=1.0),
    ],
    ids=["rate 0", "schedules off"],
)
def test_no_restatement_when_switched_off(fake_clock, settings):
    for day, before, now in _history(settings, fake_clock()):
        assert _changed(before, now) == set(), day
        assert restatements(settings, US + HK, day) == []


def test_a_short_answer_is_the_start_of_a_longer_one_with_restatements(fake_clock):
    service = Service(
        dataclasses.replace(SETTINGS, restate_rate=1.0, today=dt.date(2026, 6, 3)),
        GatewayStats(),
        fake_clock(),
    )
    for endpoint, raw, most in (
        (TRADES, "700.HK", 100),
        (TRADES, "AAPL.US", 100),
        (INTEREST, "US.AAPL", 90),
        (INTEREST, "HK.00005", 90),
    ):
        whole = orjson.loads(service.handle(endpoint, raw, str(most), None)[0].body)
        whole = whole["data"] if endpoint == TRADES else whole["data"]["items"]
        for count in (1, 2, 5, 6, 11, 16, 40, most - 1):
            part = orjson.loads(service.handle(endpoint, raw, str(count), None)[0].body)
            part = part["data"] if endpoint == TRADES else part["data"]["items"]
            assert part == whole[:count], (endpoint, raw, count)


def test_restatements_skip_symbols_that_serve_no_data():
    settings = dataclasses.replace(SETTINGS, restate_rate=1.0, no_data=("R1.US",), empty=("5.HK",))
    found = restatements(
        settings, ["R1.US", "5.HK", "600519.SH", "R2.US", "bad"], dt.date(2026, 5, 19)
    )
    assert {r.symbol for r in found} == {"R2.US"}
    assert {r.endpoint for r in found} == {TRADES}  # only US short_trades publishes that day
    assert cal.publishes_on(cal.calendar("US", TRADES), dt.date(2026, 5, 19))


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.6])
def test_about_restate_rate_of_the_publications_restate_a_record(rate):
    settings = dataclasses.replace(SETTINGS, restate_rate=rate)
    symbols = [f"Q{i}.US" for i in range(60)] + [f"{i}.HK" for i in range(100, 160)]
    first, last = dt.date(2026, 5, 1), dt.date(2026, 6, 30)
    publications = sum(
        len(cal.publications(cal.calendar(market, endpoint), first, last)) * 60
        for market, endpoint in cal.PAIRS
    )
    found = restatements(settings, symbols, first, last)
    assert publications > 3000
    assert len(found) / publications == pytest.approx(rate, abs=0.02)
