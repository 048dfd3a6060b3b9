"""``harvester backfill``: 20 symbols three years back, from outside, as real processes.

The oracle for which days exist is the simulated gateway's own calendar
(``harvester.simulate.history``), not anything of the harvester's.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from harvester.simulate import GatewaySettings
from harvester.simulate.history import newest_served, record_dates

US = ["AAPL", "MSFT", "TSLA", "NVDA", "AMZN", "META", "GOOGL", "SPY", "JPM", "XOM"]
HK = ["700", "9988", "5", "1299", "388", "3690", "1810", "941", "2318", "1"]
SYMBOLS = [f"{code}.US" for code in US] + [f"{code}.HK" for code in HK]
SINCE = date(2023, 5, 18)  # three years before the simulated gateway's default served day
# The OpenAPI dialect, quicker than the account's 10/s so the test takes seconds, not minutes.
FAST = {
    "HARVESTER_GATEWAY_API": "openapi",
    "HARVESTER_GATEWAY_RATE": "200",
    "HARVESTER_ENDPOINTS_SHORT_TRADES_RATE": "100",
    "HARVESTER_ENDPOINTS_SHORT_POSITIONS_RATE": "100",
}
DATA = ("short_trades", "short_positions")
Run = Callable[..., subprocess.CompletedProcess[str]]


def rows(db: Path, table: str) -> set[tuple[Any, ...]]:
    """A data table's rows without the run's bookkeeping (run id and times)."""
    with sqlite3.connect(db) as connection:
        cursor = connection.execute(f"SELECT * FROM {table}")
        names = [column[0] for column in cursor.description]
        keep = [
            i
            for i, name in enumerate(names)
            if name not in ("run_id", "fetched_at", "first_seen_at")
        ]
        return {tuple(row[i] for i in keep) for row in cursor}


def days(db: Path, table: str, symbol: str) -> list[str]:
    with sqlite3.connect(db) as connection:
        query = f"SELECT trade_date FROM {table} WHERE symbol = ? ORDER BY trade_date"
        return [day for (day,) in connection.execute(query, (symbol,))]


def expected_days(endpoint: str, symbol: str) -> list[str]:
    """Every day the simulated gateway serves for ``symbol`` from SINCE to its newest."""
    market = symbol.rsplit(".", 1)[1]
    newest = newest_served(GatewaySettings(api="openapi"), market, endpoint)
    return sorted(day.isoformat() for day in record_dates(endpoint, market, newest, SINCE))


@pytest.fixture
def swept(harvester: Run, tmp_path: Path) -> Path:
    """A folder with the symbols file and a database holding one nightly sweep's rows."""
    (tmp_path / "symbols.txt").write_text("\n".join(SYMBOLS) + "\n")
    result = harvester("sweep", "--simulate", "-q", "--db", "h.sqlite", cwd=tmp_path, env=FAST)
    assert result.returncode == 0, result.stderr
    return tmp_path


