"""Point-in-time history from outside: sweeps on two days of the simulated gateway's calendar.

Day D (2026-05-18) is swept, then D+1, on which the gateway restates some recent
records (which ones, ``harvester.simulate.restate.restatements`` says). The file
must keep the replaced values, leave ``first_seen_at`` alone, and answer as-of
reads with what was known at the time, through the CLI and the SQL views.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from harvester.simulate import GatewaySettings
from harvester.simulate.restate import restatements
from harvester.sweep.run import table_specs

Run = Callable[..., subprocess.CompletedProcess[str]]
SYMBOLS = [
    "AAPL.US",
    "MSFT.US",
    "NVDA.US",
    "TSLA.US",
    "AMZN.US",
    "700.HK",
    "5.HK",
    "9988.HK",
    "1299.HK",
    "388.HK",
]
SIMULATE = {"schedules": True, "restate_rate": 0.5, "seed": 7}
D, NEXT = dt.date(2026, 5, 18), dt.date(2026, 5, 19)


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture
def sweep_on(harvester: Run, tmp_path: Path, fast_toml: str) -> Callable[[dt.date], str]:
    """``sweep_on(day)``: a sweep of SYMBOLS as the gateway serves ``day``; its run id."""
    symbols = tmp_path / "symbols.txt"
    symbols.write_text("\n".join(SYMBOLS) + "\n", encoding="utf-8")

    def sweep(day: dt.date) -> str:
        config = tmp_path / "c.toml"
        config.write_text(
            fast_toml
            + "".join(f"{key} = {json.dumps(value)}\n" for key, value in SIMULATE.items())
            + f'today = "{day.isoformat()}"\n',
            encoding="utf-8",
        )
        result = harvester(
            "sweep",
            "--simulate",
            "--config",
            str(config),
            "--symbols",
            str(symbols),
            "--db",
            str(tmp_path / "h.sqlite"),
            "--json",
            "-q",
        )
        assert result.returncode == 0, result.stderr
        run_id: str = json.loads(result.stdout)["run_id"]
        return run_id

    return sweep


def data(db: Path, table: str) -> dict[tuple[str, str], tuple[Any, ...]]:
    """(symbol, trade_date) -> the data columns, as stored now."""
    names = table_specs()["short_trades" if table == "short_trades" else "short_interest"]
    return {
        (row[0], row[1]): tuple(row[2:])
        for row in rows(db, f"SELECT symbol, trade_date, {', '.join(names.columns)} FROM {table}")
    }


def test_a_restatement_is_kept_and_as_of_reads_give_what_was_known(
    sweep_on: Callable[[dt.date], str], harvester: Run, tmp_path: Path
) -> None:
    db = tmp_path / "h.sqlite"
    before_first = rows(db, "SELECT 1") if db.exists() else None
    assert before_first is None
    first_run = sweep_on(D)
    day_d = {table: data(db, table) for table in ("short_trades", "short_interest")}
    seen_d = {
        (s, d): f
        for s, d, f in rows(db, "SELECT symbol, trade_date, first_seen_at FROM short_trades")
    }
    (between,) = rows(db, "SELECT finished_at FROM runs WHERE run_id = ?", (first_run,))[0]
    second_run = sweep_on(NEXT)

    restated = restatements(GatewaySettings.from_mapping(SIMULATE), SYMBOLS, NEXT)
    assert restated, "restate_rate 0.5 restates something on a publication day"
    for table in ("short_trades", "short_interest"):
        expected = {(r.symbol, r.record_date.isoformat()) for r in restated if r.endpoint == table}
        kept = rows(db, f"SELECT * FROM {table}_revisions")
        assert {(row[0], row[2]) for row in kept} == expected, table
        width = len(table_specs()[table].columns)
        for row in kept:
            # The old values, as day D stored them, superseded by the second run.
            assert tuple(row[3 : 3 + width]) == day_d[table][row[0], row[2]]
            assert row[-1] == second_run and row[-4] == first_run
        now = data(db, table)
        assert all(now[key] != day_d[table][key] for key in expected)

    # first_seen_at never moves, restated or not; new days are first seen by the second run.
    for symbol, day, first_seen in rows(
        db, "SELECT symbol, trade_date, first_seen_at FROM short_trades"
    ):
        if (symbol, day) in seen_d:
            assert first_seen == seen_d[symbol, day]
        else:
            assert first_seen > between

    # As of a moment between the sweeps: exactly day D's rows and values.
    symbol = next(r.symbol for r in restated if r.endpoint == "short_trades")
    shown = harvester("show", symbol, "--as-of", between, "--format", "json", "--db", str(db))
    assert shown.returncode == 0, shown.stderr
    as_of = {(row["symbol"], row["trade_date"]) for row in json.loads(shown.stdout)}
    assert as_of == {key for key in day_d["short_trades"] if key[0] == symbol}
    exported = harvester(
        "export", "short_trades", "--as-of", between, "--format", "jsonl", "--db", str(db)
    )
    assert exported.returncode == 0, exported.stderr
    known = [json.loads(line) for line in exported.stdout.splitlines()]
    columns = table_specs()["short_trades"].columns
    assert {(r["symbol"], r["trade_date"]): tuple(r[c] for c in columns) for r in known} == day_d[
        "short_trades"
    ]
    # As of before the first sweep: nothing was known.
    early = harvester("show", symbol, "--as-of", "2026-01-01", "--db", str(db))
    assert early.returncode == 1 and early.stdout == ""


def test_a_sweep_that_brings_the_same_values_adds_no_revision(
    sweep_on: Callable[[dt.date], str], tmp_path: Path
) -> None:
    sweep_on(D)
    sweep_on(D)
    db = tmp_path / "h.sqlite"
    assert rows(db, "SELECT COUNT(*) FROM short_trades_revisions") == [(0,)]
    assert rows(db, "SELECT COUNT(*) FROM short_interest_revisions") == [(0,)]
    # The second run fetched its probes again: their fetched_at moved, first_seen_at did not.
    assert rows(db, "SELECT COUNT(*) FROM short_trades WHERE fetched_at > first_seen_at")[0][0]


def test_the_trigger_keeps_a_change_made_by_other_means(
    sweep_on: Callable[[dt.date], str], tmp_path: Path
) -> None:
    sweep_on(D)
    db = tmp_path / "h.sqlite"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            "UPDATE short_trades SET close = close + 1 WHERE symbol = '700.HK' "
            "AND trade_date = '2026-05-18'"
        )
        conn.execute("UPDATE short_trades SET run_id = run_id WHERE symbol = '5.HK'")
    kept = rows(db, "SELECT symbol, trade_date, superseded_at FROM short_trades_revisions")
    assert [(s, d) for s, d, _ in kept] == [("700.HK", "2026-05-18")]
    assert kept[0][2] > rows(db, "SELECT MAX(fetched_at) FROM short_trades")[0][0]


def test_as_of_on_a_file_from_before_the_history_says_what_to_do(
    harvester: Run, tmp_path: Path
) -> None:
    db = tmp_path / "v4.sqlite"
    with closing(sqlite3.connect(db)) as conn:
        conn.executescript(
            (Path(__file__).parents[1] / "data" / "schema_v4.sql").read_text(encoding="utf-8")
        )
    result = harvester("show", "700.HK", "--as-of", "2026-12-01", "--db", str(db))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        f"harvester: error: database {db}: schema version 4 predates version 5, which this "
        f"needs; run a sweep on it once to migrate it in place (harvester sweep --db {db})\n"
    )
    # Without --as-of the same file reads as it is: it has the views.
    assert harvester("show", "700.HK", "--db", str(db)).returncode == 0
