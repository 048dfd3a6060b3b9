"""``show``, ``latest``, ``export``, ``status`` and ``check`` with short_positions, as a subprocess.

On the swept database with short positions added (tests/read/conftest.py), every answer is
compared with rows read from the raw table; on the swept database alone, whose
short_positions table is empty as any file swept through the quote gateway is, nothing
complains; on a file of schema version 5, the commands that need the table say what to do.

A subprocess a command, so only one ``show`` and the help stay in the fast suite; the rest
are slow tests (CI's slow job runs them): the store's tests (tests/store/test_store_positions.py)
read the same rows, views and as-of answers in process, and tests/read/test_query.py and
test_query_export.py run the same commands on the other data sets.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from fixtures_swept import Swept

from harvester import catalog
from harvester.read.query import DEFAULT_BY
from harvester.simulate.settings import DEFAULT_TODAY

Run = Callable[..., subprocess.CompletedProcess[str]]
ErrorLine = Callable[[subprocess.CompletedProcess[str]], str]
V5 = Path(__file__).resolve().parents[1] / "store" / "data" / "schema_v5.sql"
BETWEEN = "2026-05-16T12:00:00Z"  # after the positions were stored, before the restatement
# The columns each market fills, in the table's order, written out by hand.
US = ("short_shares", "avg_daily_share_volume", "days_to_cover", "short_ratio", "close")
HK = ("short_amount", "short_balance", "cost", "short_ratio", "close")
# What export prints of a data table, plain or --as-of: its data, then when it was first
# stored, when its values were and until when, and its last fetch (docs/reading.md).
EXPORTED = {
    "short_positions": "SELECT symbol, market, trade_date, "
    + ", ".join(c.name for c in catalog.SHORT_POSITIONS.columns)
    + ", first_seen_at, (SELECT v.valid_from FROM short_positions_versions AS v "
    "WHERE v.symbol = p.symbol AND v.trade_date = p.trade_date AND v.valid_to IS NULL) "
    "AS valid_from, NULL AS valid_to, run_id, fetched_at FROM short_positions AS p"
}


def dicts(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows of a query on ``db``, as dicts keyed by column name."""
    with closing(sqlite3.connect(db)) as conn:
        cursor = conn.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def raw(db: Path, symbol: str, names: tuple[str, ...]) -> list[dict[str, Any]]:
    """A symbol's short positions from the raw table, newest first."""
    return dicts(
        db,
        f"SELECT symbol, trade_date, {', '.join(names)} FROM short_positions WHERE symbol = ? "
        "ORDER BY trade_date DESC",
        (symbol,),
    )


@pytest.fixture
def run(harvester: Run, positioned: Swept) -> Run:
    """The CLI on the swept database with short positions."""
    return lambda *args: harvester(
        *args, "--config", str(positioned.config), "--db", str(positioned.db)
    )


# show -------------------------------------------------------------------------------------


def test_show_prints_a_us_symbols_positions_in_the_columns_us_fills(
    run: Run, positioned: Swept
) -> None:
    result = run("show", "US.AAPL", "--endpoint", "short_positions", "--format", "json")
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got == raw(positioned.db, "AAPL.US", US) and len(got) == 3
    assert list(got[0]) == ["symbol", "trade_date", *US]


@pytest.mark.slow
def test_show_an_hk_symbols_positions_as_a_table(run: Run, positioned: Swept) -> None:
    result = run("show", "00700.HK", "--endpoint", "short_positions")
    assert result.returncode == 0, result.stderr
    header, _, *lines = result.stdout.splitlines()
    assert header.split() == ["symbol", "trade_date", *HK]
    assert [line.split() for line in lines] == [
        [str(value) for value in row.values()] for row in raw(positioned.db, "700.HK", HK)
    ]


