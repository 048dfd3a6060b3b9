"""``--as-of`` in every spelling, on every command that reads data.

The parser on its own, with a fixed clock: dates, times, ``today``, ``yesterday``,
``36h``, ``2d``, a run id, and a value none of them reads. Then the commands, as a
subprocess, on the shared swept file (one run): a run id is the data as that run left
it, a relative time before the run knows nothing, a bad value is one line naming it and
what is accepted (exit 2). The help texts and docs/reading.md list every spelling.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import subprocess
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from harvester.arguments import AS_OF_HELP, SPELLINGS, RunRef, as_of, moment, run_ref

pytestmark = pytest.mark.timeout(60)

Run = Callable[..., subprocess.CompletedProcess[str]]
NOW = datetime(2026, 5, 20, 9, 30, 15, 250000, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
RUN = "20261206T214224Z-7bea59"


# The parser --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "known"),
    [
        ("2026-05-19", "2026-05-19T23:59:59.999Z"),
        ("2026-05-19T08:30:00Z", "2026-05-19T08:30:00.000Z"),
        ("2026-05-19 16:30+08:00", "2026-05-19T08:30:00.000Z"),
        ("today", "2026-05-20T23:59:59.999Z"),
        ("yesterday", "2026-05-19T23:59:59.999Z"),
        (" Yesterday ", "2026-05-19T23:59:59.999Z"),
        ("36h", "2026-05-18T21:30:15.250Z"),
        ("2d", "2026-05-18T09:30:15.250Z"),
        ("90min", "2026-05-20T08:00:15.250Z"),
        ("1w", "2026-05-13T09:30:15.250Z"),
        ("0h", "2026-05-20T09:30:15.250Z"),
    ],
)
def test_every_spelling_is_a_time_as_the_file_writes_it(text: str, known: str) -> None:
    assert moment(text, now=NOW) == known


def test_yesterday_is_the_utc_day_before_whatever_the_clocks_zone() -> None:
    tokyo = datetime(2026, 5, 20, 5, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 2026-05-19 in UTC
    assert moment("yesterday", now=tokyo) == "2026-05-18T23:59:59.999Z"


def test_a_run_id_is_kept_for_the_file_to_answer() -> None:
    assert as_of(RUN) == RunRef(RUN) == run_ref(f" {RUN} ")
    assert str(as_of(RUN)) == RUN
    assert isinstance(as_of("2d"), str)  # a time: the clock answers it, not the file


@pytest.mark.parametrize(
    "text", ["soon", "3m", "2 days", "-2d", "", "20261206T214224Z-7bea5", "1.5h"]
)
def test_a_value_no_spelling_reads_names_itself_and_every_spelling(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        as_of(text)
    message = str(refused.value)
    assert message.startswith(f"not a time: {text!r}; write ")
    for spelling in SPELLINGS:
        assert spelling.example in message


def test_too_far_back_is_out_of_range() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="out of range: '9999999w'"):
        moment("9999999w", now=NOW)


def test_run_refuses_anything_but_a_run_id() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=f"not a run id: 'yesterday'.*{RUN}"):
        run_ref("yesterday")


def test_the_help_and_the_docs_list_every_spelling(harvester: Run) -> None:
    reading = (ROOT / "docs" / "reading.md").read_text(encoding="utf-8")
    for spelling in SPELLINGS:
        assert f"`{spelling.example}`" in reading, spelling
    for command in (("show", "X.US"), ("latest",), ("export", "short_trades")):
        text = " ".join(harvester(command[0], "-h").stdout.split())
        assert AS_OF_HELP in text, command


# The commands ------------------------------------------------------------------------------


@pytest.fixture
def run(harvester: Run, swept: Any) -> Run:
    """The CLI on the swept database."""
    return lambda *args: harvester(*args, "--db", str(swept.db))


def _run_id(swept: Any) -> str:
    ((run_id,),) = swept.rows("SELECT run_id FROM runs")
    return str(run_id)


@pytest.mark.parametrize("command", [("show", "AAPL.US", "700.HK"), ("latest",)])
def test_as_of_the_run_is_the_data_it_left(run: Run, swept: Any, command: tuple[str, ...]) -> None:
    now = run(*command, "--format", "json")
    then = run(*command, "--format", "json", "--as-of", _run_id(swept))
    assert then.returncode == now.returncode == 0, then.stderr
    assert json.loads(then.stdout) == json.loads(now.stdout) != []


def test_as_of_a_running_run_is_now(harvester: Run, copy_swept: Callable[[], Any]) -> None:
    copy = copy_swept()
    run_id = _run_id(copy)
    with closing(sqlite3.connect(copy.db)) as db, db:
        db.execute("UPDATE runs SET status = 'running', finished_at = NULL")
        db.execute("UPDATE short_trades SET close = 1.25 WHERE symbol = 'AAPL.US'")  # later
    db = ("--db", str(copy.db), "--format", "json")
    shown = harvester("show", "AAPL.US", "--as-of", run_id, *db)
    assert shown.returncode == 0, shown.stderr
    assert {row["close"] for row in json.loads(shown.stdout)} == {1.25}


def test_hours_before_the_run_nothing_was_known(run: Run, swept: Any) -> None:
    ((first,),) = swept.rows("SELECT MIN(first_seen_at) FROM short_trades")
    hours = int((datetime.now(UTC) - datetime.fromisoformat(first)).total_seconds() // 3600) + 1
    shown = run("show", "AAPL.US", "--as-of", f"{hours}h")
    assert shown.returncode == 1 and shown.stdout == "", shown.stderr
    assert "no short_trades rows stored known at " in shown.stderr


def test_a_week_ago_latest_knew_no_symbol(run: Run) -> None:
    latest = run("latest", "--as-of", "1w", "--format", "json")
    assert latest.returncode == 0 and json.loads(latest.stdout) == [], latest.stderr


def test_yesterday_knew_what_was_stored_by_its_end(run: Run, swept: Any) -> None:
    ((first,),) = swept.rows("SELECT MIN(first_seen_at) FROM short_trades")
    yesterday = run("export", "short_trades", "--as-of", "yesterday", "--format", "json")
    known = json.loads(yesterday.stdout)
    # Yesterday's end came before the run, unless the run came before today began.
    assert known == [] if first > moment("yesterday") else known != []


@pytest.mark.parametrize(
    "command", [("show", "AAPL.US"), ("latest",), ("export", "short_trades"), ("changes",)]
)
def test_a_bad_as_of_is_one_line_naming_it_and_every_spelling(
    run: Run, command: tuple[str, ...]
) -> None:
    result = run(*command, "--as-of", "last tuesday")
    assert result.returncode == 2 and result.stdout == "", result
    (line,) = result.stderr.splitlines()
    assert line.startswith("harvester: error: argument --as-of: not a time: 'last tuesday'; ")
    assert all(spelling.example in line for spelling in SPELLINGS), line


@pytest.mark.parametrize("command", [("show", "AAPL.US"), ("latest",), ("export", "short_trades")])
def test_a_run_the_file_lacks_is_one_line(run: Run, command: tuple[str, ...]) -> None:
    result = run(*command, "--as-of", RUN)
    assert result.returncode == 2 and result.stdout == "", result
    assert result.stderr == (
        f"harvester: error: --as-of {RUN}: no run with that id in the database; "
        "harvester status lists the runs\n"
    )


def test_latest_as_of_needs_the_history(harvester: Run, copy_swept: Callable[[], Any]) -> None:
    copy = copy_swept()
    with closing(sqlite3.connect(copy.db)) as db, db:
        db.execute("PRAGMA user_version = 4")
    result = harvester("latest", "--as-of", "today", "--db", str(copy.db))
    assert result.returncode == 2
    assert re.search(r"schema version 4 predates version 5, which this needs", result.stderr)
