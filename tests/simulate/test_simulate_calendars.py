"""Publication calendars: which pair publishes on which day, and what a served day sees.

The expected dates are written out by hand from the calendars' description (docs/settings.md,
harvester/simulate/calendars.py): HK daily volume the same day, US daily volume every
other Tuesday up to the Friday before, HK short interest of a Friday on the next Friday,
US short interest (15th and month end) seven business days after its settlement date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import orjson
import pytest

from harvester.simulate import GatewaySettings, GatewayStats
from harvester.simulate import calendars as cal
from harvester.simulate.service import Service

D = dt.date
TRADES = "short_trades"
INTEREST = "short_interest"
SYMBOLS = {
    ("US", TRADES): "AAPL.US",
    ("HK", TRADES): "700.HK",
    ("US", INTEREST): "US.AAPL",
    ("HK", INTEREST): "HK.00700",
}

# (publication day, newest record date it carries), from mid-April to the end of May 2026.
PUBLISHED = {
    ("US", TRADES): [
        (D(2026, 4, 21), D(2026, 4, 17)),
        (D(2026, 5, 5), D(2026, 5, 1)),
        (D(2026, 5, 19), D(2026, 5, 15)),
    ],
    ("US", INTEREST): [
        (D(2026, 4, 24), D(2026, 4, 15)),
        (D(2026, 5, 11), D(2026, 4, 30)),
        (D(2026, 5, 26), D(2026, 5, 15)),
    ],
    ("HK", INTEREST): [
        (D(2026, 4, 24), D(2026, 4, 17)),
        (D(2026, 5, 1), D(2026, 4, 24)),
        (D(2026, 5, 8), D(2026, 5, 1)),
        (D(2026, 5, 15), D(2026, 5, 8)),
        (D(2026, 5, 22), D(2026, 5, 15)),
        (D(2026, 5, 29), D(2026, 5, 22)),
    ],
}
MAY = [D(2026, 5, n) for n in range(1, 32)]
WEEKDAYS = [day for day in MAY if day.weekday() < 5]


def _expected(pair: tuple[str, str], first: dt.date, last: dt.date) -> list[tuple[dt.date, ...]]:
    if pair == ("HK", TRADES):  # every weekday, carrying that day
        return [(day, day) for day in MAY if first <= day <= last and day.weekday() < 5]
    return [row for row in PUBLISHED[pair] if first <= row[0] <= last]


def _newest_expected(pair: tuple[str, str], day: dt.date) -> dt.date:
    if pair == ("HK", TRADES):
        return day if day.weekday() < 5 else day - dt.timedelta(days=day.weekday() - 4)
    return max(row for row in PUBLISHED[pair] if row[0] <= day)[1]


@pytest.mark.parametrize("pair", cal.PAIRS, ids="/".join)
def test_each_pair_publishes_on_its_calendar_over_a_month(pair):
    calendar = cal.calendar(*pair)
    found = cal.publications(calendar, D(2026, 5, 1), D(2026, 5, 31))
    assert [(p.day, p.cutoff) for p in found] == _expected(pair, D(2026, 5, 1), D(2026, 5, 31))
    assert all(cal.publishes_on(calendar, p.day) for p in found)
    assert sum(cal.publishes_on(calendar, day) for day in MAY) == len(found)


def test_on_most_business_days_one_or_two_pairs_publish():
    counts = [
        sum(cal.publishes_on(cal.calendar(*pair), day) for pair in cal.PAIRS) for day in WEEKDAYS
    ]
    assert counts.count(1) == 12 and counts.count(2) == 9 and len(counts) == 21
    weekend = [day for day in MAY if day.weekday() >= 5]
    assert not any(
        cal.publishes_on(cal.calendar(*pair), day) for pair in cal.PAIRS for day in weekend
    )


@pytest.mark.parametrize("pair", cal.PAIRS, ids="/".join)
def test_every_day_serves_up_to_its_latest_publication(pair):
    calendar = cal.calendar(*pair)
    for day in MAY:
        assert cal.cutoff(calendar, day) == _newest_expected(pair, day), day
        later = cal.next_publication(calendar, day)
        assert later.day > day and cal.publishes_on(calendar, later.day)
        assert later.cutoff > cal.cutoff(calendar, day)


def test_without_schedules_every_record_is_served_from_its_own_date():
    for day in MAY:
        assert cal.cutoff(cal.calendar("US", TRADES, False), day) == _newest_expected(
            ("HK", TRADES), day
        )
        assert cal.cutoff(cal.calendar("HK", INTEREST, False), day) == max(
            d for d in [D(2026, 4, 24), *[d for d in MAY if d.weekday() == 4]] if d <= day
        )
        us = cal.cutoff(cal.calendar("US", INTEREST, False), day)
        # Month end falls on a Sunday: the settlement date moves back to Friday the 29th.
        assert us == max(d for d in (D(2026, 4, 30), D(2026, 5, 15), D(2026, 5, 29)) if d <= day)


def test_business_days_step_over_weekends():
    friday, saturday = D(2026, 5, 15), D(2026, 5, 16)
    assert cal.shift_business_days(friday, 1) == D(2026, 5, 18)
    assert cal.shift_business_days(saturday, 1) == D(2026, 5, 18)
    assert cal.shift_business_days(saturday, -1) == friday
    assert cal.shift_business_days(saturday, 0) == saturday
    assert cal.shift_business_days(friday, 10) == D(2026, 5, 29)
    assert cal.shift_business_days(D(2026, 5, 29), -10) == friday


def _newest(service: Service, pair: tuple[str, str], count: int) -> list[str]:
    """The record dates the service answers for the pair's symbol, newest first."""
    market, endpoint = pair
    answer, _ = service.handle(endpoint, SYMBOLS[pair], str(count), None)
    doc = orjson.loads(answer.body)
    if endpoint == INTEREST:
        return [item["timestamp_str"] for item in doc["data"]["items"]]
    zone_shift = dt.timedelta(hours=8 if market == "HK" else 0)
    return [
        (dt.datetime.fromisoformat(r["timestamp"][:-1]) + zone_shift).date().isoformat()
        for r in doc["data"]
    ]


