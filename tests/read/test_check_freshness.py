"""``check`` judges the data as well as the run: each market's newest day, and failures allowed.

On copies of the shared swept file (tests/fixtures_swept.py: US and HK short trades up to
2026-05-18, the simulated gateway's served day, short interest up to 2026-05-15, and
FAILS.US failing on both endpoints), driven as a subprocess: a market behind exits 8 and
is named, a fresh file exits 0, the reference day is ``--today``, else the latest run's
served day, else the exchange's clock; ``--max-failed`` lets N tasks, or a share, fail.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fixtures_swept import FAILING, Swept

from harvester.catalog import published_by
from harvester.read.freshness import reference_days
from harvester.read.status import newest_line, read_newest, read_newest_days
from harvester.simulate.settings import DEFAULT_TODAY

Run = Callable[..., subprocess.CompletedProcess[str]]
ErrorLine = Callable[[subprocess.CompletedProcess[str]], str]

SERVED = DEFAULT_TODAY.isoformat()  # a Monday
BEHIND_HK = (
    "HK short_trades is behind: newest stored day 2026-05-11, expected 2026-05-14 at the "
    "latest ([endpoints.short_trades] stale_after_hk = 2 business days before 2026-05-18); "
    "harvester sweep --full asks every symbol anew, and if upstream has nothing newer "
    "either, HK publishes it later than that: raise stale_after_hk"
)


def check(harvester: Run, db: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    """``check --json`` and ``check`` on ``db``: the exit code, the JSON, the text."""
    as_json = harvester("check", "--db", str(db), "--json", *extra)
    text = harvester("check", "--db", str(db), *extra)
    assert as_json.returncode == text.returncode, (as_json.stdout, text.stdout)
    assert as_json.stderr == text.stderr == "", as_json.stderr
    return text.returncode, json.loads(as_json.stdout), text.stdout


def edit(db: Path, *statements: str) -> None:
    """Committed changes to a copy."""
    with closing(sqlite3.connect(db)) as conn, conn:
        for sql in statements:
            conn.execute(sql)


def set_served_day(db: Path, day: str | None) -> None:
    """The latest run's ``served_day``; a file of schema 7 gets the column migration 8 adds."""
    with closing(sqlite3.connect(db)) as conn, conn:
        if "served_day" not in {row[1] for row in conn.execute("PRAGMA table_info(runs)")}:
            conn.execute("ALTER TABLE runs ADD COLUMN served_day TEXT")
        conn.execute("UPDATE runs SET served_day = ?", (day,))


@pytest.fixture
def healthy(copy_swept: Callable[[], Swept]) -> Swept:
    """A copy of the swept file whose failed tasks ended ok: only freshness is judged."""
    swept = copy_swept()
    edit(swept.db, "UPDATE tasks SET status = 'ok', error_code = NULL WHERE status = 'failed'")
    set_served_day(swept.db, None)  # as a file the real gateway filled
    return swept


