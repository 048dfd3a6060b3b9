"""``harvester show`` and ``latest`` on a real swept database, driven as a subprocess.

Every output format is parsed back and compared with rows read independently from
the raw tables (not through the views the commands read), with the columns each
market fills written out here by hand.
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

Run = Callable[..., subprocess.CompletedProcess[str]]

US_TRADES = ("nasdaq_short_volume", "nyse_short_volume", "total_volume", "short_ratio", "close")
HK_TRADES = ("short_turnover", "short_balance", "total_turnover", "short_ratio", "close")
US_INTEREST = (
    "short_shares",
    "short_percent",
    "avg_daily_short_volume",
    "avg_daily_share_volume",
    "days_to_cover",
    "close_price",
    "last_close_price",
)
HK_INTEREST = (
    "short_shares",
    "short_percent",
    "avg_daily_short_volume",
    "avg_cost",
    "close_price",
    "last_close_price",
)
TABLE_ORDER = {  # each table's data columns in the order of its CREATE TABLE
    "short_trades": (
        "nasdaq_short_volume",
        "nyse_short_volume",
        "total_volume",
        "short_turnover",
        "short_balance",
        "total_turnover",
        "short_ratio",
        "close",
    ),
    "short_interest": (
        "short_shares",
        "short_percent",
        "avg_daily_short_volume",
        "avg_daily_share_volume",
        "days_to_cover",
        "avg_cost",
        "close_price",
        "last_close_price",
    ),
}
FILLED = {
    ("short_trades", "US"): US_TRADES,
    ("short_trades", "HK"): HK_TRADES,
    ("short_interest", "US"): US_INTEREST,
    ("short_interest", "HK"): HK_INTEREST,
}


def shown_columns(endpoint: str, *markets: str) -> list[str]:
    """What ``show`` must print for symbols of ``markets``: no column no market fills."""
    filled = {name for market in markets for name in FILLED[endpoint, market]}
    return ["symbol", "trade_date", *(n for n in TABLE_ORDER[endpoint] if n in filled)]


def expected(
    swept: Any,
    endpoint: str,
    symbols: list[str],
    names: list[str],
    extra: str = "",
    params: tuple[Any, ...] = (),
) -> list[dict[str, Any]]:
    """The symbols' rows from the raw table, newest first, as dicts of ``names``."""
    out = []
    for symbol in symbols:
        rows = swept.rows(
            f"SELECT {', '.join(names)} FROM {endpoint} WHERE symbol = ? {extra} "
            "ORDER BY trade_date DESC",
            (symbol, *params),
        )
        out += [dict(zip(names, row, strict=True)) for row in rows]
    return out


def parse(fmt: str, text: str) -> list[dict[str, Any]]:
    """Rows of a command's output, parsed back with the stdlib."""
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text)))
    if fmt == "json":
        parsed: list[dict[str, Any]] = json.loads(text)
        return parsed
    return [json.loads(line) for line in text.splitlines()]


