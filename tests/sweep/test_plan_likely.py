"""``harvester plan``'s likely figure: each pair's chance of news tonight, and the requests.

Pure tests of harvester.sweep.plan_estimate (nights, gaps, the cadence prior, tonight's
day, news read from first-stored days), a short walk that checks what ``make_plan``
reads from a real file, and a slow one: 500 symbols on the simulated gateway's calendar,
ten nights of warm-up, then five nights each planned before it is swept. Over those
five the likely figure is within 25% of the requests the gateway served, and every
night's requests lie within [best, worst].
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bench.universe import securities
from harvester.simulate import Gateway, GatewaySettings
from harvester.sweep.plan import plan_dict, plan_text
from harvester.sweep.plan_estimate import (
    History,
    Nights,
    chance,
    night_of,
    outlook,
    pair_nights,
    tonight,
)
from harvester.sweep.plan_tasks import make_plan
from harvester.sweep.run import run_sweep

D = dt.date
MONDAY = D(2026, 5, 4)


def weekdays(first: dt.date, count: int) -> tuple[dt.date, ...]:
    """``count`` business days from ``first`` on."""
    days, day = [], first
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return tuple(days)


# Pure: nights, gaps and the cadence ----------------------------------------------------------


def swept(looked: tuple[dt.date, ...], news: tuple[dt.date, ...]) -> Nights:
    """A pair's window swept every night of ``looked``, with news on ``news``."""
    return Nights(looked, news, looked[-1])


@pytest.mark.timeout(5)
def test_a_weekend_run_counts_on_the_monday_after() -> None:
    assert night_of(D(2026, 5, 8)) == D(2026, 5, 8)  # a Friday
    assert night_of(D(2026, 5, 9)) == night_of(D(2026, 5, 10)) == D(2026, 5, 11)


@pytest.mark.timeout(5)
def test_a_weekly_pair_is_due_on_its_gap_and_quiet_before() -> None:
    looked = weekdays(MONDAY, 15)  # three weeks, news each Friday
    news = tuple(day for day in looked if day.weekday() == 4)
    nights = swept(looked[:14], news[:2])  # swept up to the third Thursday
    due = chance(nights, 5.0, looked[14])
    assert due.probability == 1.0 and due.gaps == (5,) and due.since == 5
    early = chance(swept(looked[:13], news[:2]), 5.0, looked[13])
    assert early.probability == 0.0
    assert early.text() == (
        "seen on 2 of 13 nights, last 2026-05-15 (4 business days before), mostly 5 apart (1 gap)"
    )


@pytest.mark.timeout(5)
def test_the_calendar_decides_while_the_file_has_seen_no_gap() -> None:
    looked = weekdays(MONDAY, 12)
    one = swept(looked[:10], (looked[1],))  # news on Tuesday 05-05 only
    # Every 10 business days: due on the Tuesday two weeks later, not before.
    assert chance(one, 10.0, looked[10]).probability == 0.0
    assert chance(one, 10.0, looked[11]).probability == 1.0
    # Twice a month: even odds on the tenth day, certain on the eleventh.
    assert chance(swept(looked[:11], (looked[1],)), 10.5, looked[11]).probability == 0.5
    assert chance(one, 10.0, looked[11]).text().endswith("; calendar: every 10 business days")


@pytest.mark.timeout(5)
def test_an_odd_gap_lowers_a_daily_chance_but_does_not_decide_alone() -> None:
    looked = weekdays(MONDAY, 14)
    holiday = looked[3]
    nights = swept(looked, tuple(day for day in looked if day != holiday))
    daily = chance(nights, 1.0, night_of(looked[-1] + dt.timedelta(days=1)))
    # Eleven gaps of one and one of two, plus the cadence's gap of one: 12 / 13.
    assert daily.gaps.count(1) == 11 and daily.gaps.count(2) == 1
    assert daily.probability == pytest.approx(12 / 13)


@pytest.mark.timeout(5)
def test_with_no_news_in_the_window_the_cadence_gives_the_chance() -> None:
    looked = weekdays(MONDAY, 5)
    quiet = swept(looked, ())
    assert chance(quiet, 5.0, D(2026, 5, 11)).probability == pytest.approx(0.2)
    # Two business days since the last night swept: two chances.
    assert chance(quiet, 5.0, D(2026, 5, 12)).probability == pytest.approx(1 - 0.8**2)


