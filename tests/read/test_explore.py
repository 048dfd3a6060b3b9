"""Datasette over a swept database: the metadata, its canned queries through the JSON API,
the descriptions on its pages, and ``harvester explore``, which serves on 127.0.0.1 only.

The tests that start Datasette are slow tests, a server each (CI's slow job runs them; the
metadata and the health query are checked here without one), skipped only when it is not
installed (the ``explore`` extra; CI installs it with README's test command). Each one ends
the servers it started, by pid, and every wait has a deadline.
"""

from __future__ import annotations

import html
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fixtures_swept import FAILING, INVALID, NO_DATA, UNSUPPORTED, Swept

from harvester.read.datasette_metadata import CANNED, symbol_text
from harvester.store.columns import RELATIONS, describe
from harvester.store.schema import SCHEMA_VERSION

DATA = Path(__file__).resolve().parents[1] / "data"
HARVESTER = [sys.executable, "-m", "harvester"]
NAME = "harvest"  # the swept copy's file stem: Datasette's name for the database
START_TIMEOUT = 30.0  # seconds Datasette may take to answer
QUERIES = {query.name: query for query in CANNED}

# What each canned query must answer, written without the views, on the swept database.
EXPECTED = {
    "top_us_short_ratio": """
        SELECT symbol, trade_date, short_ratio, total_volume FROM short_trades AS t
        WHERE market = 'US'
          AND trade_date = (SELECT MAX(trade_date) FROM short_trades WHERE symbol = t.symbol)
        ORDER BY short_ratio DESC, symbol LIMIT 10""",
    "symbol_last_20_days": """
        SELECT symbol, trade_date, short_ratio, nasdaq_short_volume, nyse_short_volume,
               total_volume, short_turnover, short_balance, total_turnover, close
        FROM short_trades WHERE symbol = '700.HK' ORDER BY trade_date DESC LIMIT 20""",
    "largest_hk_short_positions": """
        SELECT symbol, trade_date, short_amount, short_ratio FROM short_positions AS p
        WHERE market = 'HK'
          AND trade_date = (SELECT MAX(trade_date) FROM short_positions WHERE symbol = p.symbol)
        ORDER BY short_amount DESC, symbol LIMIT 10""",
    "symbol_short_positions": """
        SELECT symbol, trade_date, short_shares, avg_daily_share_volume, days_to_cover,
               short_amount, short_balance, cost, short_ratio, close
        FROM short_positions WHERE symbol = '700.HK' ORDER BY trade_date DESC LIMIT 20""",
    "short_interest_beside_short_ratio": """
        SELECT s.symbol, i.trade_date AS short_interest_date, i.short_shares, i.short_percent,
               i.days_to_cover, t.trade_date AS short_trades_date, t.short_ratio
        FROM (SELECT symbol FROM short_trades UNION SELECT symbol FROM short_interest
              UNION SELECT symbol FROM short_positions) AS s
        LEFT JOIN short_interest AS i ON i.symbol = s.symbol AND i.trade_date =
            (SELECT MAX(trade_date) FROM short_interest WHERE symbol = s.symbol)
        LEFT JOIN short_trades AS t ON t.symbol = s.symbol AND t.trade_date =
            (SELECT MAX(trade_date) FROM short_trades WHERE symbol = s.symbol)
        ORDER BY s.symbol""",
    "latest_run_problems": """
        SELECT symbol, endpoint, status, attempts, error_code, error_message FROM tasks
        WHERE run_id = (SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1)
          AND status != 'ok'
        ORDER BY status, symbol, endpoint""",
    "latest_run_health": """
        SELECT run_id, status, started_at, finished_at,
               (SELECT COUNT(*) FROM tasks WHERE run_id = r.run_id AND status = 'failed')
                   AS failed_tasks,
               (SELECT COUNT(*) FROM tasks WHERE run_id = r.run_id AND status = 'pending')
                   AS pending_tasks
        FROM runs AS r ORDER BY started_at DESC LIMIT 1""",
}


def _dicts(db: Path, sql: str) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(db)) as conn:
        cursor = conn.execute(sql)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return bytes(answer.read())


def _answers(url: str) -> bool:
    try:
        _get(f"{url}-/versions.json")
    except (OSError, urllib.error.URLError):
        return False
    return True


def _stop(process: subprocess.Popen[bytes]) -> int:
    """Terminate a process we started, by its pid; kill it if it has not ended 10 s later."""
    if process.poll() is None:
        process.terminate()
        try:
            return process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(timeout=10)


