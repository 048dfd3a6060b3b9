"""A backfill's paging decisions: pure functions over rows and days."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from harvester.model import Symbol, TaskResult, TaskStatus
from harvester.sweep.backfill import Backfill, cutoff, take_page
from harvester.sweep.backfill_plan import expected_pages, expected_records

AAPL = Symbol("AAPL", "US")


def rows(newest: date, n: int) -> tuple[tuple[str, str, str, int], ...]:
    return tuple(("AAPL.US", "US", (newest - timedelta(days=i)).isoformat(), i) for i in range(n))


def ok(found: tuple[tuple[str, str, str, int], ...]) -> TaskResult:
    return TaskResult(AAPL, "short_trades", TaskStatus.OK, 1, found)


def test_cutoffs_are_midnight_in_the_exchanges_zone() -> None:
    assert cutoff(date(2026, 5, 15), "US") == 1778817600  # API.md's example
    assert cutoff(date(2026, 5, 18), "HK") == 1779033600  # 2026-05-17 16:00 UTC


def test_the_seam_record_is_dropped_and_paging_goes_on_from_the_oldest() -> None:
    known = date(2026, 5, 1)
    page = take_page(ok(rows(known, 10)), asked=10, known_oldest=known, since=date(2020, 1, 1))
    assert [row[2] for row in page.result.rows] == [
        (known - timedelta(days=i)).isoformat() for i in range(1, 10)
    ]
    assert page.oldest == known - timedelta(days=9) and page.more


def test_days_before_since_are_not_kept_and_paging_stops() -> None:
    since = date(2026, 4, 25)
    page = take_page(ok(rows(date(2026, 5, 1), 10)), asked=10, known_oldest=None, since=since)
    assert min(row[2] for row in page.result.rows) == since.isoformat()
    assert len(page.result.rows) == 7 and not page.more


def test_a_short_page_is_the_end_of_history() -> None:
    page = take_page(
        ok(rows(date(2026, 5, 1), 4)), asked=10, known_oldest=None, since=date(2000, 1, 1)
    )
    assert len(page.result.rows) == 4 and not page.more


def test_a_page_with_nothing_older_stops_even_if_full() -> None:
    known = date(2026, 5, 1)
    page = take_page(
        ok(rows(known + timedelta(days=20), 10)),
        asked=10,
        known_oldest=known,
        since=date(2000, 1, 1),
    )
    assert page.result.rows == () and not page.more


def test_history_already_back_to_since_needs_no_request() -> None:
    backfill = Backfill(date(2024, 1, 1), {("AAPL.US", "short_trades"): date(2023, 12, 29)})
    assert backfill.done_before(AAPL, "short_trades")
    assert not backfill.done_before(AAPL, "short_positions")


@pytest.mark.parametrize(
    ("records", "pages"), [(0, 1), (99, 1), (100, 2), (198, 2), (199, 3), (756, 8)]
)
def test_pages_are_one_of_size_then_size_minus_one_new(records: int, pages: int) -> None:
    assert expected_pages(records, 100) == pages


def test_three_years_of_trading_days_is_about_750_records() -> None:
    records = expected_records("US", "short_trades", date(2023, 5, 18), date(2026, 5, 18))
    assert 740 <= records <= 760
