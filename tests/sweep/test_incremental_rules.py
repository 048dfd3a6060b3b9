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
    business_days_after,
    choose_probes,
    dead_tasks,
    incremental_count,
    needs_refetch,
    probe_verdict,
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
        ("invalid", "failed", "invalid"),  # a failure proves nothing, and breaks it too
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


def test_probes_are_the_symbols_with_the_newest_stored_days() -> None:
    candidates = [
        (("A.US", "st"), "2026-05-01"),
        (("B.US", "st"), "2026-05-18"),
        (("C.US", "st"), "2026-05-15"),
        (("D.US", "st"), "2026-05-18"),
    ]
    assert choose_probes(candidates, 3) == [("D.US", "st"), ("B.US", "st"), ("C.US", "st")]
    assert choose_probes(candidates, 0) == []


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