@dataclass(frozen=True)
class Server:
    """A Datasette we started (directly or through ``harvester explore``), answering."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def json(self, path: str) -> Any:
        """GET ``path`` under the server and parse it as JSON."""
        return json.loads(_get(self.url + path))

    def text(self, path: str) -> str:
        """GET ``path`` under the server, HTML entities resolved."""
        return html.unescape(_get(self.url + path).decode())


@pytest.fixture
def start_server(
    tmp_path: Path,
    clean_env: Callable[..., dict[str, str]],
    wait_until: Callable[[Callable[[], object], float, str], None],
) -> Iterator[Callable[[list[str], int], Server]]:
    """``start_server(command, port)``: started, and returned once it answers on ``port``."""
    started: list[subprocess.Popen[bytes]] = []

    def start(command: list[str], port: int) -> Server:
        log = tmp_path / f"server-{len(started)}.log"
        with log.open("wb") as out:  # a file, not a pipe: its request log never blocks it
            # TMPDIR: what explore leaves when killed outright stays in this test's folder.
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=clean_env(TMPDIR=str(tmp_path))
            )
        started.append(process)
        url = f"http://127.0.0.1:{port}/"

        def up() -> bool:
            assert process.poll() is None, f"exited {process.returncode}: {log.read_text()}"
            return _answers(url)

        wait_until(up, START_TIMEOUT, f"{' '.join(command[:4])} answering on {url}")
        return Server(url, process, log)

    yield start
    for process in started:
        _stop(process)


@pytest.fixture
def datasette(
    copy_swept: Callable[[], Swept],
    add_positions: Callable[[Path], None],
    harvester: Callable[..., subprocess.CompletedProcess[str]],
    free_port: Callable[[], int],
    start_server: Callable[[list[str], int], Server],
    tmp_path: Path,
) -> tuple[Server, Swept, Path]:
    """Datasette serving a private copy of the swept database, short positions added, with
    our metadata."""
    pytest.importorskip("datasette")
    swept = copy_swept()
    add_positions(swept.db)
    meta = tmp_path / "metadata.json"
    result = harvester(
        "datasette-metadata", "--config", str(swept.config), "--db", str(swept.db), "-o", str(meta)
    )
    assert result.returncode == 0, result.stderr
    port = free_port()
    server = start_server(
        [
            sys.executable,
            "-m",
            "datasette",
            "serve",
            str(swept.db),
            "--metadata",
            str(meta),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        port,
    )
    return server, swept, meta


# Through Datasette -----------------------------------------------------------------------


@pytest.mark.slow
def test_each_canned_query_answers_through_the_json_api(
    datasette: tuple[Server, Swept, Path],
) -> None:
    server, swept, _ = datasette
    assert set(QUERIES) == set(EXPECTED)
    for name, sql in EXPECTED.items():
        rows = server.json(f"{NAME}/{name}.json?_shape=array&symbol=700.HK")
        expected = _dicts(swept.db, sql)
        assert expected, name  # each question has an answer on the swept database
        if name == "latest_run_health":
            (row,) = rows
            assert row.pop("hours_since_finished") >= 0
            assert row.pop("healthy") == "no"  # FAILS.US failed
        assert rows == expected, name
    problems = server.json(f"{NAME}/latest_run_problems.json?_shape=array")
    assert {row["symbol"] for row in problems} == {NO_DATA, UNSUPPORTED, INVALID, FAILING}
    assert all(row["error_code"] for row in problems if row["status"] == "failed")
    # Through the plugin's harvester_symbol, the styles the command line takes.
    for name in ("symbol_last_20_days", "symbol_short_positions"):
        canonical = server.json(f"{NAME}/{name}.json?_shape=array&symbol=700.HK")
        for style in ("00700.HK", "HK.00700", "hk.700"):
            assert server.json(f"{NAME}/{name}.json?_shape=array&symbol={style}") == canonical


@pytest.mark.slow
def test_descriptions_appear_on_the_table_and_view_pages(
    datasette: tuple[Server, Swept, Path],
) -> None:
    server, _, meta = datasette
    assert server.json("-/metadata.json") == json.loads(meta.read_text())
    page = server.text(f"{NAME}/short_trades")
    ratio = describe("short_trades", "short_ratio")
    assert "fraction, 0 to 1" in ratio
    assert f"<dt>short_ratio</dt><dd>{ratio}</dd>" in page
    assert "Daily short selling" in page  # the table's description
    view = server.text(f"{NAME}/snapshot")
    assert describe("snapshot", "short_interest_date") in view
    positions = server.text(f"{NAME}/short_positions")
    assert f"<dt>cost</dt><dd>{describe('short_positions', 'cost')}</dd>" in positions
    canned = server.text(f"{NAME}/symbol_last_20_days")
    assert "any style the command line takes" in canned


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on ``port`` (Linux's /proc/net tables)."""
    found = set()
    for table in ("tcp", "tcp6"):
        path = Path("/proc/net") / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.add(address)
    return found


