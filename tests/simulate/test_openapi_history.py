"""The OpenAPI dialect's records: exchange-midnight unix seconds, paging by last_timestamp back
to 2015, the same figures for a day on every page, and restatements consistent with the
gateway dialect and with what ``restatements`` announces.

Driven through the service without HTTP (an OAuth bearer token, so nothing to sign); dates
and ratios are worked out here independently of the gateway.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import orjson
import pytest

from harvester.simulate import GatewaySettings, GatewayStats
from harvester.simulate.openapi import COUNT_PARAMETERS, PATHS, Call, OpenApiService
from harvester.simulate.restate import restatements
from harvester.simulate.service import Service
from harvester.simulate.settings import OPENAPI_ENDPOINTS

TRADES, POSITIONS = "short_trades", "short_positions"
ZONES = {"US": ZoneInfo("America/New_York"), "HK": ZoneInfo("Asia/Hong_Kong")}
WALL = int(dt.datetime(2026, 5, 18, 20, 0, tzinfo=dt.UTC).timestamp())
FIELDS = {
    ("US", TRADES): {"nus_amount", "ny_amount", "total_amount", "rate", "close"},
    ("HK", TRADES): {"amount", "balance", "total_amount", "rate", "close"},
    ("US", POSITIONS): {
        "rate",
        "close",
        "current_shares_short",
        "avg_daily_share_volume",
        "days_to_cover",
    },
    ("HK", POSITIONS): {"rate", "close", "amount", "balance", "cost"},
}
Records = list[dict[str, str]]


def _service(**settings: Any) -> OpenApiService:
    chosen = GatewaySettings(api="openapi", account_rate=0, account_concurrency=0, **settings)
    return OpenApiService(chosen, GatewayStats(OPENAPI_ENDPOINTS), lambda: 0.0, lambda: WALL)


def _page(
    service: OpenApiService, endpoint: str, symbol: str, before: int | None = None, count=100
) -> Records:
    """One page of records, asked for as the SDK asks (``symbol``, ``last_timestamp``, count)."""
    params = [("symbol", symbol)]
    if before is not None:
        params.append(("last_timestamp", str(before)))
    params.append((COUNT_PARAMETERS[endpoint], str(count)))
    market = symbol.rsplit(".", 1)[1].lower()
    call = Call(
        endpoint=endpoint,
        market=market,
        path=PATHS[endpoint].format(market=market),
        query=urlencode(params),
        parameters=tuple(params),
        headers={"authorization": "Bearer demo-oauth-token"},
    )
    answer, _ = service.answer(call)
    service.depart()
    doc = orjson.loads(answer.body)
    assert (answer.status, doc["code"]) == (200, 0), doc
    return doc["data"]["data"]


def _pages(service: OpenApiService, endpoint: str, symbol: str, count: int) -> Iterator[Records]:
    """Every page back to the start, each from the oldest timestamp of the one before."""
    before = None
    while True:
        page = _page(service, endpoint, symbol, before, count)
        yield page
        if not page or before == int(page[-1]["timestamp"]):
            return
        before = int(page[-1]["timestamp"])


def _date(stamp: str, market: str) -> dt.date:
    """The exchange's date of a timestamp that must be its midnight."""
    moment = dt.datetime.fromtimestamp(int(stamp), ZONES[market])
    assert moment.time() == dt.time(0, 0), stamp
    return moment.date()


def _is_report_date(day: dt.date, market: str) -> bool:
    """US: the 15th or the month's end, moved back to a weekday; HK: a Friday."""
    if market == "HK":
        return day.weekday() == 4
    last = calendar.monthrange(day.year, day.month)[1]
    targets = (dt.date(day.year, day.month, 15), dt.date(day.year, day.month, last))
    return day in {t - dt.timedelta(days=max(t.weekday() - 4, 0)) for t in targets}