@pytest.mark.slow
def test_show_all_keeps_each_data_sets_figures_in_columns_of_their_own(
    run: Run, positioned: Swept
) -> None:
    result = run("show", "700.HK", "--endpoint", "all", "--format", "json")
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert [e for e in dict.fromkeys(row["endpoint"] for row in got)] == [
        "short_trades",
        "short_interest",
        "short_positions",
    ]
    positions = [row for row in got if row["endpoint"] == "short_positions"]
    others = [row for row in got if row["endpoint"] != "short_positions"]
    want = raw(positioned.db, "700.HK", HK)
    assert [
        {"symbol": r["symbol"], "trade_date": r["trade_date"]}
        | {name: r[f"positions_{name}"] for name in HK}
        for r in positions
    ] == want
    # short_ratio and close are short_trades': NULL on a positions row, and the other way round.
    assert {(r["short_ratio"], r["close"]) for r in positions} == {(None, None)}
    assert all(r["short_ratio"] is not None for r in others if r["endpoint"] == "short_trades")
    assert {r[f"positions_{name}"] for r in others for name in HK} == {None}
    header = run("show", "700.HK", "--endpoint", "all", "--format", "csv").stdout.splitlines()[0]
    assert header.split(",")[:3] == ["endpoint", "symbol", "trade_date"]
    assert header.count("short_ratio") == 2 and "positions_short_ratio" in header
    table = run("show", "700.HK", "--endpoint", "all").stdout
    assert "\n\nshort_positions\nsymbol  trade_date  short_amount" in table


@pytest.mark.slow
def test_show_as_of_gives_the_positions_known_then(run: Run, positioned: Swept) -> None:
    now = json.loads(
        run("show", "700.HK", "--endpoint", "short_positions", "--format", "json").stdout
    )
    then = run(
        "show", "700.HK", "--endpoint", "short_positions", "--as-of", BETWEEN, "--format", "json"
    )
    assert then.returncode == 0, then.stderr
    known = json.loads(then.stdout)
    assert [row["trade_date"] for row in known] == [row["trade_date"] for row in now]
    assert (now[0]["cost"], known[0]["cost"]) == (99.75, 87.25)  # 2026-05-15, restated later
    assert known[1:] == now[1:]
    early = run("show", "700.HK", "--endpoint", "short_positions", "--as-of", "2026-05-01")
    assert early.returncode == 1 and early.stdout == ""
    assert "no short_positions rows stored known at 2026-05-01" in early.stderr


# latest -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_latest_positions_are_sorted_by_short_ratio_by_default(run: Run, positioned: Swept) -> None:
    result = run("latest", "--endpoint", "short_positions", "--format", "json")
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    want = dicts(
        positioned.db,
        "SELECT symbol, market, trade_date, "
        + ", ".join(c.name for c in catalog.SHORT_POSITIONS.columns)
        + ", first_seen_at FROM short_positions AS p WHERE trade_date = "
        "(SELECT MAX(trade_date) FROM short_positions WHERE symbol = p.symbol) "
        "ORDER BY short_ratio DESC, symbol",
    )
    assert got == want and len(got) == 4
    hk = run("latest", "--endpoint", "short_positions", "--market", "hk", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(hk.stdout)))
    assert list(rows[0]) == ["symbol", "trade_date", *HK]
    assert [row["symbol"] for row in rows] == ["700.HK", "9988.HK"]


def test_every_data_set_has_a_default_sort_both_markets_fill() -> None:
    assert list(DEFAULT_BY) == [endpoint.name for endpoint in catalog.ENDPOINTS]
    for endpoint in catalog.ENDPOINTS:
        (column,) = (c for c in endpoint.columns if c.name == DEFAULT_BY[endpoint.name])
        assert column.fills("US") and column.fills("HK"), endpoint.name


def test_latest_help_names_each_data_sets_default_sort(harvester: Run) -> None:
    text = " ".join(harvester("latest", "-h").stdout.split())
    for endpoint, by in DEFAULT_BY.items():
        assert f"{by} for {endpoint}" in text


# export -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_export_short_positions_and_their_views(run: Run, positioned: Swept) -> None:
    for name in ("short_positions", "latest_short_positions", "hk_short_positions", "snapshot"):
        result = run("export", name, "--format", "json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == dicts(
            positioned.db, EXPORTED.get(name, f"SELECT * FROM {name}")
        ), name
    snapshot = dicts(positioned.db, "SELECT * FROM snapshot WHERE symbol = 'AAPL.US'")[0]
    assert (snapshot["short_positions_date"], snapshot["positions_short_shares"]) == (
        "2026-05-15",
        3 * 10**6,
    )