@pytest.mark.slow
def test_explore_serves_on_loopback_only_and_stops_with_its_datasette(
    copy_swept: Callable[[], Swept],
    free_port: Callable[[], int],
    start_server: Callable[[list[str], int], Server],
    wait_until: Callable[[Callable[[], object], float, str], None],
) -> None:
    pytest.importorskip("datasette")
    swept, port = copy_swept(), free_port()
    server = start_server(
        [
            *HARVESTER,
            "explore",
            "--config",
            str(swept.config),
            "--db",
            str(swept.db),
            "--port",
            str(port),
        ],
        port,
    )
    rows = server.json(f"{NAME}/latest_run_problems.json?_shape=array")
    assert {row["symbol"] for row in rows} == {NO_DATA, UNSUPPORTED, INVALID, FAILING}
    assert "fraction, 0 to 1" in server.text(f"{NAME}/short_trades")
    if Path("/proc/net/tcp").exists():
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and nothing else
    # SIGTERM to harvester reaches its Datasette, which stops: nothing is left serving.
    assert _stop(server.process) == 0, server.log.read_text()
    wait_until(lambda: not _answers(server.url), 10, "Datasette gone after harvester ended")
    assert f"serving {swept.db} with Datasette on {server.url}" in server.log.read_text()


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie waiting to be reaped does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
def test_datasette_ends_when_explore_is_killed_outright(
    copy_swept: Callable[[], Swept],
    free_port: Callable[[], int],
    start_server: Callable[[list[str], int], Server],
    wait_until: Callable[[Callable[[], object], float, str], None],
) -> None:
    pytest.importorskip("datasette")
    swept, port = copy_swept(), free_port()
    server = start_server([*HARVESTER, "explore", "--db", str(swept.db), "--port", str(port)], port)
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if not children.exists():
        pytest.skip("this kernel does not list a process's children")
    (datasette,) = map(int, children.read_text().split())
    server.process.kill()
    server.process.wait(timeout=10)
    try:
        wait_until(lambda: not _alive(datasette), 10, "Datasette ending after kill -9 of explore")
    finally:
        if _alive(datasette):  # started by our explore: ended by its pid, whatever happened
            os.kill(datasette, signal.SIGKILL)
    assert not _answers(server.url)


# Without a server ------------------------------------------------------------------------


def test_explore_without_datasette_says_how_to_install(
    swept: Swept,
    clean_env: Callable[..., dict[str, str]],
    error_line: Callable[[subprocess.CompletedProcess[str]], str],
) -> None:
    # As if it were not installed: an import of datasette fails in this interpreter.
    code = (
        "import sys; sys.modules['datasette'] = None; from harvester.cli import main; "
        f"sys.exit(main(['explore', '--db', {str(swept.db)!r}]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
        env=clean_env(),
    )
    assert "pip install 'harvester[explore]'" in error_line(result)
    assert result.stdout == ""