def pairs(found: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """``check --json``'s freshness objects by (market, data set)."""
    return {(pair["market"], pair["endpoint"]): pair for pair in found["freshness"]}


def codes(found: dict[str, Any]) -> list[int]:
    """The problem codes of a ``check --json`` object, in order."""
    return [problem["code"] for problem in found["problems"]]


# Freshness, per market and data set ---------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_fresh_file_exits_0_and_json_carries_every_pair(harvester: Run, healthy: Swept) -> None:
    code, found, text = check(harvester, healthy.db, "--today", SERVED)
    assert code == 0 and text.startswith("ok: run ") and found["problems"] == []
    assert found["reference_from"] == "--today"
    assert [(p["market"], p["endpoint"]) for p in found["freshness"]] == [
        ("US", "short_trades"),
        ("HK", "short_trades"),
        ("US", "short_interest"),
        ("HK", "short_interest"),
    ]
    assert pairs(found)["HK", "short_trades"] == {
        "endpoint": "short_trades",
        "market": "HK",
        "newest": "2026-05-18",
        "reference": SERVED,
        "stale_after": 2,
        "expected": "2026-05-14",
        "stale": False,
    }
    assert pairs(found)["US", "short_interest"]["expected"] == "2026-04-22"  # 18 days back


@pytest.mark.timeout(60)
def test_a_market_five_business_days_behind_exits_8_and_is_named(
    harvester: Run, healthy: Swept, tmp_path: Path
) -> None:
    edit(healthy.db, "DELETE FROM short_trades WHERE market = 'HK' AND trade_date > '2026-05-11'")
    code, found, text = check(harvester, healthy.db, "--today", SERVED)
    assert code == found["exit_code"] == 8 and found["ok"] is False
    assert text == BEHIND_HK + "\n"
    assert found["problems"] == [{"code": 8, "message": BEHIND_HK}]
    assert [key for key, pair in pairs(found).items() if pair["stale"]] == [("HK", "short_trades")]
    # The line's setting, raised to what this market takes: fresh again.
    config = tmp_path / "later.toml"
    config.write_text("[endpoints.short_trades]\nstale_after_hk = 5\n", encoding="utf-8")
    code, found, _ = check(harvester, healthy.db, "--today", SERVED, "--config", str(config))
    assert code == 0 and pairs(found)["HK", "short_trades"]["expected"] == "2026-05-11"


@pytest.mark.timeout(60)
def test_a_market_with_no_rows_of_a_data_set_is_not_judged(harvester: Run, healthy: Swept) -> None:
    edit(healthy.db, "DELETE FROM short_interest WHERE market = 'HK'")
    # Four weeks on, every pair is behind: but HK short interest, which has no rows.
    code, found, _ = check(harvester, healthy.db, "--today", "2026-06-15")
    assert list(pairs(found)) == [
        ("US", "short_trades"),
        ("HK", "short_trades"),
        ("US", "short_interest"),
    ]
    assert codes(found) == [8, 8, 8] and code == 8


@pytest.mark.timeout(60)
def test_failures_come_before_data_behind(harvester: Run, copy_swept: Callable[[], Swept]) -> None:
    db = copy_swept().db
    edit(db, "DELETE FROM short_trades WHERE market = 'HK' AND trade_date > '2026-05-11'")
    code, found, text = check(harvester, db, "--today", SERVED)
    assert codes(found) == [3, 8] and code == 3
    assert text.splitlines()[1] == BEHIND_HK


# The reference day -----------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_the_served_day_is_the_default_and_today_overrides_it(
    harvester: Run, healthy: Swept
) -> None:
    set_served_day(healthy.db, SERVED)
    code, found, _ = check(harvester, healthy.db)
    assert code == 0 and found["reference_from"] == "served_day"
    assert {pair["reference"] for pair in found["freshness"]} == {SERVED}
    # A week on, HK's short trades of the 18th are 5 business days old.
    code, found, text = check(harvester, healthy.db, "--today", "2026-05-25")
    assert code == 8 and found["reference_from"] == "--today"
    assert "HK short_trades is behind: newest stored day 2026-05-18, expected 2026-05-21" in text
    set_served_day(healthy.db, "2026-05-25")
    assert check(harvester, healthy.db)[0] == 8


@pytest.mark.timeout(60)
def test_without_either_the_clock_of_each_exchange_decides(harvester: Run, healthy: Swept) -> None:
    before = datetime.now(UTC)
    _, found, _ = check(harvester, healthy.db)
    after = datetime.now(UTC)
    assert found["reference_from"] == "clock"
    for (market, _), pair in pairs(found).items():
        zone = ZoneInfo({"US": "America/New_York", "HK": "Asia/Hong_Kong"}[market])
        days = {moment.astimezone(zone).date().isoformat() for moment in (before, after)}
        assert pair["reference"] in days


@pytest.mark.timeout(10)
def test_reference_days_in_each_exchange_zone() -> None:
    evening = datetime(2026, 5, 18, 20, 0, tzinfo=UTC)  # 16:00 in New York, 04:00 in Hong Kong
    assert reference_days(None, None, evening) == (
        {"US": date(2026, 5, 18), "HK": date(2026, 5, 19)},
        "clock",
    )
    assert reference_days(None, {"served_day": None}, evening)[1] == "clock"
    assert reference_days(None, {"served_day": "2026-05-11"}, evening) == (
        {"US": date(2026, 5, 11), "HK": date(2026, 5, 11)},
        "served_day",
    )
    assert reference_days(date(2026, 1, 2), {"served_day": "2026-05-11"}, evening)[1] == "--today"


@pytest.mark.timeout(10)
def test_published_by_is_the_newest_day_with_enough_weekdays_after_it() -> None:
    def weekdays_after(first: date, last: date) -> int:
        span = range(1, (last - first).days + 1)
        return sum((first + timedelta(days=i)).weekday() < 5 for i in span)

    for reference in (date(2026, 5, 11) + timedelta(days=i) for i in range(14)):
        for stale_after in range(13):
            due = published_by(reference, stale_after)
            assert due.weekday() < 5 and weekdays_after(due, reference) >= stale_after
            later = (due + timedelta(days=i) for i in range(1, (reference - due).days + 1))
            trading = [day for day in later if day.weekday() < 5]
            assert all(weekdays_after(day, reference) < stale_after for day in trading)
    assert published_by(date(2026, 5, 17), 2) == date(2026, 5, 13)  # Sunday: Wednesday's
    assert published_by(date(2026, 5, 18), 0) == date(2026, 5, 18)


