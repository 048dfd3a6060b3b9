"""``harvester export``: any table or view streamed as CSV, JSON or JSON lines, as a subprocess.

Compared with the rows of the swept database; ``-o`` writes whole files or none; a closed
pipe ends quietly; a million rows go out in constant memory.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from harvester.read.output import atomic_file, table_text
from harvester.store.schema import MIGRATIONS, SCHEMA_VERSION

Run = Callable[..., subprocess.CompletedProcess[str]]
HARVESTER = [sys.executable, "-m", "harvester"]
SYMBOLS = 1000  # symbols in a built table; each has rows // SYMBOLS days


def table_rows(swept: Any, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows of a query on the swept file, as dicts keyed by column name."""
    with closing(sqlite3.connect(swept.db)) as db:
        cursor = db.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def as_csv(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """What the csv module reads back for these values: NULL is an empty field."""
    return [{k: "" if v is None else str(v) for k, v in row.items()} for row in rows]


def build_trades(path: Path, rows: int) -> Path:
    """A database at the current schema with ``rows`` short_trades rows, from one executemany."""
    days = [(date(2020, 1, 1) + timedelta(days=i)).isoformat() for i in range(rows // SYMBOLS)]

    def generate() -> Iterator[tuple[Any, ...]]:
        for i in range(rows):
            yield (
                f"S{i % SYMBOLS}.US",
                "US",
                days[i // SYMBOLS],
                1000 + i,
                2000 + i,
                9000 + i,
                0.25 + (i % 97) / 1000,
                100.5 + i % 13,
                "run-1",
                "2026-01-01T00:00:00.000Z",
            )

    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute("BEGIN")
        for migration in MIGRATIONS:
            for statement in migration:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.executemany(
            "INSERT INTO short_trades (symbol, market, trade_date, nasdaq_short_volume, "
            "nyse_short_volume, total_volume, short_ratio, close, run_id, fetched_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            generate(),
        )
        db.execute("COMMIT")
    return path


@pytest.fixture
def run(harvester: Run, swept: Any) -> Run:
    """The CLI on the swept database."""
    return lambda *args, **kw: harvester(
        *args, "--config", str(swept.config), "--db", str(swept.db), **kw
    )


@pytest.fixture(scope="module")
def medium_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """50,000 rows: an export far larger than a pipe's buffer (4.4 MB as CSV: 68 times
    Linux's 64 KiB, 4 times the most a pipe can be given)."""
    return build_trades(tmp_path_factory.mktemp("medium") / "h.sqlite", 50_000)


#: What a data table's export has after its own data, plain or --as-of (docs/reading.md).
TAIL = ("first_seen_at", "valid_from", "valid_to", "run_id", "fetched_at")


def exported(swept: Any, table: str, where: str = "", params: tuple[Any, ...] = ()) -> str:
    """SQL for the rows ``export TABLE`` prints: the table's columns but its provenance, then
    ``TAIL``, the current values' valid_from and valid_to read from the versions view."""
    own = [row[1] for row in swept.rows(f"SELECT * FROM pragma_table_info('{table}')")]
    head = ", ".join(f"t.{name}" for name in own if name not in TAIL)
    return (
        f"SELECT {head}, t.first_seen_at, v.valid_from, v.valid_to, t.run_id, t.fetched_at "
        f"FROM {table} AS t JOIN {table}_versions AS v ON v.symbol = t.symbol "
        f"AND v.trade_date = t.trade_date AND v.valid_to IS NULL {where} "
        "ORDER BY t.symbol, t.trade_date"
    )


def by_key(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: (row["symbol"], row["trade_date"]))


def test_export_of_a_table_as_csv_is_every_row(run: Run, swept: Any) -> None:
    result = run("export", "short_trades")
    assert result.returncode == 0, result.stderr
    want = table_rows(swept, exported(swept, "short_trades"))
    assert len(want) > 100
    assert by_key(list(csv.DictReader(io.StringIO(result.stdout)))) == as_csv(want)
    assert result.stdout.splitlines()[0] == ",".join(want[0])
    assert list(want[0])[-5:] == list(TAIL) and list(want[0])[:3] == [
        "symbol",
        "market",
        "trade_date",
    ]


@pytest.mark.parametrize("table", ["short_trades", "short_interest", "short_positions"])
def test_plain_and_as_of_exports_have_the_same_columns(table: str, run: Run) -> None:
    now = run("export", table)
    # The end of today, after the sweep: every value is known and still current.
    known = run("export", table, "--as-of", "today")
    assert now.returncode == known.returncode == 0, (now.stderr, known.stderr)
    header = now.stdout.splitlines()[0]
    assert known.stdout.splitlines()[0] == header and header.endswith(",".join(TAIL))
    plain = list(csv.DictReader(io.StringIO(now.stdout)))
    as_of = list(csv.DictReader(io.StringIO(known.stdout)))
    # The same values; as of a moment, the last fetch (maybe later) is left out.
    assert by_key(as_of) == by_key([row | {"run_id": "", "fetched_at": ""} for row in plain])
    assert all(row["run_id"] for row in plain)


@pytest.mark.parametrize(
    "name",
    [
        "snapshot",
        # The other views are read in process by tests/store/test_views.py: slow here.
        pytest.param("latest_short_interest", marks=pytest.mark.slow),
        pytest.param("hk_short_trades", marks=pytest.mark.slow),
        pytest.param("run_problems", marks=pytest.mark.slow),
    ],
)
def test_export_of_a_view_as_json_and_jsonl(name: str, run: Run, swept: Any) -> None:
    want = table_rows(swept, f"SELECT * FROM {name}")
    assert want
    as_json = run("export", name, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == want
    lines = run("export", name.upper(), "--format", "jsonl")
    assert [json.loads(line) for line in lines.stdout.splitlines()] == want


def test_market_and_since_filter_where_the_columns_exist(run: Run, swept: Any) -> None:
    [(day,)] = swept.rows("SELECT MAX(trade_date) FROM short_interest WHERE market = 'HK'")
    result = run(
        "export", "short_interest", "--market", "hk", "--since", str(day), "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    want = table_rows(
        swept,
        exported(swept, "short_interest", "WHERE t.market = 'HK' AND t.trade_date >= ?"),
        (day,),
    )
    assert by_key(json.loads(result.stdout)) == want and len(want) == 3


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["runs", "--market", "US"], "--market: runs has no market column"),
        (["us_short_trades", "--market", "US"], "--market: us_short_trades has no market column"),
        (["snapshot", "--since", "2026-01-01"], "--since: snapshot has no trade_date column"),
        (["short_trades", "--since", "2026-13-01"], "not a date: '2026-13-01'"),
        (["short_trades", "--format", "xml"], "invalid choice: 'xml'"),
    ],
)
def test_a_filter_without_its_column_is_one_line(
    args: list[str], said: str, run: Run, error_line: Callable[..., str]
) -> None:
    assert said in error_line(run("export", *args))


def _column(lines: list[str], name: str) -> list[str]:
    """One column's cells of a table, a cell wrapped over several lines joined again."""
    header, rule, *body = lines
    spans = [match.span() for match in re.finditer(r"-+", rule)]
    start, end = spans[header.split().index(name)]
    cells: list[str] = []
    for line in body:
        piece = line[start:end].strip()
        if line[: spans[0][1]].strip():  # a row's first line
            cells.append(piece)
        elif piece:
            cells[-1] += " " + piece
    return cells


@pytest.mark.parametrize("width", [150, 100])
def test_export_as_a_table_wraps_long_messages_and_keeps_every_word(
    width: int, harvester: Run, swept: Any
) -> None:
    result = harvester(
        "export",
        "run_problems",
        "--format",
        "table",
        "--db",
        str(swept.db),
        env={"COLUMNS": str(width)},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    want = table_rows(swept, "SELECT * FROM run_problems")
    assert len(want) >= 4 and len(lines) > len(want) + 2  # some message took two lines
    assert _column(lines, "error_message") == [row["error_message"] or "-" for row in want]
    assert _column(lines, "updated_at") == [row["updated_at"] for row in want]  # never wrapped
    # Within the width while the messages can narrow; never a message narrower than 31.
    assert max(map(len, lines)) <= max(width, len(lines[0]) - len("error_message") + 31)


def test_a_table_wraps_only_long_text_and_only_when_asked() -> None:
    columns = ["key", "message", "count"]
    rows = [("a" * 8, "word " * 19 + "end", 1234567), ("b", None, None)]
    whole = table_text(columns, rows).splitlines()
    assert len(whole) == 4 and whole[2].endswith("word end  1234567")
    fitted = table_text(columns, rows, width=60).splitlines()
    assert max(map(len, fitted)) <= 60 and len(fitted) > 4
    assert _column(fitted, "message") == [rows[0][1], "-"]
    assert fitted[2].startswith("aaaaaaaa  word") and fitted[2].endswith("1234567")
    # Nothing wide enough to wrap: the table keeps its width, however narrow the terminal.
    narrow = table_text(["run_id"], [("20261206T214224Z-7bea59",)], width=10)
    assert narrow.splitlines()[2] == "20261206T214224Z-7bea59"


def test_an_unknown_name_lists_the_tables_and_views(
    run: Run, swept: Any, error_line: Callable[..., str]
) -> None:
    line = error_line(run("export", "shorts; DROP TABLE runs"))
    assert "no table or view named 'shorts; DROP TABLE runs'" in line
    for name in ("runs", "short_trades", "tasks", "snapshot", "us_short_interest"):
        assert f" {name}," in line or line.endswith(f" {name}")
    assert swept.rows("SELECT COUNT(*) FROM runs") == [(1,)]


def test_a_schema_2_file_exports_its_tables_and_says_why_views_are_missing(
    harvester: Run, copy_swept: Callable[[], Any], error_line: Callable[..., str]
) -> None:
    copy = copy_swept()
    with closing(sqlite3.connect(copy.db)) as db:
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'view'").fetchall():
            db.execute(f'DROP VIEW "{name}"')
        db.execute("PRAGMA user_version = 2")
        db.commit()
    table = harvester("export", "short_trades", "--db", str(copy.db))
    assert table.returncode == 0 and table.stdout.startswith("symbol,market,trade_date,")
    line = error_line(harvester("export", "snapshot", "--db", str(copy.db)))
    assert "schema version 2 predates the views: run a sweep on it once" in line


def test_output_file_holds_the_export_and_nothing_is_left_beside_it(
    run: Run, tmp_path: Path
) -> None:
    target = tmp_path / "out" / "trades.jsonl"
    target.parent.mkdir()
    target.write_text("old\n")
    result = run("export", "short_trades", "--format", "jsonl", "-o", str(target))
    assert result.returncode == 0 and result.stdout == "", result.stderr
    assert target.read_text() == run("export", "short_trades", "--format", "jsonl").stdout
    assert [path.name for path in target.parent.iterdir()] == ["trades.jsonl"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_output_into_a_missing_folder_is_one_line(
    run: Run, tmp_path: Path, error_line: Callable[..., str]
) -> None:
    target = tmp_path / "nowhere" / "x.csv"
    assert f"output {target}: cannot write it" in error_line(
        run("export", "runs", "-o", str(target))
    )


def test_output_over_the_database_itself_is_refused(
    harvester: Run, copy_swept: Callable[[], Any], error_line: Callable[..., str]
) -> None:
    copy = copy_swept()
    link = copy.db.parent / "link.sqlite"
    link.symlink_to(copy.db)
    before = copy.db.read_bytes()
    for target in (copy.db, link):
        line = error_line(harvester("export", "runs", "--db", str(copy.db), "-o", str(target)))
        assert "that is the database itself" in line
    assert copy.db.read_bytes() == before


def test_a_users_own_table_with_a_blob_exports(
    harvester: Run, copy_swept: Callable[[], Any]
) -> None:
    copy = copy_swept()
    with closing(sqlite3.connect(copy.db)) as db:
        db.execute("CREATE TABLE notes (id INTEGER, body BLOB)")
        db.execute("INSERT INTO notes VALUES (1, x'00ff'), (2, NULL)")
        db.commit()
    result = harvester("export", "notes", "--db", str(copy.db), "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    assert result.stdout == '{"id":1,"body":"00ff"}\n{"id":2,"body":null}\n'


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "x.csv"
    target.write_bytes(b"before\n")
    with pytest.raises(RuntimeError), atomic_file(target) as out:
        out.write(b"half a file")
        raise RuntimeError("the database went away mid-export")
    assert target.read_bytes() == b"before\n"
    assert [path.name for path in tmp_path.iterdir()] == ["x.csv"]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_closed_pipe_ends_quietly(fmt: str, medium_db: Path, clean_env: Any) -> None:
    process = subprocess.Popen(
        [*HARVESTER, "export", "short_trades", "--format", fmt, "--db", str(medium_db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline()  # it has started writing; the rest fills the pipe
        process.stdout.close()  # as `head` does
        assert process.wait(timeout=30) == 141
        assert process.stderr.read() == b""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


def _peak_rss(args: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, int]:
    """Run a child to its end; its exit code and peak resident memory in KiB (os.wait4)."""
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, usage.ru_maxrss
        if time.monotonic() > deadline:
            process.kill()
            process.wait(timeout=10)
            raise AssertionError(f"{args}: not done within {timeout:g}s")
        time.sleep(0.05)


FETCHALL = (
    "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); "
    "rows = db.execute('SELECT * FROM short_trades').fetchall()"
)
# Above what the same command costs with no rows to write; a fetchall of the rows takes far
# more. Measured against a child that writes nothing: a forked child's peak counts its
# parent's pages from before its exec, so a large pytest process raises every child's peak
# alike (282 MB in one full-suite run, 43 MB alone).
BOUND_KIB = 100 * 1024


@pytest.mark.slow
def test_a_million_rows_export_in_constant_memory(tmp_path: Path, clean_env: Any) -> None:
    db = build_trades(tmp_path / "big.sqlite", 1_000_000)
    target = tmp_path / "big.csv"
    _, idle = _peak_rss([*HARVESTER, "export", "-h"], clean_env())
    code, peak = _peak_rss(
        [*HARVESTER, "export", "short_trades", "--db", str(db), "-o", str(target)], clean_env()
    )
    assert code == 0
    with target.open("rb") as handle:
        assert sum(1 for _ in handle) == 1_000_001
    # The bound means something: holding the rows at once, as fetchall does, breaks it.
    _, whole = _peak_rss([sys.executable, "-c", FETCHALL, str(db)], clean_env())
    assert peak - idle < BOUND_KIB < whole - idle, (idle, peak, whole)