def test_the_service_serves_each_pair_up_to_its_cutoff_and_a_full_window(fake_clock):
    settings = GatewaySettings(schedules=True, restate_rate=0.0)
    service = Service(settings, GatewayStats(), fake_clock())
    plain = Service(GatewaySettings(), GatewayStats(), fake_clock())
    for day in WEEKDAYS:
        service.set_today(day)
        for pair in cal.PAIRS:
            full = 100 if pair[1] == TRADES else 90
            dates = _newest(service, pair, full)
            assert dates[0] == _newest_expected(pair, day).isoformat(), (pair, day)
            assert len(dates) == full
            # Schedules only hold records back: the same records, ending at the cutoff.
            plain.set_today(_newest_expected(pair, day))
            endpoint = pair[1]
            same, _ = plain.handle(endpoint, SYMBOLS[pair], str(full), None)
            served, _ = service.handle(endpoint, SYMBOLS[pair], str(full), None)
            assert served.body == same.body


def test_served_lists_every_pair_for_the_admin_endpoint(fake_clock):
    settings = GatewaySettings(schedules=True, today=D(2026, 5, 18))
    doc = Service(settings, GatewayStats(), fake_clock()).served()
    assert doc["today"] == "2026-05-18" and doc["schedules"] is True
    rows = {(row["market"], row["endpoint"]): row for row in doc["pairs"]}
    assert rows[("US", TRADES)] == {
        "market": "US",
        "endpoint": TRADES,
        "newest": "2026-05-01",
        "published": "2026-05-05",
        "next_published": "2026-05-19",
        "next_newest": "2026-05-15",
    }
    assert rows[("HK", INTEREST)]["newest"] == "2026-05-08"
    assert rows[("US", INTEREST)]["next_published"] == "2026-05-26"
    off = Service(dataclasses.replace(settings, schedules=False), GatewayStats(), fake_clock())
    assert {row["newest"] for row in off.served()["pairs"]} == {"2026-05-18", "2026-05-15"}
    assert off.served()["restate_rate"] == 0.0
