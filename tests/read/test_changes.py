"""``harvester changes`` and ``latest --as-of`` on five simulated business days, night by night.

One simulated gateway publishes on its calendars and restates values (``restate_rate``
0.5); a nightly sweep runs in-process after each of five business days. After the last
night, ``changes`` with no argument must list exactly the rows that night first stored
and the values it replaced, held to SQL of our own on ``first_seen_at`` and the
revisions tables; ``changes --since`` must be what differs between two exports;
``latest --as-of`` the previous night's run id must print what ``latest`` printed then.
The CLI runs as a subprocess throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harvester import catalog
from harvester.cli import main
from harvester.settings.config import load_settings
from harvester.simulate import Gateway, GatewaySettings
from harvester.sweep.run import run_sweep

pytestmark = pytest.mark.timeout(120)

Run = Callable[..., subprocess.CompletedProcess[str]]
Record = tuple[Any, ...]  # (endpoint, change, symbol, trade_date, column, old, new)

START = dt.date(2026, 5, 11)  # a Monday; the real clock drops records after tomorrow
NIGHTS = 5
SYMBOLS = "AAPL.US\nMSFT.US\nNVDA.US\nTSLA.US\nAMD.US\n700.HK\n5.HK\n9988.HK\n1299.HK\n939.HK\n"
# Seed 13 restates a value or more on every night after the first, the last included.
GATEWAY = GatewaySettings(seed=13, schedules=True, today=START, restate_rate=0.5)
DATA_SETS = ("short_trades", "short_interest")  # what a sweep of the quote gateway fills
HARVESTER = [sys.executable, "-m", "harvester"]


@dataclass(frozen=True)
class Walk:
    """The file five nights left, each night's run id, and ``latest`` as night 4 left it."""

    db: Path
    runs: list[str]
    latest_then: str

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a query, read with a connection of its own."""
        with closing(sqlite3.connect(self.db)) as db:
            return db.execute(sql, params).fetchall()

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The CLI on the walk's file, as a subprocess."""
        return subprocess.run(
            [*HARVESTER, *args, "--db", str(self.db)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def call(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The CLI on the walk's file, in this process: what ``run`` gives, in milliseconds."""
        out, err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8"), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([*args, "--db", str(self.db)])
            except SystemExit as exit:
                code = int(exit.code or 0)
            out.flush()
        text = out.buffer.getvalue().decode()  # type: ignore[attr-defined]
        return subprocess.CompletedProcess(args, code, text, err.getvalue())


def _walk(folder: Path) -> Walk:
    (folder / "symbols.txt").write_text(SYMBOLS, encoding="utf-8")
    (folder / "empty.toml").write_text("", encoding="utf-8")
    db = folder / "h.sqlite"
    runs: list[str] = []
    latest: list[str] = []

    async def nights() -> None:
        async with Gateway(GATEWAY) as gateway:
            overrides: dict[str, Any] = {
                "sweep": {"symbols": str(folder / "symbols.txt"), "db": str(db)},
                "gateway": {"base_url": gateway.url, "timeout": 5.0},
            }
            overrides["sweep"] |= {"backoff_base": 0.0, "workers": 8}
            for name in (*DATA_SETS, "short_positions"):
                overrides[f"endpoints.{name}"] = {"rate": 1000.0, "concurrency": 8}
            settings = load_settings(folder / "empty.toml", overrides=overrides, environ={})
            for night in range(NIGHTS):
                if night:
                    gateway.advance()
                summary = await run_sweep(settings)
                assert summary.status == "completed", summary
                runs.append(summary.run_id)
                if night == NIGHTS - 2:  # as a user saw it before the last night
                    latest.append(Walk(db, runs, "").run("latest").stdout)

    asyncio.run(nights())
    return Walk(db, runs, latest[0])


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Walk:
    """Five nights swept; read it, never write it (``copy`` it first)."""
    return _walk(tmp_path_factory.mktemp("walk"))


def _copy(walk: Walk, folder: Path) -> Walk:
    target = folder / "copy.sqlite"
    with closing(sqlite3.connect(walk.db)) as source, closing(sqlite3.connect(target)) as copy:
        source.backup(copy)
    return Walk(target, walk.runs, walk.latest_then)


def _records(result: subprocess.CompletedProcess[str]) -> list[Record]:
    assert result.returncode == 0, result.stderr
    return [
        (r["endpoint"], r["change"], r["symbol"], r["trade_date"], r["column"], r["old"], r["new"])
        for r in json.loads(result.stdout)
    ]


def _filled(endpoint: str, market: str) -> list[str]:
    """The data columns a market fills, as the catalog declares them."""
    (spec,) = (e for e in catalog.ENDPOINTS if e.name == endpoint)
    return [column.name for column in spec.columns if column.fills(market)]


def _new(endpoint: str, row: dict[str, Any]) -> Iterator[Record]:
    for name in _filled(endpoint, row["market"]):
        yield (endpoint, "new", row["symbol"], row["trade_date"], name, None, row[name])


def _revised(endpoint: str, old: dict[str, Any], new: dict[str, Any]) -> Iterator[Record]:
    for name in (
        column.name for e in catalog.ENDPOINTS if e.name == endpoint for column in e.columns
    ):
        if old[name] != new[name]:
            yield (
                endpoint,
                "revised",
                old["symbol"],
                old["trade_date"],
                name,
                old[name],
                new[name],
            )


def _dicts(walk: Walk, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(walk.db)) as db:
        cursor = db.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _a_runs_changes(walk: Walk, run_id: str) -> list[Record]:
    """What run ``run_id`` brought, by SQL of our own: the rows first stored while it ran,
    the values its fetches replaced (``superseded_by``), beside the values it left."""
    started, finished = walk.rows(
        "SELECT started_at, finished_at FROM runs WHERE run_id = ?", (run_id,)
    )[0]
    expected: list[Record] = []
    for endpoint in DATA_SETS:
        left = {  # the values as the run left them
            (r["symbol"], r["trade_date"]): r
            for r in _dicts(
                walk,
                f"SELECT * FROM {endpoint}_versions WHERE valid_from <= ? "
                "AND (valid_to IS NULL OR valid_to > ?)",
                (finished, finished),
            )
        }
        for row in _dicts(
            walk,
            f"SELECT * FROM {endpoint} WHERE first_seen_at BETWEEN ? AND ?",
            (started, finished),
        ):
            expected += _new(endpoint, left[row["symbol"], row["trade_date"]])
        replaced = _dicts(
            walk,
            f"SELECT * FROM {endpoint}_revisions WHERE superseded_by = ? ORDER BY rowid",
            (run_id,),
        )
        firsts = {}
        for old in replaced:
            firsts.setdefault((old["symbol"], old["trade_date"]), old)
        for key, old in firsts.items():
            expected += _revised(endpoint, old, left[key])
    return expected


# changes -----------------------------------------------------------------------------------


def test_changes_lists_what_the_last_night_brought_as_sql_says(walk: Walk) -> None:
    got = _records(walk.run("changes", "--format", "json"))
    expected = _a_runs_changes(walk, walk.runs[-1])
    assert {r[1] for r in expected} == {"new", "revised"}, "the last night must add and revise"
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    # Each data set's new values, then its revised ones, row by row.
    order = [(r[0] != "short_trades", r[1] == "revised", r[2], r[3]) for r in got]
    assert order == sorted(order)
    assert walk.call("changes", "--run", walk.runs[-1], "--format", "json").stdout == (
        walk.call("changes", "--format", "json").stdout
    )


def test_changes_as_a_table_shows_each_revised_value_old_then_new(walk: Walk) -> None:
    result = walk.call("changes")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    started = walk.rows("SELECT started_at FROM runs WHERE run_id = ?", (walk.runs[-1],))[0][0]
    assert lines[0].startswith(f"changes by the latest run, {walk.runs[-1]}: {started} to ")
    revised = [r for r in _a_runs_changes(walk, walk.runs[-1]) if r[1] == "revised"]
    for _, _, symbol, day, column, old, new in revised:
        assert [symbol, day, column, str(old), str(new)] in [line.split() for line in lines]
    titles = [line for line in lines if line.startswith(DATA_SETS)]
    assert any(", HK: " in title and " new row" in title for title in titles), titles
    assert any(" revised row" in title for title in titles), titles


def test_changes_of_an_earlier_run_are_as_it_left_them(walk: Walk) -> None:
    got = _records(walk.call("changes", "--run", walk.runs[-2], "--format", "json"))
    assert sorted(got, key=repr) == sorted(_a_runs_changes(walk, walk.runs[-2]), key=repr)
    assert got


def _export(walk: Walk, endpoint: str, *as_of: str) -> dict[tuple[str, str], dict[str, Any]]:
    result = walk.call("export", endpoint, "--format", "json", *as_of)
    assert result.returncode == 0, result.stderr
    return {(r["symbol"], r["trade_date"]): r for r in json.loads(result.stdout)}


def test_changes_since_a_run_is_what_differs_between_two_exports(walk: Walk) -> None:
    since = walk.runs[-3]
    expected: list[Record] = []
    for endpoint in DATA_SETS:
        then, now = _export(walk, endpoint, "--as-of", since), _export(walk, endpoint)
        for key, row in now.items():
            expected += _revised(endpoint, then[key], row) if key in then else _new(endpoint, row)
    got = _records(walk.call("changes", "--since", since, "--format", "json"))
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    assert {r[1] for r in got} == {"new", "revised"}
    csv = walk.call("changes", "--since", since, "--format", "csv")
    assert csv.stdout.splitlines()[0] == "endpoint,change,symbol,trade_date,column,old,new"
    assert len(csv.stdout.splitlines()) == len(got) + 1


def test_a_row_revised_twice_shows_its_net_change(walk: Walk, tmp_path: Path) -> None:
    """Edited by hand after the last night: the trigger keeps each step, changes the net one."""
    copy = _copy(walk, tmp_path)
    key = ("700.HK", copy.rows("SELECT MAX(trade_date) FROM short_trades")[0][0])
    where = " WHERE symbol = ? AND trade_date = ?"
    ((close, ratio),) = copy.rows("SELECT close, short_ratio FROM short_trades" + where, key)
    with closing(sqlite3.connect(copy.db)) as db:
        with db:
            db.execute("UPDATE short_trades SET close = 1000.25, short_ratio = 0.5" + where, key)
        with db:  # short_ratio back as it was: no net change
            db.execute(
                "UPDATE short_trades SET close = 1001.25, short_ratio = ?" + where, (ratio, *key)
            )
    since = ("--since", walk.runs[-1])
    got = _records(copy.call("changes", "short_trades", *since, "--format", "json"))
    assert got == [("short_trades", "revised", *key, "close", close, 1001.25)]
    steps = copy.rows(
        "SELECT close FROM short_trades_revisions WHERE superseded_by = ? ORDER BY rowid",
        (walk.runs[-1],),
    )
    assert steps[-2:] == [(close,), (1000.25,)]  # the trigger names the last run that wrote it
    assert _records(copy.call("changes", "--format", "json")) == _records(
        walk.call("changes", "--format", "json")
    )


def test_changes_of_one_market_and_data_set(walk: Walk) -> None:
    got = _records(walk.call("changes", "short_trades", "--market", "hk", "--format", "json"))
    expected = [
        r
        for r in _a_runs_changes(walk, walk.runs[-1])
        if r[0] == "short_trades" and r[2].endswith(".HK")
    ]
    assert sorted(got, key=repr) == sorted(expected, key=repr) and got


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ("--run", "20200101T000000Z-abcdef"),
            "--run 20200101T000000Z-abcdef: no run with that id",
        ),
        (("--run", "last"), "argument --run: not a run id: 'last'"),
        (("--since", "soon"), "argument --since: not a time: 'soon'; write 2026-05-19, "),
        (("--run", "RUN", "--as-of", "today"), "--run and --as-of exclude each other"),
        (("--run", "RUN", "--since", "2d"), "argument --since: not allowed with argument --run"),
    ],
)
def test_a_bad_window_is_one_line_and_exit_2(walk: Walk, args: tuple[str, ...], says: str) -> None:
    result = walk.run("changes", *(walk.runs[0] if arg == "RUN" else arg for arg in args))
    assert result.returncode == 2 and result.stdout == "", result
    (line,) = result.stderr.splitlines()
    assert line.startswith("harvester: error: ") and says in line, line