def as_csv(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """What the csv module reads back for these values: NULL is an empty field."""
    return [{k: "" if v is None else str(v) for k, v in row.items()} for row in rows]


@pytest.fixture
def run(harvester: Run, swept: Any) -> Run:
    """The CLI on the swept database."""
    return lambda *args: harvester(*args, "--config", str(swept.config), "--db", str(swept.db))


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_show_prints_each_symbols_series_newest_first(fmt: str, run: Run, swept: Any) -> None:
    result = run("show", "AAPL.US", "00700.HK", "--format", fmt)
    assert result.returncode == 0, result.stderr
    names = shown_columns("short_trades", "US", "HK")
    want = expected(swept, "short_trades", ["AAPL.US", "700.HK"], names)
    assert len(want) > 20
    got = parse(fmt, result.stdout)
    assert got == (as_csv(want) if fmt == "csv" else want)
    assert list(got[0]) == names  # the database's column names, in the table's order


def test_show_a_us_symbol_has_no_hk_columns_and_a_table_lines_up(run: Run, swept: Any) -> None:
    result = run("show", "aapl.us", "--endpoint", "short_interest", "--format", "table")
    assert result.returncode == 0, result.stderr
    header, rule, *lines = result.stdout.splitlines()
    names = shown_columns("short_interest", "US")
    assert header.split() == names and "avg_cost" not in header
    want = expected(swept, "short_interest", ["AAPL.US"], names)
    assert [line.split() for line in lines] == [
        ["-" if v is None else str(v) for v in row.values()] for row in want
    ]
    # Numbers are right-aligned under their header, text left-aligned.
    end = header.index("short_shares") + len("short_shares")
    assert all(line[end - 1] != " " and line[end] == " " for line in lines)
    assert rule.startswith("-------  ")


@pytest.fixture(scope="module")
def shown_700(harvester: Run, swept: Any) -> str:
    """``show 00700.HK --format csv`` on the swept database, run once for the module."""
    args = ("--config", str(swept.config), "--db", str(swept.db))
    reference = harvester("show", "00700.HK", "--format", "csv", *args)
    assert reference.returncode == 0, reference.stderr
    return reference.stdout


@pytest.mark.parametrize("style", ["HK.00700", "700.HK", "700.hk", " 00700.HK "])
def test_every_style_of_a_symbol_shows_the_same(style: str, run: Run, shown_700: str) -> None:
    result = run("show", style, "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout == shown_700 and "700.HK" in result.stdout


def test_last_n_is_each_symbols_n_newest_days(run: Run, swept: Any) -> None:
    result = run("show", "700.HK", "US.MSFT", "--last", "3", "--format", "json")
    assert result.returncode == 0, result.stderr
    names = shown_columns("short_trades", "US", "HK")
    want = [
        row
        for symbol in ("700.HK", "MSFT.US")
        for row in expected(swept, "short_trades", [symbol], names)[:3]
    ]
    assert json.loads(result.stdout) == want


def test_since_is_inclusive(run: Run, swept: Any) -> None:
    [(day,)] = swept.rows(
        "SELECT trade_date FROM short_trades WHERE symbol = 'NVDA.US' "
        "ORDER BY trade_date DESC LIMIT 1 OFFSET 4"
    )
    result = run("show", "NVDA.US", "--since", str(day), "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    names = shown_columns("short_trades", "US")
    want = expected(swept, "short_trades", ["NVDA.US"], names, "AND trade_date >= ?", (day,))
    assert parse("jsonl", result.stdout) == want and len(want) == 5


def test_both_endpoints_carry_an_endpoint_field(run: Run, swept: Any) -> None:
    result = run("show", "5.HK", "--endpoint", "all", "--format", "json")
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    for endpoint in ("short_trades", "short_interest"):
        names = shown_columns(endpoint, "HK")
        mine = [{k: row[k] for k in names} for row in got if row["endpoint"] == endpoint]
        assert mine == expected(swept, endpoint, ["5.HK"], names)
    table = run("show", "5.HK", "--endpoint", "all")
    assert table.stdout.splitlines()[0] == "short_trades" and "\n\nshort_interest\n" in table.stdout


def test_a_symbol_without_rows_is_named_and_the_others_shown(run: Run) -> None:
    result = run("show", "NODATA.US", "AAPL.US", "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert "AAPL.US" in result.stdout and "NODATA.US" not in result.stdout
    assert result.stderr.splitlines() == [
        "harvester: NODATA.US: no short_trades rows stored (latest run: no_data)"
    ]


def test_no_rows_for_any_symbol_exits_1_with_a_line_each(run: Run) -> None:
    result = run("show", "FAILS.US", "ZZZZ.US", "--format", "json")
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout) == []
    assert result.stderr.splitlines() == [
        "harvester: FAILS.US: no short_trades rows stored (latest run: failed)",
        "harvester: ZZZZ.US: no short_trades rows stored (not in the latest run)",
    ]


@pytest.mark.parametrize(
    ("symbol", "named"),
    [
        ("AAPL", "'AAPL' (did you mean AAPL.US?)"),
        ("A/B.US", "'A/B.US'"),
        ("600519.SH", "600519.SH: market SH"),
    ],
)
def test_a_bad_symbol_is_one_line_naming_it(
    symbol: str, named: str, run: Run, error_line: Callable[..., str]
) -> None:
    assert named in error_line(run("show", "AAPL.US", symbol))


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "table"])
def test_latest_us_top_10_is_the_highest_short_ratio_on_each_symbols_newest_day(
    fmt: str, run: Run, swept: Any
) -> None:
    result = run("latest", "--market", "US", "--top", "10", "--format", fmt)
    assert result.returncode == 0, result.stderr
    names = ["symbol", "trade_date", *US_TRADES]
    # Independently of the views: the newest day per symbol, from the raw table.
    want = [
        dict(zip(names, row, strict=True))
        for row in swept.rows(
            f"SELECT {', '.join(names)} FROM short_trades AS t "
            "WHERE market = 'US' AND trade_date = "
            "(SELECT MAX(trade_date) FROM short_trades WHERE symbol = t.symbol) "
            "ORDER BY short_ratio IS NULL, short_ratio DESC, symbol LIMIT 10"
        )
    ]
    assert len(want) == 3  # the US symbols with data
    if fmt == "table":
        assert [line.split()[0] for line in result.stdout.splitlines()[2:]] == [
            row["symbol"] for row in want
        ]
        return
    assert parse(fmt, result.stdout) == (as_csv(want) if fmt == "csv" else want)


def test_latest_top_n_cuts_and_by_sorts_on_another_column(run: Run, swept: Any) -> None:
    result = run(
        "latest",
        "--endpoint",
        "short_interest",
        "--by",
        "close_price",
        "--top",
        "4",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    want = swept.rows(
        "SELECT symbol, close_price FROM short_interest AS t WHERE trade_date = "
        "(SELECT MAX(trade_date) FROM short_interest WHERE symbol = t.symbol) "
        "ORDER BY close_price IS NULL, close_price DESC, symbol LIMIT 4"
    )
    assert [(row["symbol"], row["close_price"]) for row in got] == want
    assert "market" in got[0] and "run_id" not in got[0]


def test_latest_default_sort_of_short_interest_is_short_percent(run: Run) -> None:
    got = json.loads(run("latest", "--endpoint", "short_interest", "--format", "json").stdout)
    percents = [row["short_percent"] for row in got]
    assert len(got) == 6 and percents == sorted(percents, reverse=True)


@pytest.mark.parametrize("by", ["nope", "short_ratio; DROP TABLE runs", "short_percent"])
def test_latest_by_a_column_the_view_lacks_names_the_allowed_ones(
    by: str, run: Run, error_line: Callable[..., str], swept: Any
) -> None:
    line = error_line(run("latest", "--by", by))
    assert f"--by {by}: not a column of latest_short_trades" in line
    assert "short_ratio, close, run_id" in line
    assert swept.rows("SELECT COUNT(*) FROM runs") == [(1,)]


def _schema_2(copy: Any) -> Path:
    """A copy of the swept file taken back to schema version 2: its views dropped."""
    with closing(sqlite3.connect(copy.db)) as db:
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'view'").fetchall():
            db.execute(f'DROP VIEW "{name}"')
        db.execute("PRAGMA user_version = 2")
        db.commit()
    return Path(copy.db)


@pytest.mark.parametrize("args", [["show", "AAPL.US"], ["latest"]])
def test_a_schema_2_file_says_to_sweep_it_once(
    args: list[str], harvester: Run, copy_swept: Callable[[], Any], error_line: Callable[..., str]
) -> None:
    db = _schema_2(copy_swept())
    line = error_line(harvester(*args, "--db", str(db)))
    assert f"database {db}: schema version 2 has no views" in line
    assert "run a sweep on it once" in line


def test_a_missing_file_is_one_line(
    harvester: Run, tmp_path: Path, error_line: Callable[..., str]
) -> None:
    missing = tmp_path / "nothing.sqlite"
    assert f"database {missing}: no such file" in error_line(
        harvester("latest", "--db", str(missing))
    )
    assert not missing.exists()


@pytest.mark.parametrize("command", ["show", "latest", "export"])
def test_help_has_an_example(command: str, harvester: Run) -> None:
    result = harvester(command, "-h")
    assert result.returncode == 0 and f"examples:\n  harvester {command} " in result.stdout
