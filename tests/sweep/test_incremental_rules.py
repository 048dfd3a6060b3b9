"""The nightly rules on their own: dead-symbol memory, probes, verdicts and incremental counts.

Pure functions of harvester.sweep.incremental, fed the rows the database would give them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester.settings.config import SweepConfig
from harvester.sweep.incremental import (
    Category,
    Knowledge,
    business_days_after,
    choose_probes,
    dead_tasks,
    incremental_count,
    needs_refetch,
    probe_candidates,
    probe_verdict,
    reread_slot,
)

NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
CONFIG = SweepConfig()  # dead_after 3, recheck_after 7, no_data_recheck_after 2


def at(days_ago: float) -> str:
    stamp = NOW - timedelta(days=days_ago)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def history(*statuses: str, last: float = 1.0) -> list[tuple[str, str, str, str]]:
    """Answers of BAD.US short_trades, newest first, one a day from ``last`` days ago."""
    return [("BAD.US", "short_trades", status, at(last + i)) for i, status in enumerate(statuses)]


def test_three_refusals_in_a_row_make_a_symbol_dead_until_its_recheck() -> None:
    dead = dead_tasks(history("invalid", "unsupported", "invalid"), CONFIG, NOW)
    found = dead[("BAD.US", "short_trades")]
    assert found.until == NOW - timedelta(days=1) + timedelta(days=7)
    assert "invalid in each of its last 3 answers" in found.reason()
    assert "asked again from 2026-05-26" in found.reason()


@pytest.mark.parametrize(
    "statuses",
    [
        ("invalid", "invalid"),  # not yet dead_after answers
        ("invalid", "ok", "invalid"),  # an answer with data breaks the streak
        ("invalid", "failed", "invalid"),  # mixed: a failure among refusals proves nothing
        ("failed", "ok", "failed"),  # an answer with data breaks a streak of failures
        ("no_data", "invalid", "invalid"),  # mixed: neither rule holds
    ],
)
def test_a_broken_or_short_streak_is_not_dead(statuses: tuple[str, ...]) -> None:
    assert dead_tasks(history(*statuses), CONFIG, NOW) == {}


def test_a_dead_symbol_is_asked_again_once_its_recheck_date_has_passed() -> None:
    assert (
        dead_tasks(history("unsupported", "unsupported", "unsupported", last=7.5), CONFIG, NOW)
        == {}
    )


def test_no_data_has_its_own_shorter_recheck() -> None:
    assert ("BAD.US", "short_trades") in dead_tasks(
        history("no_data", "no_data", "no_data", last=1.5), CONFIG, NOW
    )
    assert dead_tasks(history("no_data", "no_data", "no_data", last=2.5), CONFIG, NOW) == {}


def test_a_symbol_that_fails_every_time_retires_until_its_recheck_as_refusals_do() -> None:
    dead = dead_tasks(history("failed", "failed", "failed"), CONFIG, NOW)
    found = dead[("BAD.US", "short_trades")]
    assert found.until == NOW - timedelta(days=1) + timedelta(days=CONFIG.recheck_after)
    assert "failed in each of its last 3 answers" in found.reason()
    assert dead_tasks(history("failed", "failed", "failed", last=7.5), CONFIG, NOW) == {}


NEWEST = {
    ("A.US", "st"): "2026-05-01",  # suspended: behind the frontier
    ("B.US", "st"): "2026-05-18",
    ("C.US", "st"): "2026-05-15",  # a late publisher: behind too
    ("D.US", "st"): "2026-05-18",
    ("E.US", "st"): "2026-05-18",
    ("F.HK", "st"): "2026-05-12",  # another pair, with a frontier of its own
}


def test_probes_are_drawn_at_the_frontier_only() -> None:
    knowledge = Knowledge.of(NEWEST, {})
    assert knowledge.frontier == {("US", "st"): "2026-05-18", ("HK", "st"): "2026-05-12"}
    candidates = probe_candidates(knowledge)
    assert sorted(key for key, _ in candidates["US", "st"]) == [
        ("B.US", "st"),
        ("D.US", "st"),
        ("E.US", "st"),
    ]
    assert knowledge.behind(("A.US", "st")) and knowledge.behind(("C.US", "st"))
    assert knowledge.plan(("A.US", "st")) is Category.BEHIND
    assert knowledge.plan(("B.US", "st")) is Category.FOLLOW


def test_the_probes_change_from_night_to_night_and_none_is_first_by_its_name() -> None:
    """Over 40 candidates at the frontier, nights in a row ask different probes until every
    candidate was asked, and none is first for its name."""
    candidates = [((f"S{i:02d}.US", "st"), "2026-05-18") for i in range(40)]
    firsts = [choose_probes(candidates, 1, night)[0] for night in range(40)]
    assert sorted(firsts) == sorted(key for key, _ in candidates)
    assert firsts[:3] != [key for key, _ in candidates[:3]]
    tens = [set(choose_probes(candidates, 10, night)) for night in range(4)]
    assert set.union(*tens) == {key for key, _ in candidates}  # four nights, forty probes
    assert choose_probes(candidates, 0, 3) == []
    assert choose_probes(candidates, 10, 7) == choose_probes(candidates, 10, 7)
    # The names' order does not matter, only the names.
    assert choose_probes(candidates[::-1], 10, 7) == choose_probes(candidates, 10, 7)


def test_every_symbol_is_reread_once_in_reread_nights_nights() -> None:
    symbols = [f"S{i:03d}.US" for i in range(500)]
    every = 7
    for symbol in symbols:
        nights = [
            night
            for night in range(every)
            if Knowledge.of({(symbol, "st"): "2026-05-18"}, {}, night, every).rereads(
                (symbol, "st")
            )
        ]
        assert nights == [reread_slot(symbol, every)]
    sizes = [sum(1 for s in symbols if reread_slot(s, every) == slot) for slot in range(every)]
    assert min(sizes) >= 500 / every / 2  # slices of comparable size
    assert not Knowledge.of({("S.US", "st"): "2026-05-18"}, {}, 0, 0).rereads(("S.US", "st"))


def row(day: str, *values: object) -> tuple[object, ...]:
    return ("A.US", "US", day, *values)


STORED = [row("2026-05-14", 10, 0.5), row("2026-05-15", 11, 0.6)]


def test_a_probe_with_a_newer_day_is_news_and_says_its_newest_day() -> None:
    verdict = probe_verdict([(("A.US", "st"), [row("2026-05-18", 12, 0.7), *STORED], STORED)])
    assert verdict.news and verdict.newest == "2026-05-18"
    assert "2026-05-18 is after its newest stored day 2026-05-15" in verdict.reason


def test_a_restated_value_is_news_and_an_unparsed_one_is_not() -> None:
    restated = [row("2026-05-14", 10, 0.5), row("2026-05-15", 12, 0.6)]
    assert probe_verdict([(("A.US", "st"), restated, STORED)]).news
    unparsed = [row("2026-05-14", 10, None), row("2026-05-15", 11, 0.6)]
    verdict = probe_verdict([(("A.US", "st"), unparsed, STORED)])
    assert not verdict.news and verdict.reason.startswith("no news: probes A.US")


def test_no_answered_probe_means_everything_is_fetched() -> None:
    assert probe_verdict([]).news


def test_a_probe_that_found_an_old_restatement_asks_the_others_as_deep() -> None:
    stored = [row(f"2026-05-{day:02d}", day, 0.5) for day in (4, 5, 6, 7, 8, 11, 12, 13, 14, 15)]
    restated = [row("2026-05-05", 99, 0.5), *(r for r in stored if r[2] != "2026-05-05")]
    verdict = probe_verdict([(("A.US", "st"), sorted(restated, key=lambda r: r[2]), stored)])
    # 2026-05-05 is the 9th newest record the probe holds.
    assert verdict.news and verdict.depth == 9
    # Overlap 5 alone would ask for 5 records (back to 05-11); the depth for 9, and one more
    # for each day the symbol is behind.
    assert incremental_count("2026-05-15", "2026-05-15", 5, 20, (1, 100)) == 5
    assert incremental_count("2026-05-15", "2026-05-15", 5, 20, (1, 100), 9) == 9
    assert incremental_count("2026-05-14", "2026-05-15", 5, 20, (1, 100), 9) == 10
    assert incremental_count("2026-05-15", "2026-05-15", 5, 20, (1, 100), 3) == 5


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ("2026-05-15", "2026-05-18", 1),  # Friday to Monday
        ("2026-05-15", "2026-05-15", 0),
        ("2026-05-18", "2026-05-15", 0),
        ("2026-05-01", "2026-05-15", 10),  # two weeks
        ("2026-05-16", "2026-05-17", 0),  # Saturday to Sunday
    ],
)
def test_business_days_after(first: str, last: str, expected: int) -> None:
    assert business_days_after(date.fromisoformat(first), date.fromisoformat(last)) == expected


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 1, 1)),
    st.integers(min_value=0, max_value=60),
)
def test_business_days_after_counts_the_weekdays_one_by_one(first: date, span: int) -> None:
    last = first + timedelta(days=span)
    slow = sum(1 for i in range(1, span + 1) if (first + timedelta(days=i)).weekday() < 5)
    assert business_days_after(first, last) == slow


def test_incremental_counts_stay_within_the_configured_count_and_the_range() -> None:
    assert incremental_count("2026-05-15", "2026-05-18", 5, 20, (1, 100)) == 6
    assert incremental_count("2026-01-01", "2026-05-18", 5, 20, (1, 100)) == 20
    assert incremental_count("2026-05-18", "2026-05-18", 0, 20, (1, 100)) == 1  # never 0
    assert incremental_count("2026-05-15", None, 5, 20, (1, 100)) == 20
    assert incremental_count("2026-01-01", "2026-05-18", 5, 500, (1, 90)) == 90


def test_an_incremental_answer_that_does_not_reach_the_stored_day_is_fetched_again() -> None:
    rows = [row("2026-05-18"), row("2026-05-19")]
    assert needs_refetch(rows, asked=2, configured=20, stored_newest="2026-05-14")
    assert not needs_refetch(rows, asked=2, configured=20, stored_newest="2026-05-18")
    assert not needs_refetch(rows, asked=3, configured=20, stored_newest="2026-05-14")
    assert not needs_refetch(rows, asked=20, configured=20, stored_newest="2026-05-14")


def test_the_history_read_reaches_back_dead_after_rechecks() -> None:
    from harvester.sweep.incremental import history_since

    # 3 answers, each at most a 7-day recheck and two days of slack apart.
    assert history_since(CONFIG, NOW) == "2026-04-23T12:00:00.000Z"
