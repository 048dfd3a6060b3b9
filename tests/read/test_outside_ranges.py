"""From outside: a number or a date out of range is one line and exit 2, never a traceback.

``show``, ``latest`` and ``export`` on the shared swept file with a count too large for
SQLite or a time that leaves the years 1 to 9999 once it is moved to UTC; ``--as-of``
with a date in another spelling than YYYY-MM-DD (read as a time, it would mean the day's
start where YYYY-MM-DD means its end); the read commands and ``check`` naming a folder;
``check`` on an empty file. Then the two parsers on their own, fuzzed.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from harvester.arguments import moment, positive_count
from harvester.model import utc_text

Run = Callable[..., subprocess.CompletedProcess[str]]
OnlyLine = Callable[[subprocess.CompletedProcess[str]], str]

HUGE = "99999999999999999999"  # past SQLite's 64-bit INTEGER
LARGEST = 2**63 - 1  # SQLite's largest INTEGER, the largest count the parsers accept
NO_RUN = "no run in the database yet: run harvester sweep\n"


# From outside ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "flag", "says"),
    [
        (("show", "AAPL.US", "--last", HUGE), "--last", "too large"),
        (("latest", "--top", HUGE), "--top", "too large"),
        (("show", "AAPL.US", "--last", "²"), "--last", "not a positive whole number"),
        (("show", "AAPL.US", "--as-of", "0001-01-01T00:00:00+01:00"), "--as-of", "out of range"),
        (("show", "AAPL.US", "--as-of", "9999-12-31T23:00:00-05:00"), "--as-of", "out of range"),
        (
            ("export", "short_trades", "--as-of", "0001-01-01T00:00:00+01:00"),
            "--as-of",
            "out of range",
        ),
        (("show", "AAPL.US", "--as-of", "20261206"), "--as-of", "write it as 2026-12-06"),
        (("export", "short_trades", "--as-of", "2026-W49-7"), "--as-of", "write it as 2026-12-06"),
    ],
)
def test_a_number_or_date_out_of_range_is_one_line_naming_the_flag(
    run: Run,
    only_line: OnlyLine,
    swept: Any,
    args: tuple[str, ...],
    flag: str,
    says: str,
) -> None:
    line = only_line(run(*args, "--db", str(swept.db), timeout=30))
    assert line.startswith(f"harvester: error: argument {flag}: "), line
    assert says in line


@pytest.mark.slow
def test_the_edges_of_the_calendar_are_read_not_refused(run: Run, swept: Any) -> None:
    """Year 1 and year 9999 in UTC, and the largest count, are in range: rows or none, no error."""
    db = ("--db", str(swept.db))
    for args, code in (
        (("show", "AAPL.US", "--as-of", "0001-01-01T00:00:00Z"), 1),  # known before anything
        (("show", "AAPL.US", "--as-of", "9999-12-31"), 0),
        (("show", "AAPL.US", "--since", "0001-01-01"), 0),
        (("show", "AAPL.US", "--since", "9999-12-31"), 1),  # no row that late
        (("show", "AAPL.US", "--last", str(LARGEST)), 0),
        (("latest", "--top", str(LARGEST)), 0),
        (("export", "short_trades", "--since", "9999-12-31"), 0),
    ):
        result = run(*args, *db, timeout=30)
        assert result.returncode == code, (args, result.stderr)
        assert "error" not in result.stderr and "Traceback" not in result.stderr, result.stderr


@pytest.mark.slow
def test_a_date_means_its_end_in_the_one_spelling_accepted(
    run: Run,
    only_line: OnlyLine,
    swept: Any,
) -> None:
    """The day the rows were first stored: its date is its end, as written out in full."""
    first = swept.rows("SELECT MIN(first_seen_at) FROM short_trades")[0][0]
    day = first[:10]
    as_date = run("show", "AAPL.US", "--as-of", day, "--db", str(swept.db), timeout=30)
    as_time = run(
        "show", "AAPL.US", "--as-of", f"{day}T23:59:59.999Z", "--db", str(swept.db), timeout=30
    )
    assert as_date.returncode == as_time.returncode == 0, (as_date.stderr, as_time.stderr)
    assert as_date.stdout == as_time.stdout != ""
    compact = run(
        "show", "AAPL.US", "--as-of", day.replace("-", ""), "--db", str(swept.db), timeout=30
    )
    assert f"write it as {day}" in only_line(compact)


@pytest.mark.slow
@pytest.mark.parametrize(
    "command", [("check",), ("show", "AAPL.US"), ("latest",), ("export", "runs")]
)
def test_a_folder_is_named_as_a_folder(
    run: Run,
    only_line: OnlyLine,
    tmp_path: Path,
    command: tuple[str, ...],
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    line = only_line(run(*command, "--db", str(folder), timeout=30))
    assert line == (
        f"harvester: error: database {folder} is a folder; name a file in it, "
        "e.g. --db harvest.sqlite"
    )
    assert list(folder.iterdir()) == []


@pytest.mark.slow
def test_check_on_an_empty_file_says_no_run_yet(run: Run, tmp_path: Path) -> None:
    """A file of 0 bytes (``touch``, or ``sqlite3 x.sqlite ''``) is a database with no run: 7."""
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    text = run("check", "--db", str(empty), timeout=30)
    assert (text.returncode, text.stdout, text.stderr) == (7, NO_RUN, "")
    as_json = run("check", "--db", str(empty), "--json", timeout=30)
    assert as_json.returncode == 7 and as_json.stderr == "", as_json.stderr
    assert '"run": null' in as_json.stdout
    assert empty.stat().st_size == 0  # read-only: the file is left as it was


@pytest.mark.slow
def test_show_on_an_empty_file_says_it_is_empty(
    run: Run,
    only_line: OnlyLine,
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    line = only_line(run("show", "AAPL.US", "--db", str(empty), timeout=30))
    assert line == (
        f"harvester: error: database {empty} is empty: no sweep has written it "
        f"yet (harvester sweep --db {empty})"
    )


# The parsers on their own -----------------------------------------------------------------


@given(st.text())
@example("0001-01-01T00:00:00+01:00").via("before year 1 in UTC")
def test_moment_returns_a_time_or_refuses_with_one_message(text: str) -> None:
    with contextlib.suppress(argparse.ArgumentTypeError):
        assert isinstance(moment(text), str)


@given(st.datetimes(), st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1))
@example(datetime(1, 1, 1), 60).via("--as-of 0001-01-01T00:00:00+01:00")
@example(datetime(9999, 12, 31, 23), -300).via("--as-of 9999-12-31T23:00:00-05:00")
def test_moment_reads_any_time_or_refuses_it_outside_the_calendar(
    when: datetime,
    minutes: int,
) -> None:
    aware = when.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    try:
        expected = utc_text(aware)
    except OverflowError:
        with pytest.raises(argparse.ArgumentTypeError, match="out of range"):
            moment(aware.isoformat())
        return
    assert moment(aware.isoformat()) == expected


@given(st.dates())
def test_moment_reads_a_date_as_its_end_and_refuses_it_compact(day: date) -> None:
    assert moment(day.isoformat()) == f"{day.isoformat()}T23:59:59.999Z"
    compact = f"{day.year:04d}{day.month:02d}{day.day:02d}"
    with pytest.raises(argparse.ArgumentTypeError, match=f"write it as {day.isoformat()}"):
        moment(compact)


@given(st.integers(min_value=-(2**70), max_value=2**70))
def test_positive_takes_the_counts_sqlite_can_hold(number: int) -> None:
    if 1 <= number <= LARGEST:
        assert positive_count(str(number)) == number
    else:
        with pytest.raises(argparse.ArgumentTypeError):
            positive_count(str(number))


@given(st.text())
@example("9" * 5000).via("more digits than int() reads")
@example("0" * 5000 + "7").via("leading zeros")
def test_positive_returns_a_count_or_refuses_with_one_message(text: str) -> None:
    with contextlib.suppress(argparse.ArgumentTypeError):
        assert 1 <= positive_count(text) <= LARGEST