# latest --as-of ----------------------------------------------------------------------------


def test_latest_as_of_the_previous_run_prints_what_latest_printed_then(walk: Walk) -> None:
    now = walk.call("latest")
    assert now.returncode == 0 and now.stdout != walk.latest_then, "the last night moved nothing"
    then = walk.run("latest", "--as-of", walk.runs[-2])
    assert then.returncode == 0, then.stderr
    assert then.stdout == walk.latest_then
    # A run's id is the moment it finished.
    (finished,) = walk.rows("SELECT finished_at FROM runs WHERE run_id = ?", (walk.runs[-2],))[0]
    assert walk.call("latest", "--as-of", finished).stdout == walk.latest_then


def test_latest_as_of_keeps_its_market_top_and_sort(walk: Walk) -> None:
    args = ("latest", "--market", "HK", "--top", "3", "--by", "close", "--format", "json")
    then = json.loads(walk.call(*args, "--as-of", walk.runs[-2]).stdout)
    assert len(then) == 3 and list(then[0]) == [
        "symbol",
        "trade_date",
        *_filled("short_trades", "HK"),
    ]
    assert [row["close"] for row in then] == sorted((row["close"] for row in then), reverse=True)
    now = json.loads(walk.call(*args).stdout)
    assert max(row["trade_date"] for row in then) < max(row["trade_date"] for row in now)


def test_the_as_of_export_of_the_first_run_has_only_its_rows(walk: Walk) -> None:
    first = _export(walk, "short_trades", "--as-of", walk.runs[0])
    started, finished = walk.rows(
        "SELECT started_at, finished_at FROM runs WHERE run_id = ?", (walk.runs[0],)
    )[0]
    assert set(first) == {
        (s, d)
        for s, d in walk.rows(
            "SELECT symbol, trade_date FROM short_trades WHERE first_seen_at <= ?", (finished,)
        )
    }
    assert all(row["valid_from"] >= started and row["run_id"] is None for row in first.values())


def test_changes_help_names_its_window_flags(walk: Walk) -> None:
    text = " ".join(walk.call("changes", "-h").stdout.split())
    for flag in ("--since T", "--run RUN", "--as-of T", "DATA_SET"):
        assert flag in text
    assert "examples: harvester changes # what last night brought" in text