@pytest.mark.timeout(5)
def test_nights_without_a_sweep_add_their_chances_and_a_second_sweep_has_none() -> None:
    looked = weekdays(MONDAY, 15)
    news = tuple(day for day in looked if day.weekday() == 4)
    # Swept to the second Tuesday, then not until the third Friday: its Friday is covered.
    skipped = swept(looked[:7], news[:1])
    assert chance(skipped, 5.0, looked[14]).probability == 1.0
    # Tonight is the night already swept: nothing can have come since.
    assert chance(swept(looked[:10], news[:2]), 5.0, looked[9]).probability == 0.0


def _runs(*nights: dt.date) -> tuple[tuple[str, dt.date], ...]:
    """Runs a minute apart on a real clock, on ``nights`` (served days)."""
    return tuple((f"2026-12-06T10:{i:02d}:00.000Z", night) for i, night in enumerate(nights))


@pytest.mark.timeout(5)
def test_news_is_a_day_newer_than_every_stored_one_first_stored_that_night() -> None:
    nights = weekdays(MONDAY, 4)
    history = History(
        runs=_runs(*nights),
        served=True,
        window=nights,
        seen={
            ("short_trades", "HK"): (
                ("2026-12-06T10:00:01.000Z", "2026-04-30"),  # the first night: the frontier
                ("2026-12-06T10:00:01.000Z", "2026-05-01"),
                ("2026-12-06T10:01:01.000Z", "2026-05-04"),  # news on the second
                ("2026-12-06T10:02:01.000Z", "2026-04-29"),  # a late day: behind, no news
                ("2026-12-06T10:03:01.000Z", "2026-05-06"),  # news on the fourth
            )
        },
    )
    found = pair_nights(history, ("short_trades", "HK"))
    assert found == Nights(nights[1:], (nights[1], nights[3]), nights[3])
    assert pair_nights(history, ("short_trades", "US")) == Nights((), ())
    # Stored before the window: the frontier it starts at, and every window night looks.
    later = History(history.runs, True, nights[2:], history.seen)
    assert pair_nights(later, ("short_trades", "HK")) == Nights(nights[2:], (nights[3],), nights[3])


@pytest.mark.timeout(5)
def test_tonight_is_the_next_business_day_or_today_if_later() -> None:
    friday = D(2026, 5, 8)
    now = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)  # a Sunday
    served = History(_runs(friday), served=True, window=(friday,))
    assert tonight(served, now) == (
        D(2026, 5, 11),
        "the business day after the last run's served day",
    )
    real = History(_runs(D(2026, 12, 2)), window=(D(2026, 12, 2),))
    assert tonight(real, now) == (D(2026, 12, 7), "today (UTC)")
    swept_today = History(_runs(D(2026, 12, 7)), window=(D(2026, 12, 7),))
    assert tonight(swept_today, now)[0] == D(2026, 12, 8)
    assert tonight(History(), now, D(2026, 5, 9)) == (D(2026, 5, 11), "--today")


@pytest.mark.timeout(5)
def test_requests_per_fetched_task_come_from_the_recent_sweeps() -> None:
    now = datetime(2026, 12, 6, tzinfo=UTC)
    pairs = [("short_trades", "US"), ("short_positions", "SG")]
    retried = outlook(History(work=(10, 1100, 1000)), pairs, now)
    assert (retried.per_task, retried.work_runs) == (1.1, 10)
    assert outlook(History(), pairs, now).per_task == 1.0
    # A pair without a cadence is taken to publish every business day.
    assert retried.chance(("short_positions", "SG")) == 1.0


# A real file ----------------------------------------------------------------------------------