@pytest.mark.parametrize("symbol", ["AAPL.US", "700.HK"])
@pytest.mark.parametrize("endpoint", [TRADES, POSITIONS])
def test_records_are_strings_stamped_at_exchange_midnight(symbol, endpoint, quantized):
    market = symbol[-2:]
    records = _page(_service(), endpoint, symbol)
    assert len(records) == 100
    dates = [_date(r["timestamp"], market) for r in records]
    assert dates == sorted(dates, reverse=True) and len(set(dates)) == 100
    newest = {TRADES: dt.date(2026, 5, 18), POSITIONS: dt.date(2026, 5, 15)}[endpoint]
    assert dates[0] == newest
    for record, day in zip(records, dates, strict=True):
        assert set(record) == FIELDS[market, endpoint] | {"timestamp"}
        assert all(isinstance(value, str) for value in record.values())
        assert day.weekday() < 5
        if endpoint == POSITIONS:
            assert _is_report_date(day, market), day
        elif market == "US":
            short = int(record["nus_amount"]) + int(record["ny_amount"])
            assert record["rate"] == quantized(short, int(record["total_amount"]))
        else:
            assert record["rate"] == quantized(int(record["amount"]), int(record["total_amount"]))


def test_position_figures_hang_together():
    us = _page(_service(), POSITIONS, "AAPL.US", count=20)
    hk = _page(_service(), POSITIONS, "700.HK", count=20)
    for r in us:
        cover = int(r["current_shares_short"]) / int(r["avg_daily_share_volume"])
        assert float(r["days_to_cover"]) == pytest.approx(max(cover, 0.01), abs=0.006)
        assert 0 < float(r["rate"]) < 0.5
    for r in hk:
        value = int(r["balance"]) * float(r["close"])
        assert int(r["amount"]) == pytest.approx(value, abs=1)
        assert 0 < float(r["rate"]) < 0.5 and float(r["cost"]) > 0


def test_the_cut_off_is_inclusive():
    service = _service()
    new_york = 1778817600  # API.md: 2026-05-15 00:00 New York
    at = _page(service, TRADES, "AAPL.US", new_york, 2)
    before = _page(service, TRADES, "AAPL.US", new_york - 1, 2)
    assert [r["timestamp"] for r in at] == ["1778817600", str(new_york - 86400)]
    assert before[0] == at[1]
    hong_kong = int(dt.datetime(2026, 5, 17, 16, 0, tzinfo=dt.UTC).timestamp())
    assert _page(service, TRADES, "700.HK", hong_kong, 1)[0]["timestamp"] == str(hong_kong)
    # No last_timestamp: the wall clock's now, which is past the served day.
    assert _page(service, TRADES, "AAPL.US")[0] == _page(service, TRADES, "AAPL.US", 2**31)[0]


@pytest.mark.parametrize(
    ("endpoint", "symbol", "oldest"),
    [
        (TRADES, "AAPL.US", dt.date(2015, 1, 1)),
        (TRADES, "700.HK", dt.date(2015, 1, 1)),
        (POSITIONS, "AAPL.US", dt.date(2015, 1, 15)),
        (POSITIONS, "700.HK", dt.date(2015, 1, 2)),
    ],
)
def test_pages_join_back_to_2015_without_gaps(endpoint, symbol, oldest):
    market = symbol[-2:]
    pages = list(_pages(_service(), endpoint, symbol, 100))
    for newer, older in itertools.pairwise(pages):
        assert older[0] == newer[-1]  # the seam record comes again, the same
    seen = {r["timestamp"]: r for page in pages for r in page}
    dates = sorted(_date(stamp, market) for stamp in seen)
    assert dates[0] == oldest and dates[-1] <= dt.date(2026, 5, 18)
    expected = [
        day
        for n in range((dates[-1] - oldest).days + 1)
        if (day := oldest + dt.timedelta(days=n)).weekday() < 5
        and (endpoint == TRADES or _is_report_date(day, market))
    ]
    assert dates == expected


def test_before_the_start_of_history_a_page_is_empty():
    service = _service(history_start=dt.date(2026, 5, 1))
    assert len(list(_pages(service, TRADES, "AAPL.US", 5))) == 4  # 12 days, 3 seams, 1 repeat
    start = int(dt.datetime(2026, 5, 1, tzinfo=ZONES["US"]).timestamp())
    assert _page(service, TRADES, "AAPL.US", start - 1) == []
    assert len(_page(service, TRADES, "AAPL.US", start)) == 1
    assert _page(_service(), POSITIONS, "700.HK", 1_400_000_000) == []  # 2014