def backfill(harvester: Run, folder: Path, db: str, *extra: str) -> dict[str, Any]:
    args = ("backfill", "--since", SINCE.isoformat(), "--simulate", "-q", "--json", "--db", db)
    result = harvester(*args, *extra, cwd=folder, env=FAST, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_a_backfill_stores_every_day_once_and_plan_foretold_its_requests(
    harvester: Run, swept: Path
) -> None:
    planned = harvester(
        "plan",
        "--backfill-since",
        SINCE.isoformat(),
        "--json",
        "--db",
        "h.sqlite",
        cwd=swept,
        env=FAST,
    )
    assert planned.returncode == 0, planned.stderr
    foretold = json.loads(planned.stdout)["requests_total"]
    summary = backfill(harvester, swept, "h.sqlite")
    sent = summary["requests"]
    assert abs(sent - foretold) <= 0.05 * sent, (sent, foretold)
    for endpoint in DATA:
        for symbol in SYMBOLS:
            # Every served day from SINCE on, each once (the seams' repeated records dropped).
            assert days(swept / "h.sqlite", endpoint, symbol) == expected_days(endpoint, symbol)


@pytest.mark.slow
def test_a_backfill_killed_mid_way_resumes_to_the_same_file(
    harvester: Run,
    swept: Path,
    start_sweep: Callable[..., subprocess.Popen[str]],
    wait_until: Callable[[Callable[[], object], float, str], None],
) -> None:
    shutil.copy(swept / "h.sqlite", swept / "killed.sqlite")
    backfill(harvester, swept, "h.sqlite")  # the uninterrupted one: the file to match
    before = len(rows(swept / "killed.sqlite", "short_trades"))
    slow = dict(FAST, HARVESTER_GATEWAY_RATE="20")
    process = start_sweep(
        ["backfill", "--since", SINCE.isoformat(), "--simulate", "-q", "--db", "killed.sqlite"],
        env=slow,
        cwd=swept,
    )

    def pages_committed() -> bool:
        return len(rows(swept / "killed.sqlite", "short_trades")) >= before + 1000

    wait_until(pages_committed, 60, "a thousand backfilled rows committed")
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    partial = len(rows(swept / "killed.sqlite", "short_trades"))
    assert partial < len(rows(swept / "h.sqlite", "short_trades"))  # it was cut off mid-way
    summary = backfill(harvester, swept, "killed.sqlite", "--resume")
    assert summary["resumes"] == 1
    for table in DATA:
        assert rows(swept / "killed.sqlite", table) == rows(swept / "h.sqlite", table)


@pytest.mark.slow
def test_a_sweep_and_a_backfill_resume_only_their_own_kind(
    harvester: Run,
    swept: Path,
    start_sweep: Callable[..., subprocess.Popen[str]],
    wait_until: Callable[[Callable[[], object], float, str], None],
) -> None:
    before = len(rows(swept / "h.sqlite", "short_trades"))
    process = start_sweep(
        ["backfill", "--since", SINCE.isoformat(), "--simulate", "-q", "--db", "h.sqlite"],
        env=dict(FAST, HARVESTER_GATEWAY_RATE="20"),
        cwd=swept,
    )
    wait_until(
        lambda: len(rows(swept / "h.sqlite", "short_trades")) > before,
        60,
        "a backfilled page committed",
    )
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    nightly = harvester(
        "sweep", "--resume", "--simulate", "-q", "--json", "--db", "h.sqlite", cwd=swept, env=FAST
    )
    assert nightly.returncode == 0, nightly.stderr
    assert json.loads(nightly.stdout)["resumes"] == 0  # a new sweep, not the backfill's tasks
    summary = backfill(harvester, swept, "h.sqlite", "--resume")
    assert summary["resumes"] == 1
    with sqlite3.connect(swept / "h.sqlite") as connection:
        kinds = connection.execute("SELECT kind, status FROM runs ORDER BY started_at").fetchall()
    assert kinds == [("sweep", "completed"), ("backfill", "completed"), ("sweep", "completed")]
    status = harvester("status", "--db", "h.sqlite", cwd=swept)
    assert [
        line.endswith("(backfill)") for line in status.stdout.splitlines() if "started" in line
    ] == [
        False,
        True,
        False,
    ]


def test_the_gateway_dialect_says_its_history_stops_at_count(
    harvester: Run, tmp_path: Path
) -> None:
    result = harvester("backfill", "--since", "2021-01-01", "--simulate", cwd=tmp_path)
    assert result.returncode == 2
    assert "history stops at" in result.stderr and "openapi" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_three_years_of_days_span_several_pages() -> None:
    # The test above pages for real: three years are more than one page of 100.
    assert len(expected_days("short_trades", "AAPL.US")) > 700
    assert date.fromisoformat(expected_days("short_trades", "AAPL.US")[0]) - SINCE < timedelta(7)
