"""A sweep counts its rows honestly: new, revised (restated) and rewritten unchanged.

Sweeps run in-process against the simulated gateway, whose served day is stepped
between them; what each sweep reports (its summary, its text and ``--json``, and its row
of ``runs``) is held to what the file says on its own: the rows first seen during the run
(``first_seen_at``) and the values the run replaced (``<table>_revisions``).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from harvester.model import RunSummary
from harvester.simulate import Gateway, GatewaySettings
from harvester.sweep.report import status_text, summary_dict, summary_text
from harvester.sweep.run import run_sweep, table_specs

START = dt.date(2026, 5, 11)  # a Monday; the real clock drops records after tomorrow
SYMBOLS = "AAPL.US\nMSFT.US\nNVDA.US\nTSLA.US\nAMD.US\n700.HK\n5.HK\n9988.HK\n1299.HK\n939.HK\n"
MODES = {"full": {"full": True}, "nightly": {"probe_size": 2}}
KINDS = "rows_written, rows_new, rows_revised, rows_unchanged"


def _one(db: Path, sql: str, params: tuple[Any, ...] = ()) -> Any:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql, params).fetchone()


def from_the_file(db: Path, run_id: str) -> tuple[int, int]:
    """(new, revised) of a run, by SQL alone: rows first seen since it started (no run came
    after it), and the values its fetches replaced."""
    new = revised = 0
    for table in {spec.table for spec in table_specs().values()}:
        new += _one(
            db,
            f"SELECT COUNT(*) FROM {table} WHERE first_seen_at >= "
            "(SELECT started_at FROM runs WHERE run_id = ?)",
            (run_id,),
        )[0]
        revised += _one(
            db, f"SELECT COUNT(*) FROM {table}_revisions WHERE superseded_by = ?", (run_id,)
        )[0]
    return new, revised


def assert_told_apart(summary: RunSummary, db: Path) -> None:
    """The summary's rows by kind add up, and are the run's columns and what the file says."""
    assert summary.status == "completed", summary
    kinds = (summary.rows, summary.rows_new, summary.rows_revised, summary.rows_unchanged)
    assert summary.rows_new + summary.rows_revised + summary.rows_unchanged == summary.rows
    assert _one(db, f"SELECT {KINDS} FROM runs WHERE run_id = ?", (summary.run_id,)) == kinds
    assert from_the_file(db, summary.run_id) == (summary.rows_new, summary.rows_revised)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", sorted(MODES))
async def test_a_second_sweep_of_the_same_day_writes_nothing_new(
    make_settings: Callable[..., Any], mode: str
) -> None:
    async with Gateway(GatewaySettings(seed=5, schedules=True, today=START)) as gateway:
        settings = make_settings(gateway.url, SYMBOLS, sweep=MODES[mode])
        db = Path(settings.sweep.db)
        first = await run_sweep(settings)
        second = await run_sweep(settings)
    assert_told_apart(first, db)
    assert first.rows > 0 and first.rows_new == first.rows
    assert_told_apart(second, db)
    rows = second.rows
    assert rows > 0 and (second.rows_new, second.rows_revised, second.rows_unchanged) == (
        0,
        0,
        rows,
    )
    if mode == "full":
        assert rows == first.rows  # every row fetched again, every one the same
    assert f"  rows {rows} (0 new, 0 revised, {rows} unchanged), warnings 0, requests " in (
        summary_text(second)
    )
    as_json = summary_dict(second)
    assert (as_json["rows_written"], as_json["rows_new"]) == (rows, 0)
    assert (as_json["rows_revised"], as_json["rows_unchanged"]) == (0, rows)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode", sorted(MODES))
async def test_stepped_days_count_the_new_and_restated_rows_the_file_holds(
    make_settings: Callable[..., Any], mode: str
) -> None:
    simulated = GatewaySettings(seed=13, schedules=True, today=START, restate_rate=0.5)
    summaries = []
    async with Gateway(simulated) as gateway:
        settings = make_settings(gateway.url, SYMBOLS, sweep=MODES[mode])
        db = Path(settings.sweep.db)
        for step in range(6):
            if step:
                gateway.advance()
            summary = await run_sweep(settings)
            assert_told_apart(summary, db)  # each day, before a later run muddles first_seen_at
            summaries.append(summary)
    later = summaries[1:]
    assert sum(s.rows_new for s in later) > 0, "no new day was published"
    assert sum(s.rows_revised for s in later) > 0, "no restatement was fetched"
    if mode == "full":
        assert sum(s.rows_unchanged for s in later) > 0


@pytest.mark.timeout(60)
def test_status_shows_each_runs_rows_by_kind_and_only_the_total_before_version_8() -> None:
    run = {
        "run_id": "r",
        "status": "completed",
        "started_at": "2026-05-19T02:00:00.000Z",
        "finished_at": "2026-05-19T02:10:00.000Z",
        "requests": 40,
        "tasks": {},
    }
    counted = {"rows_written": 2020, "rows_new": 180, "rows_revised": 12, "rows_unchanged": 1828}
    assert "  rows 2020 (180 new, 12 revised, 1828 unchanged)  requests 40" in status_text(
        [{**run, **counted}]
    )
    # A run that wrote rows before schema version 8 (NULL), or a file still at 7 (no columns).
    unknown = {**counted, "rows_new": None, "rows_revised": None, "rows_unchanged": None}
    for old in (unknown, {"rows_written": 2020}):
        assert "  rows 2020  requests 40" in status_text([{**run, **old}])