@pytest.mark.timeout(60)
async def test_plan_reads_the_nights_of_a_swept_file(
    make_settings: Callable[..., Any], tmp_path: Path
) -> None:
    symbols = "".join(f"{code}\n" for code in ("AAPL.US", "MSFT.US", "700.HK", "5.HK", "16.HK"))
    settings = GatewaySettings(seed=3, schedules=True, today=MONDAY, restate_rate=0.0)
    async with Gateway(settings) as gateway:
        swept = make_settings(gateway.url, symbols, sweep={"probe_size": 1})
        for step in range(4):  # Monday to Thursday
            if step:
                gateway.advance()
            await run_sweep(swept, served_day=gateway.today)
    plan = make_plan(swept)
    assert plan.outlook.night == D(2026, 5, 8)
    assert plan.outlook.window == weekdays(MONDAY, 4)
    hk = plan.outlook.chances["short_trades", "HK"]
    assert (hk.nights, hk.news, hk.gaps) == (3, 3, (1, 1))  # HK publishes each trading day
    us = plan.outlook.chances["short_trades", "US"]
    assert (us.news, us.last) == (1, D(2026, 5, 5))  # the batch to 05-01, out on Tuesday
    assert us.probability == 0.0  # the next is due two weeks after
    assert plan.outlook.per_task == 1.0
    found = plan_dict(plan)
    assert found["likely"]["night"] == "2026-05-08"
    by_pair = {(pair["endpoint"], pair["market"]): pair for pair in found["pairs"]}
    trades_hk = by_pair["short_trades", "HK"]
    assert trades_hk["news"]["probability"] == hk.probability == 1.0
    assert trades_hk["requests_likely"] == trades_hk["requests_worst"]
    assert found["requests_best"] <= found["requests_likely"] <= found["requests_worst"]
    text = plan_text(plan)
    assert f"likely: {found['requests_likely']} requests" in text
    assert (
        "news tonight, Fri 2026-05-08 (the business day after the last run's served day), "
        "by the 4 nights from 2026-05-04 to 2026-05-07 and the publication calendars:" in text
    )
    assert "  short_trades HK    100%  seen on 3 of 3 nights, last 2026-05-07" in text


# Five nights, planned then swept -----------------------------------------------------------

START = D(2026, 5, 1)  # a Friday: the first sweep fills the file
WARM_UP = 10  # nights 05-04 to 05-15: HK daily, US short_trades 05-05, US interest 05-11...
NIGHTS = 5  # 05-18 to 05-22: US short_trades on Tuesday, HK short_interest on Friday
UNIVERSE = [symbol.canonical for symbol in securities(500, seed=24)]
US = [symbol for symbol in UNIVERSE if symbol.endswith(".US")]
HK = [symbol for symbol in UNIVERSE if symbol.endswith(".HK")]
CALENDAR = GatewaySettings(
    seed=24,
    schedules=True,
    today=START,
    restate_rate=0.05,
    # One HK holiday in the warm-up, one in the five nights: the plan cannot know them.
    holidays=("HK:2026-05-07", "HK:2026-05-21"),
    late=(*US[:4], *HK[:2]),
    suspended={US[4]: "2026-05-12", HK[2]: "2026-05-19"},
    delisted={US[5]: "2026-05-13", HK[3]: "2026-05-13"},
)


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_likely_is_within_a_quarter_of_five_nights_requests(
    make_settings: Callable[..., Any], tmp_path: Path
) -> None:
    nights: list[tuple[dt.date, int, int, int, int]] = []  # day, best, likely, worst, actual
    async with Gateway(CALENDAR) as gateway:
        settings = make_settings(gateway.url, "".join(f"{s}\n" for s in UNIVERSE))
        for step in range(1 + WARM_UP + NIGHTS):
            if step:
                gateway.advance()
            plan = make_plan(settings) if step > WARM_UP else None
            before = gateway.stats.total
            summary = await run_sweep(settings, served_day=gateway.today)
            assert summary.status == "completed", summary
            if plan is not None:
                assert plan.outlook.night == gateway.today
                best, worst = plan.requests(worst=False), plan.requests(worst=True)
                actual = gateway.stats.total - before
                nights.append((gateway.today, best, round(plan.likely()), worst, actual))
    table = "\n".join(
        f"{day:%a %Y-%m-%d}  best {best:4}  likely {likely:4}  worst {worst:4}  actual {actual:4}"
        for day, best, likely, worst, actual in nights
    )
    print(table)
    likely, actual = sum(n[2] for n in nights), sum(n[4] for n in nights)
    assert abs(likely - actual) <= 0.25 * actual, table
    assert all(best <= got <= worst for _, best, _, worst, got in nights), table
    # The US batch's Tuesday is foreseen, and so is HK short interest's Friday.
    tuesday, friday = nights[1], nights[4]
    assert tuesday[2] > 2 * nights[0][2] and friday[2] > nights[3][2], table