# --max-failed ----------------------------------------------------------------------------


@pytest.fixture
def one_failed(copy_swept: Callable[[], Swept]) -> Path:
    """A copy of the swept file with one failed task: FAILING's short_trades."""
    db = copy_swept().db
    edit(
        db,
        f"UPDATE tasks SET status = 'ok', error_code = NULL "
        f"WHERE symbol = '{FAILING}' AND endpoint = 'short_interest'",
    )
    return db


@pytest.mark.timeout(60)
def test_one_failed_task_within_max_failed_exits_0_and_is_named(
    harvester: Run, one_failed: Path
) -> None:
    code, found, text = check(harvester, one_failed, "--today", SERVED, "--max-failed", "1")
    assert code == 0 and found["problems"] == [], text
    assert text.endswith(
        "(2 no_data, 2 invalid, 2 unsupported, "
        f"1 failed, within --max-failed 1: {FAILING} short_trades (http_502))\n"
    )
    assert found["max_failed"] == "1" and found["failed_allowed"] == 1
    assert [(t["symbol"], t["endpoint"]) for t in found["tasks"] if t["status"] == "failed"] == [
        (FAILING, "short_trades")
    ]
    code, found, text = check(harvester, one_failed, "--today", SERVED)
    assert code == 3 and found["max_failed"] == "0" and found["failed_allowed"] == 0
    assert text.startswith("run ") and f"1 tasks failed: {FAILING} short_trades" in text


@pytest.mark.slow  # ~3 s of subprocesses; the count form has a fast test
@pytest.mark.timeout(60)
def test_max_failed_as_a_share_of_the_runs_tasks(harvester: Run, swept: Swept) -> None:
    # 20 tasks, 2 failed: 10% allows 2, 5% allows 1.
    code, found, text = check(harvester, swept.db, "--today", SERVED, "--max-failed", "10%")
    assert code == 0 and found["failed_allowed"] == 2 and found["max_failed"] == "10%"
    assert "2 failed, within --max-failed 10%: FAILS.US short_interest (http_502), " in text
    code, found, text = check(harvester, swept.db, "--today", SERVED, "--max-failed", "5%")
    assert code == 3 and found["failed_allowed"] == 1
    assert "2 tasks failed, more than --max-failed 5%: FAILS.US" in text
    assert check(harvester, swept.db, "--today", SERVED, "--max-failed", "9.99%")[0] == 3


@pytest.mark.slow  # ~6 s: a subprocess per bad value
@pytest.mark.timeout(60)
def test_bad_values_are_one_line_errors(
    harvester: Run, error_line: ErrorLine, swept: Swept
) -> None:
    for bad in ("-1", "x", "2.5", "101%", "%", "1/2%", "nan%"):
        line = error_line(harvester("check", "--db", str(swept.db), "--max-failed", bad))
        assert line == (
            "harvester: error: argument --max-failed: not a number of tasks (3) or a "
            f"share of the run's tasks up to 100% (2%): {bad!r}"
        )
    for bad in ("2026-5-18", "20260518", "2026-02-30", "today"):
        line = error_line(harvester("check", "--db", str(swept.db), "--today", bad))
        assert line == f"harvester: error: argument --today: not a day YYYY-MM-DD: {bad!r}"


# The newest stored day, as status reads it -----------------------------------------------


@pytest.mark.timeout(30)
def test_the_newest_day_per_market_and_data_set(swept: Swept, healthy: Swept) -> None:
    newest = read_newest_days(swept.db)
    assert newest_line(newest) == (
        "newest stored day: US short_trades 2026-05-18, HK short_trades 2026-05-18, "
        "US short_interest 2026-05-15, HK short_interest 2026-05-15"
    )
    # The walk over the primary key finds what a plain GROUP BY finds, on uneven data.
    edit(
        healthy.db,
        "DELETE FROM short_trades WHERE market = 'US' AND trade_date > '2026-05-06'",
        "DELETE FROM short_interest WHERE market = 'HK'",
    )
    with closing(sqlite3.connect(healthy.db)) as db:
        found = {(p["endpoint"], p["market"]): p["newest"] for p in read_newest(db)}
        plain = {
            (table, market): day
            for table in ("short_trades", "short_interest", "short_positions")
            for market, day in db.execute(
                f"SELECT market, MAX(trade_date) FROM {table} GROUP BY market"
            )
        }
    assert found == plain and found["short_trades", "US"] == "2026-05-06"
    assert newest_line([]) == "newest stored day: none (no data rows yet)"