def test_metadata_describes_every_table_view_and_column(
    swept: Swept,
    harvester: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = harvester("datasette-metadata", "--config", str(swept.config), "--db", str(swept.db))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["title"]
    (name,) = data["databases"]
    assert name == swept.db.stem
    tables = data["databases"][name]["tables"]
    assert set(tables) == set(RELATIONS)
    for relation in RELATIONS.values():
        assert tables[relation.name]["description"]
        assert tables[relation.name]["columns"] == {
            column.name: describe(relation.name, column.name) for column in relation.columns
        }
    queries = data["databases"][name]["queries"]
    assert list(queries) == list(QUERIES)
    assert "harvester_symbol(:symbol)" in queries["symbol_last_20_days"]["sql"]
    assert "00700.HK, HK.00700" in queries["symbol_last_20_days"]["description"]
    # The first sentence shown, the rest folded: the rows stay on the first screen.
    folded = tables["short_trades"]["description_html"]
    assert folded.startswith("<p>Daily short selling: one row per symbol and trading day")
    assert "<details><summary>More about short_trades</summary><p>US rows hold" in folded
    assert tables["runs"]["description_html"] == f"<p>{RELATIONS['runs'].description}</p>"
    # The index links every table, view and canned query (Datasette's own list stops at 5
    # tables, and no view), and the chart.
    index = data["description_html"]
    for target in (*RELATIONS, *QUERIES, "-/chart"):
        assert f'<a href="{name}/{target}">' in index, target
    assert data["databases"][name]["plugins"] == {"harvester": {"schema_version": SCHEMA_VERSION}}


def _health(db: Path) -> dict[str, Any]:
    (row,) = _dicts(db, QUERIES["latest_run_health"].sql)
    return row


def test_the_health_query_says_yes_only_for_a_completed_run_without_failures(
    copy_swept: Callable[[], Swept],
) -> None:
    swept = copy_swept()
    assert (_health(swept.db)["healthy"], _health(swept.db)["failed_tasks"]) == ("no", 2)
    with closing(sqlite3.connect(swept.db)) as db, db:
        db.execute("UPDATE tasks SET status = 'ok', error_code = NULL WHERE status = 'failed'")
    health = _health(swept.db)
    assert (health["status"], health["healthy"], health["failed_tasks"]) == ("completed", "yes", 0)
    assert 0 <= health["hours_since_finished"] < 1
    with closing(sqlite3.connect(swept.db)) as db, db:
        db.execute("UPDATE runs SET status = 'running', finished_at = NULL")
    assert _health(swept.db)["healthy"] == "no"


def test_an_old_schema_file_is_refused_in_one_line_and_left_alone(
    tmp_path: Path,
    harvester: Callable[..., subprocess.CompletedProcess[str]],
    error_line: Callable[[subprocess.CompletedProcess[str]], str],
) -> None:
    old = tmp_path / "old.sqlite"
    with closing(sqlite3.connect(old)) as db:
        db.executescript((DATA / "schema_v1.sql").read_text(encoding="utf-8"))
    line = error_line(harvester("datasette-metadata", "--db", str(old)))
    assert "schema version 1" in line
    assert f"harvester sweep --db {old}" in line
    with closing(sqlite3.connect(old)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    missing = error_line(harvester("datasette-metadata", "--db", str(tmp_path / "none.sqlite")))
    assert "no such file" in missing


def test_metadata_to_a_folder_that_does_not_exist_is_one_line(
    swept: Swept,
    tmp_path: Path,
    harvester: Callable[..., subprocess.CompletedProcess[str]],
    error_line: Callable[[subprocess.CompletedProcess[str]], str],
) -> None:
    target = tmp_path / "no" / "metadata.json"
    line = error_line(harvester("datasette-metadata", "--db", str(swept.db), "-o", str(target)))
    assert str(target) in line


@pytest.mark.parametrize("command", ["datasette-metadata", "explore"])
def test_help_shows_an_example(
    command: str,
    harvester: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = harvester(command, "-h")
    assert result.returncode == 0
    assert f"examples:\n  harvester {command}" in result.stdout


def test_explore_on_a_port_in_use_is_one_line(
    swept: Swept,
    harvester: Callable[..., subprocess.CompletedProcess[str]],
    error_line: Callable[[subprocess.CompletedProcess[str]], str],
) -> None:
    pytest.importorskip("datasette")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = error_line(harvester("explore", "--db", str(swept.db), "--port", str(port)))
    assert f"--port {port}" in line


def test_the_database_page_names_every_canned_query() -> None:
    page = Path(__file__).resolve().parents[2] / "docs" / "database.md"
    text = page.read_text(encoding="utf-8")
    for name in QUERIES:
        assert f"| `{name}` |" in text, name


# The plugin, without a server ------------------------------------------------------------


@pytest.fixture
def plugin() -> Any:
    """The harvester's Datasette plugin module (skipped without Datasette)."""
    pytest.importorskip("datasette")
    from harvester.read import datasette_plugin

    return datasette_plugin


def test_symbol_text_is_the_parsers_canonical_form() -> None:
    assert [symbol_text(t) for t in ("00700.HK", "HK.00700", " hk.700 ", "US.BRK.B")] == [
        "700.HK",
        "700.HK",
        "700.HK",
        "BRK.B.US",
    ]
    assert symbol_text("not a symbol") == "not a symbol"  # matches nothing, as before
    assert symbol_text(None) is None


def test_the_canned_symbol_queries_take_any_style(swept: Swept, plugin: Any) -> None:
    with closing(sqlite3.connect(swept.db)) as db:
        plugin.prepare_connection(db)
        for name in ("symbol_last_20_days", "symbol_short_positions"):
            sql = QUERIES[name].sql
            canonical = db.execute(sql, {"symbol": "700.HK"}).fetchall()
            for style in ("00700.HK", "HK.00700", "hk.700"):
                assert db.execute(sql, {"symbol": style}).fetchall() == canonical, name
        rows = db.execute(QUERIES["symbol_last_20_days"].sql, {"symbol": "HK.00700"}).fetchall()
    assert len(rows) == 20


def test_amounts_have_separators_and_no_trailing_zero(plugin: Any) -> None:
    amount = plugin.amount
    assert [amount(v) for v in (738996000.0, 1282791, 0.2115, 1234.5, 0.0, -3.0)] == [
        "738,996,000",
        "1,282,791",
        "0.2115",
        "1,234.5",
        "0",
        "-3",
    ]
    assert [amount(v) for v in ("700.HK", None, True, float("nan"))] == [None] * 4


def test_units_come_from_the_columns_declarations(plugin: Any) -> None:
    trades = plugin.units("short_trades", None)
    assert trades["short_turnover"] == "HKD" and trades["total_volume"] == "shares"
    assert trades["short_ratio"] == "fraction, 0-1" and trades["close"] == "price"
    assert "symbol" not in trades and "trade_date" not in trades  # text: no unit shown
    assert plugin.units("short_positions", None)["short_ratio"] == "unit not documented"
    # A query's columns: by its source when known, else only names all relations agree on.
    assert plugin.units(None, ["short_ratio", "short_turnover"]) == {"short_turnover": "HKD"}
    assert plugin.SOURCES["symbol_last_20_days"] == "short_trades"
    for relation in RELATIONS.values():  # every numeric column has a unit to show
        labels = plugin.units(relation.name, None)
        for column in relation.columns:
            assert (column.name in labels) == (column.type in ("INTEGER", "REAL")), column


@pytest.mark.slow
def test_the_chart_page_and_its_svg(datasette: tuple[Server, Swept, Path]) -> None:
    server, _, _ = datasette
    page = server.text(f"{NAME}/-/chart?symbol=00700.HK&symbol=US.AAPL")
    assert "<h1>Chart: 700.HK, AAPL.US</h1>" in page
    assert page.count('class="series"') == 6  # ratio x2, volume, turnover, interest x2
    svg = _get(server.url + f"{NAME}/-/chart.svg?symbols=00700.HK+US.AAPL").decode()
    assert svg.startswith("<svg xmlns=") and svg.count('class="series"') == 6
    for query, words in (("symbol=AAPL", "did you mean AAPL.US?"), ("symbol=NODATA.US", "No rows")):
        with pytest.raises(urllib.error.HTTPError) as refused:
            _get(server.url + f"{NAME}/-/chart?{query}")
        with refused.value as answer:
            assert answer.code == 400
            assert words in html.unescape(answer.read().decode())
    listed = server.text(f"{NAME}/-/chart")  # no symbol yet: the form and every stored one
    for symbol in ("700.HK", "AAPL.US", "9988.HK"):
        assert f">{symbol}</a>" in listed


@pytest.mark.slow
def test_the_plugin_leaves_other_databases_alone(
    datasette: tuple[Server, Swept, Path],
    tmp_path: Path,
    free_port: Callable[[], int],
    start_server: Callable[[list[str], int], Server],
) -> None:
    server, swept, _ = datasette
    ours = server.text(f"{NAME}/short_trades?symbol=700.HK")
    assert "harvester-unit" in ours and "harvester-chart-link" in ours
    # The same file served without our metadata, as any other file would be.
    other = tmp_path / "other.sqlite"
    with closing(sqlite3.connect(swept.db)) as source, closing(sqlite3.connect(other)) as copy:
        source.backup(copy)
    port = free_port()
    plain = start_server(
        [
            sys.executable,
            "-m",
            "datasette",
            "serve",
            str(other),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        port,
    )
    page = plain.text("other/short_trades?symbol=700.HK")
    assert "harvester-unit" not in page and "harvester-chart-link" not in page
    assert "1282791000.0" in page  # Datasette's own rendering
    with pytest.raises(urllib.error.HTTPError) as missing:
        _get(plain.url + "other/-/chart?symbol=700.HK")
    with missing.value as answer:
        assert answer.code == 404