@pytest.mark.slow
def test_export_as_of_reads_short_positions_as_known_then(run: Run, positioned: Swept) -> None:
    result = run("export", "short_positions", "--as-of", BETWEEN, "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    known = {(r["symbol"], r["trade_date"]): r for r in map(json.loads, result.stdout.splitlines())}
    now = {
        (r["symbol"], r["trade_date"]): r
        for r in dicts(positioned.db, "SELECT * FROM short_positions")
    }
    assert set(known) == set(now)
    assert known["700.HK", "2026-05-15"]["cost"] == 87.25
    assert now["700.HK", "2026-05-15"]["cost"] == 99.75
    assert all(
        known[key]["cost"] == now[key]["cost"]
        for key in now
        if key[1] != "2026-05-15" or key[0] != "700.HK"
    )


# An empty short_positions table: what a sweep through the quote gateway leaves -------------


@pytest.mark.slow
def test_an_empty_short_positions_table_is_no_complaint(
    harvester: Run, copy_swept: Callable[[], Swept]
) -> None:
    swept = copy_swept()
    assert swept.rows("SELECT COUNT(*) FROM short_positions") == [(0,)]
    db = ("--db", str(swept.db))
    shown = harvester("show", "AAPL.US", "--endpoint", "all", *db)
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    assert "short_positions" not in shown.stdout
    asked = harvester("show", "AAPL.US", "--endpoint", "short_positions", *db)
    assert asked.returncode == 1 and asked.stdout == ""
    assert asked.stderr == (
        "harvester: AAPL.US: no short_positions rows stored "
        "(the latest run fetched no short_positions)\n"
    )
    latest = harvester("latest", "--endpoint", "short_positions", "--format", "json", *db)
    assert (latest.returncode, latest.stdout, latest.stderr) == (0, "[]\n", "")
    status = harvester("status", "--json", *db)
    assert status.returncode == 0, status.stderr
    assert set(json.loads(status.stdout)[0]["tasks"]) == {"short_trades", "short_interest"}
    # check judges the latest run by its tasks: healthy once its failed ones are not.
    with closing(sqlite3.connect(swept.db)) as conn, conn:
        conn.execute("UPDATE tasks SET status = 'ok', error_code = NULL WHERE status = 'failed'")
    checked = harvester("check", "--today", DEFAULT_TODAY.isoformat(), *db)
    assert checked.returncode == 0 and checked.stdout.startswith("ok: run "), checked.stdout


# A file of schema version 5, before short_positions ----------------------------------------


@pytest.fixture
def v5(tmp_path: Path) -> Path:
    """A file made by the schema-5 release (tests/store/data/schema_v5.sql)."""
    db = tmp_path / "v5.sqlite"
    with closing(sqlite3.connect(db)) as conn:
        conn.executescript(V5.read_text(encoding="utf-8"))
    return db


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["show", "700.HK", "--endpoint", "short_positions"],
        ["latest", "--endpoint", "short_positions"],
    ],
)
def test_a_schema_5_file_says_to_sweep_it_once_for_short_positions(
    args: list[str], harvester: Run, v5: Path, error_line: ErrorLine
) -> None:
    line = error_line(harvester(*args, "--db", str(v5)))
    assert f"database {v5}: schema version 5 predates version 6, which this needs" in line
    assert f"harvester sweep --db {v5}" in line


@pytest.mark.slow
def test_a_schema_5_file_reads_as_it_is_without_short_positions(
    harvester: Run, v5: Path, error_line: ErrorLine
) -> None:
    shown = harvester("show", "700.HK", "--endpoint", "all", "--format", "json", "--db", str(v5))
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    assert {row["endpoint"] for row in json.loads(shown.stdout)} == {
        "short_trades",
        "short_interest",
    }
    exported = harvester("export", "short_trades", "--as-of", "2027-01-01", "--db", str(v5))
    assert exported.returncode == 0, exported.stderr
    line = error_line(harvester("export", "short_positions", "--db", str(v5)))
    assert "no table or view named 'short_positions'" in line
    assert line.endswith(
        "; short_positions came after its schema version 5: run a sweep on it once to add it"
    )
    with closing(sqlite3.connect(v5)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (5,)  # read, never migrated