@pytest.mark.parametrize("symbol", ["AAPL.US", "R7.US", "700.HK", "9988.HK"])
def test_restated_trades_match_the_gateway_dialect_on_every_page(fake_clock, symbol):
    settings = GatewaySettings(schedules=True, restate_rate=0.5, seed=11)
    gateway = Service(settings, GatewayStats(), fake_clock())
    top = orjson.loads(gateway.handle(TRADES, symbol, "100", None)[0].body)["data"]
    service = _service(schedules=True, restate_rate=0.5, seed=11)
    paged = [r for page in _pages(service, TRADES, symbol, 7) for r in page]
    served = {r["timestamp"]: r for r in paged}
    market = symbol[-2:]
    plain = _service(schedules=True, restate_rate=0.0, seed=11)
    unrestated = {r["timestamp"]: r for r in _page(plain, TRADES, symbol, None, 100)}
    changed = 0
    for record in top:
        local = dt.datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))
        stamp = str(int(local.timestamp()))
        _date(stamp, market)
        assert served[stamp] == record | {"timestamp": stamp}
        changed += unrestated[stamp] != served[stamp]
    assert changed > 0  # restatements were there to get right


def _served(service: OpenApiService, symbols: list[str]) -> dict[tuple[str, str, str], Any]:
    """The 30 newest records per symbol and data set, from pages of 8 (so windows vary)."""
    found: dict[tuple[str, str, str], Any] = {}
    for symbol in symbols:
        for endpoint in OPENAPI_ENDPOINTS:
            before = None
            for _ in range(4):
                page = _page(service, endpoint, symbol, before, 8)
                for r in page:
                    day = _date(r["timestamp"], symbol[-2:]).isoformat()
                    assert found.setdefault((symbol, endpoint, day), r) == r
                before = int(page[-1]["timestamp"])
    return found


def test_values_change_exactly_when_a_restatement_is_published():
    symbols = ["AAPL.US", "R1.US", "R2.US", "R3.US", "5.HK", "700.HK", "1299.HK", "388.HK"]
    settings = GatewaySettings(api="openapi", schedules=True, restate_rate=0.3, seed=5)
    service = _service(schedules=True, restate_rate=0.3, seed=5, today=dt.date(2026, 4, 27))
    before = _served(service, symbols)
    seen = set()
    day = dt.date(2026, 4, 27)
    while day < dt.date(2026, 6, 12):
        day += dt.timedelta(days=1 if day.weekday() < 4 else 3)
        service.set_today(day)
        now = _served(service, symbols)
        changed = {key for key in before.keys() & now.keys() if before[key] != now[key]}
        announced = restatements(dataclasses.replace(settings, today=day), symbols, day)
        keys = {(r.symbol, r.endpoint, r.record_date.isoformat()) for r in announced}
        assert changed == keys & now.keys() & before.keys(), day
        seen |= {endpoint for _, endpoint, _ in changed}
        before = now
    assert seen == {TRADES, POSITIONS}


@pytest.mark.parametrize("endpoint", [TRADES, POSITIONS])
@pytest.mark.parametrize("symbol", ["MSFT.US", "5.HK"])
def test_years_back_a_day_is_the_same_on_every_page_restatements_included(endpoint, symbol):
    market = symbol[-2:]
    service = _service(schedules=True, restate_rate=0.5, seed=2)
    deep = int(dt.datetime(2019, 7, 1, tzinfo=ZONES[market]).timestamp())
    wide = _page(service, endpoint, symbol, deep, 60)
    narrow: Records = []
    before = deep + 9 * 86400  # a different alignment, and small pages
    while len(narrow) < 70:
        page = _page(service, endpoint, symbol, before, 3)
        narrow += page
        before = int(page[-1]["timestamp"]) - 1  # no seam: step past the oldest
    by_stamp = {r["timestamp"]: r for r in narrow}
    assert all(by_stamp[r["timestamp"]] == r for r in wide)
    plain = {r["timestamp"]: r for r in _page(_service(), endpoint, symbol, deep, 60)}
    assert sum(plain[r["timestamp"]] != r for r in wide) > 0  # restated ones are there
