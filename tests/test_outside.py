"""From outside: the CLI as a subprocess, real SQLite files, upstreams on loopback.

Each test plays a user (or cron, or GNU timeout) meeting one promise: bad settings
refused before any request, a wrong address stopping the sweep, the token never
stored, a value that does not parse never erasing a good one, signals from timeout
and a closed terminal, and ``status`` on a copy its user cannot write.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from harvester.simulate import Gateway, GatewaySettings

NOBODY = 65534
TOKEN = "s3cr3t-token-value"

Run = Callable[..., subprocess.CompletedProcess[str]]
RunAsync = Callable[..., Awaitable[subprocess.CompletedProcess[str]]]
Query = Callable[..., list[tuple[Any, ...]]]
Write = Callable[[Path, str], Path]
Env = Callable[..., dict[str, str]]


# Helpers ----------------------------------------------------------------------------------


@pytest.fixture
def run(tmp_path: Path, harvester: Run) -> Run:
    """``run(*args, env=None, timeout=60)``: the CLI run to its end in tmp_path."""
    return functools.partial(harvester, cwd=tmp_path)


@pytest.fixture
def run_async(tmp_path: Path, clean_env: Env) -> RunAsync:
    """As ``run``, without blocking the loop, so an upstream in this test serves it."""

    async def run(*args: str, env: dict[str, str] | None = None,
                  timeout: float = 60) -> subprocess.CompletedProcess[str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "harvester", *args, cwd=tmp_path, env=clean_env(**(env or {})),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()  # ours, by its pid
            out, err = await process.communicate()
            raise AssertionError(f"harvester {args} still running after {timeout}s: "
                                 f"{err.decode()}") from None
        assert process.returncode is not None
        return subprocess.CompletedProcess(list(args), process.returncode, out.decode(),
                                           err.decode())

    return run


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The ``harvester: error:`` lines on stderr; never a traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("harvester: error:")]


def only_line(result: subprocess.CompletedProcess[str]) -> str:
    """Exit 2 and exactly one line on stderr, the error; returns it."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert error_lines(result) == lines
    return lines[0]


@dataclass
class Upstream:
    """A loopback HTTP server run by the test: what it received, where it listens."""

    url: str = ""
    paths: list[str] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)

    def count(self, needle: str) -> int:
        return sum(needle in path for path in self.paths)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Upstreams = Callable[[Handler], contextlib.AbstractAsyncContextManager[Upstream]]


@pytest.fixture
def upstream(
    serve_app: Callable[[web.Application], contextlib.AbstractAsyncContextManager[str]],
) -> Callable[[Handler], contextlib.AbstractAsyncContextManager[Upstream]]:
    """``async with upstream(answer) as seen:`` every GET answered by ``answer``, noted."""

    @contextlib.asynccontextmanager
    async def serve(answer: Handler) -> AsyncIterator[Upstream]:
        seen = Upstream()

        async def handle(request: web.Request) -> web.StreamResponse:
            seen.paths.append(request.path_qs)
            seen.authorizations.append(request.headers.get("Authorization"))
            return await answer(request)

        app = web.Application()
        app.router.add_get("/{tail:.*}", handle)
        async with serve_app(app) as url:
            seen.url = url
            yield seen

    return serve


def symbol_of(request: web.Request) -> str:
    """The symbol segment of ``/v1/quote/{symbol}/short-selling/...``."""
    parts = request.path.split("/")
    return parts[3] if len(parts) > 3 else ""


def is_trades(request: web.Request) -> bool:
    return request.path.endswith("/short-trades")


NO_DATA = {"ret_code": -10, "ret_msg": "no data", "error": {"code": "no_data"}}


@pytest.fixture(scope="module")
def slow_gateway(
    free_port: Callable[[], int], gateway_process: Callable[..., Any]
) -> Iterator[int]:
    """A simulated gateway process answering every request after 0.3 s; yields its port."""
    with gateway_process(free_port(), "--latency", "0.3") as gateway:
        yield gateway.port


# 1. Bad settings are refused at start-up ------------------------------------------------

CREDENTIALS = '[gateway]\nbase_url = "http://user:pw@127.0.0.1:1"\n'


@pytest.mark.parametrize(
    ("text", "env", "needle"),
    [
        pytest.param(CREDENTIALS, {}, "[gateway] base_url", id="url-with-credentials"),
        pytest.param(CREDENTIALS, {"HARVESTER_TOKEN": TOKEN}, "[gateway] base_url",
                     id="url-with-credentials-and-a-token"),
        pytest.param('[gateway]\nbase_url = "http://127.0.0.1:99999"\n', {},
                     "[gateway] base_url", id="port-99999"),
        pytest.param('[gateway]\nbase_url = "http://[::1"\n', {}, "[gateway] base_url",
                     id="unclosed-ipv6"),
        pytest.param('[gateway]\nbase_url = "http://127.0.0.1:1/a b"\n', {},
                     "[gateway] base_url", id="space-in-url"),
        pytest.param('[gateway]\nbase_url = "http://127.0.0.1:1/?x=1"\n', {},
                     "[gateway] base_url", id="query-in-url"),
        pytest.param('[endpoints.short_trades]\npath = "/v1/{symbol}/t?x=1"\n', {},
                     "[endpoints.short_trades] path", id="query-in-path"),
        pytest.param('[endpoints.short_trades]\npath = "/v1/{symbol}/t#x"\n', {},
                     "[endpoints.short_trades] path", id="fragment-in-path"),
        pytest.param('[sweep]\ndb = ""\n', {}, "[sweep] db", id="db-empty"),
        pytest.param('[sweep]\ndb = "."\n', {}, "[sweep] db", id="db-dot"),
        pytest.param('[sweep]\ndb = "/"\n', {}, "[sweep] db", id="db-root"),
        pytest.param('[sweep]\ndb = ":memory:"\n', {}, "[sweep] db", id="db-memory"),
        pytest.param("[sweep]\nworkers = 10000000000\n", {}, "[sweep] workers",
                     id="workers-1e10"),
        pytest.param("[endpoints.short_trades]\nrate = 1e-9\n", {},
                     "[endpoints.short_trades] rate", id="rate-1e-9"),
        pytest.param("[sweep]\nlog_interval = 1e-300\n", {}, "[sweep] log_interval",
                     id="log-interval-1e-300"),
        pytest.param("", {"HARVESTER_SWEEP_WORKRES": "4"}, "HARVESTER_SWEEP_WORKRES",
                     id="misspelled-variable"),
    ],
)
def test_bad_settings_are_refused_before_anything_starts(
    tmp_path: Path, run: Run, write_file: Write, text: str, env: dict[str, str], needle: str
) -> None:
    config = write_file(tmp_path / "c.toml", text)
    symbols = write_file(tmp_path / "s.txt", "AAPL.US\n")
    before = set(tmp_path.iterdir())
    db = [] if "db =" in text else ["--db", str(tmp_path / "h.sqlite")]
    result = run("sweep", "--simulate", "--config", str(config), "--symbols", str(symbols), *db,
                 env=env)
    # One line and nothing else: not even the simulated gateway's "listening" log line, so
    # nothing started and no request can have gone out.
    line = only_line(result)
    assert needle in line
    assert ("c.toml" in line) if text else line.startswith("harvester: error: environment ")
    assert "pw@" not in result.stderr and TOKEN not in result.stderr
    assert result.stdout == ""
    assert set(tmp_path.iterdir()) == before  # no database, lock or journal, here or as ":memory:"


async def test_a_folder_given_as_db_is_refused_before_any_request(
    tmp_path: Path, run_async: RunAsync, write_file: Write, upstream: Upstreams
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    symbols = write_file(tmp_path / "s.txt", "AAPL.US\n")

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.json_response(NO_DATA)

    async with upstream(answer) as seen:
        result = await run_async("sweep", "--base-url", seen.url, "--symbols", str(symbols),
                                 "--db", str(folder))
    line = only_line(result)
    assert str(folder) in line and "folder" in line
    assert seen.paths == []
    simulated = await run_async("sweep", "--simulate", "--symbols", str(symbols), "--db",
                                str(folder))
    assert simulated.returncode == 2
    assert len(error_lines(simulated)) == 1
    assert list(folder.iterdir()) == []


def test_the_token_variable_is_not_taken_for_a_misspelled_setting(
    tmp_path: Path, run: Run, write_file: Write, fast_toml: str
) -> None:
    # The simulated gateway demands this token: a completed run proves it was read and sent.
    config = write_file(tmp_path / "c.toml", fast_toml + f'token = "{TOKEN}"\n')
    symbols = write_file(tmp_path / "s.txt", "AAPL.US\n700.HK\n")
    result = run("sweep", "--simulate", "--config", str(config), "--symbols", str(symbols),
                 "--db", str(tmp_path / "h.sqlite"), "--json", env={"HARVESTER_TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["tasks"] == {"short_interest": {"ok": 2},
                                                  "short_trades": {"ok": 2}}


# 2. A wrong address ---------------------------------------------------------------------


@pytest.fixture
def wrong_path(
    tmp_path: Path, write_file: Write, universe: Callable[..., Path],
    sweep_args: Callable[..., list[str]],
) -> list[str]:
    """Arguments of a sweep of 20 symbols whose short_trades path is wrong; its db h.sqlite."""
    wrong = '[endpoints.short_trades]\npath = "/wrong/{symbol}/short-trades"\n'
    config = write_file(tmp_path / "c.toml", wrong + "[sweep]\nbackoff_base = 0.0\n")
    return sweep_args(config, universe(20, "W"), tmp_path / "h.sqlite")


async def test_the_simulated_gateway_answers_404_for_a_path_it_does_not_serve() -> None:
    async with Gateway(GatewaySettings()) as gateway, aiohttp.ClientSession() as session:
        async with session.get(f"{gateway.url}/wrong/W1.US/short-trades?count=20") as wrong:
            assert wrong.status == 404
        right = f"{gateway.url}/v1/quote/W1.US/short-selling/short-trades?count=20"
        async with session.get(right) as served:
            assert served.status == 200


def test_a_wrong_path_stops_the_sweep_after_the_first_answers(
    tmp_path: Path, run: Run, wrong_path: list[str], query: Query
) -> None:
    db = tmp_path / "h.sqlite"
    result = run(*wrong_path, "--simulate")
    assert result.returncode == 2, result.stderr
    [line] = error_lines(result)
    assert "HTTP 404" in line and "/wrong/" in line, line
    assert "interrupted" in result.stdout
    assert query(db, "SELECT status FROM runs") == [("interrupted",)]
    answered_404 = query(db, "SELECT COUNT(*) FROM tasks "
                             "WHERE endpoint = 'short_trades' AND error_code = 'http_404'")[0][0]
    assert 5 <= answered_404 <= 10
    # Both endpoints together sent fewer requests than the 20 a full short_trades pass needs.
    assert query(db, "SELECT requests FROM runs")[0][0] < 20


@pytest.fixture
def wrong_path_against(
    run_async: RunAsync, wrong_path: list[str], upstream: Upstreams
) -> Callable[[], Awaitable[tuple[Upstream, int]]]:
    """The wrong-path sweep against a server that answers 404 to it: what it saw, the exit."""

    async def sweep() -> tuple[Upstream, int]:
        async def answer(request: web.Request) -> web.StreamResponse:
            if request.path.startswith("/wrong/"):
                return web.Response(status=404, text="404: Not Found")
            return web.json_response(NO_DATA)

        async with upstream(answer) as seen:
            result = await run_async(*wrong_path, "--base-url", seen.url)
        [line] = error_lines(result)
        assert seen.url + "/wrong/" in line
        return seen, result.returncode

    return sweep


async def test_a_wrong_path_costs_only_the_first_requests(
    tmp_path: Path, wrong_path_against: Callable[[], Awaitable[tuple[Upstream, int]]],
    query: Query,
) -> None:
    seen, code = await wrong_path_against()
    db = tmp_path / "h.sqlite"
    assert code == 2
    assert 5 <= seen.count("/wrong/") <= 10  # of the 20 a full pass would send
    assert query(db, "SELECT status FROM runs") == [("interrupted",)]
    assert query(db, "SELECT requests FROM runs") == [(len(seen.paths),)]


async def test_tasks_record_only_the_requests_they_sent(
    tmp_path: Path, wrong_path_against: Callable[[], Awaitable[tuple[Upstream, int]]],
    query: Query,
) -> None:
    seen, _ = await wrong_path_against()
    db = tmp_path / "h.sqlite"
    assert query(db, "SELECT endpoint, SUM(attempts) FROM tasks GROUP BY 1 ORDER BY 1") == [
        ("short_interest", seen.count("/short-interest")), ("short_trades", seen.count("/wrong/"))]


def test_no_gateway_listening_exits_75_naming_the_url(
    tmp_path: Path, run: Run, write_file: Write, universe: Callable[..., Path],
    free_port: Callable[[], int], query: Query,
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    config = write_file(tmp_path / "c.toml", "[sweep]\noutage_max = 1\nbackoff_base = 0.0\n")
    symbols = universe(10)
    db = tmp_path / "h.sqlite"
    result = run("sweep", "--base-url", url, "--config", str(config), "--symbols", str(symbols),
                 "--db", str(db), timeout=30)
    assert result.returncode == 75, result.stderr
    [line] = error_lines(result)
    assert url in line and "--simulate" in line, line
    assert query(db, "SELECT status FROM runs") == [("interrupted",)]
    assert query(db, "SELECT DISTINCT status FROM tasks") == [("pending",)]


# 3. The token is stored nowhere ---------------------------------------------------------


async def test_a_token_echoed_by_the_upstream_is_stored_nowhere(
    tmp_path: Path, run_async: RunAsync, write_file: Write, upstream: Upstreams, query: Query
) -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        echoed = ("backend failed for request with Authorization: "
                  f"{request.headers.get('Authorization')}")
        symbol = symbol_of(request)
        if symbol in ("HTML.US", "US.HTML"):  # not the envelope: a page quoting the request
            return web.Response(text=f"<html><p>{echoed}</p></html>", content_type="text/html")
        if symbol in ("MOVED.US", "US.MOVED"):  # a redirect carrying the token away
            raise web.HTTPFound(f"http://127.0.0.1:1/steal?{TOKEN}")
        if is_trades(request):
            return web.json_response({"code": -5, "message": echoed})
        return web.json_response({"ret_code": -5, "ret_msg": echoed})

    config = write_file(tmp_path / "c.toml", "[sweep]\nmax_attempts = 1\nbackoff_base = 0.0\n")
    symbols = write_file(tmp_path / "s.txt", "AAPL.US\n700.HK\nHTML.US\nMOVED.US\n")
    db = tmp_path / "h.sqlite"
    async with upstream(answer) as seen:
        result = await run_async("sweep", "-v", "--base-url", seen.url, "--config", str(config),
                                 "--symbols", str(symbols), "--db", str(db),
                                 env={"HARVESTER_TOKEN": TOKEN})
    assert result.returncode == 3, result.stderr
    # The token went out with every request, so every answer carried it back.
    assert seen.authorizations == [f"Bearer {TOKEN}"] * 8
    tasks = query(db, "SELECT symbol, endpoint, status, error_code, error_message FROM tasks")
    assert {task[2] for task in tasks} == {"failed"} and len(tasks) == 8
    echoes = [task for task in tasks if task[0] in ("AAPL.US", "700.HK")]
    assert {task[3] for task in echoes} == {"-5"}
    for *_, message in echoes:
        assert "backend failed for request with Authorization: Bearer [redacted]" in message
    others = {(task[0], task[3]) for task in tasks if task not in echoes}
    assert others == {("HTML.US", "malformed_body"), ("MOVED.US", "http_302")}
    assert TOKEN not in result.stdout and TOKEN not in result.stderr
    files = [path for path in tmp_path.iterdir() if path.name.startswith("h.sqlite")]
    assert db in files
    for path in files:  # the database, its -wal and -shm if left, the lock file
        assert TOKEN.encode() not in path.read_bytes(), path.name


# 4. A value that does not parse never erases a stored one -------------------------------


async def test_a_value_that_does_not_parse_never_erases_a_stored_one(
    tmp_path: Path, run_async: RunAsync, write_file: Write, upstream: Upstreams, query: Query
) -> None:
    good = {"timestamp": "2026-05-15T04:00:00Z", "nus_amount": "5748485", "ny_amount": "0",
            "total_amount": "15778974", "rate": "0.3643", "close": "300.230"}
    answers = [good, {**good, "nus_amount": "5748999", "close": "N/A"}, {**good, "close": "301.5"}]
    serving: dict[str, Any] = {}

    async def answer(request: web.Request) -> web.StreamResponse:
        if is_trades(request):
            return web.json_response({"code": 0, "message": "success", "data": [serving["now"]]})
        return web.json_response(NO_DATA)

    config = write_file(tmp_path / "c.toml", "[sweep]\nbackoff_base = 0.0\n")
    symbols = write_file(tmp_path / "s.txt", "AAPL.US\n")
    db = tmp_path / "h.sqlite"
    stored, summaries = [], []
    async with upstream(answer) as seen:
        for record in answers:
            serving["now"] = record
            result = await run_async("sweep", "--base-url", seen.url, "--config", str(config),
                                     "--symbols", str(symbols), "--db", str(db), "--json")
            assert result.returncode == 0, result.stderr
            summaries.append(json.loads(result.stdout))
            stored.append(query(db, "SELECT trade_date, nasdaq_short_volume, close, run_id "
                                    "FROM short_trades"))
    runs = [summary["run_id"] for summary in summaries]
    assert stored == [
        [("2026-05-15", 5748485, 300.23, runs[0])],
        # Sweep 2 did update the row (its volume, its run), but kept the good close.
        [("2026-05-15", 5748999, 300.23, runs[1])],
        [("2026-05-15", 5748485, 301.5, runs[2])],
    ]
    assert [summary["warnings"] for summary in summaries] == [0, 1, 0]
    assert query(db, "SELECT status FROM tasks WHERE endpoint = 'short_interest'") == [
        ("no_data",)] * 3


# 5. Signals -----------------------------------------------------------------------------


@pytest.mark.slow
def test_gnu_timeout_stops_the_sweep_as_one_sigterm(
    tmp_path: Path, slow_gateway: int, write_config: Callable[..., Path],
    universe: Callable[..., Path], sweep_args: Callable[..., list[str]], clean_env: Env,
    query: Query,
) -> None:
    timeout = shutil.which("timeout")
    if timeout is None:
        pytest.skip("GNU timeout is not installed")
    # 200 symbols at 20 requests a second per endpoint: 10 s of work, cut off at 2 s. Few
    # workers: the tasks they already hold still queue for the limiter after the signal.
    config = write_config(tmp_path / "c.toml", slow_gateway, 20.0, concurrency=8, timeout=5.0,
                          workers=8)
    symbols = universe(200)
    began = time.monotonic()
    for attempt in range(3):  # the double SIGTERM used to win 2 times in 3
        db = tmp_path / f"h{attempt}.sqlite"
        # -k: should the sweep ignore SIGTERM, it is killed and the exit code says so.
        result = subprocess.run(
            [timeout, "--preserve-status", "-k", "15", "-s", "TERM", "2", sys.executable, "-m",
             "harvester", *sweep_args(config, symbols, db)],
            capture_output=True, text=True, timeout=40, cwd=tmp_path, env=clean_env(),
        )
        assert result.returncode == 143, (attempt, result.stdout, result.stderr)
        assert "interrupted: stopped by a signal" in result.stdout, (attempt, result.stdout)
        assert "again: stopping at once" not in result.stderr
        assert query(db, "SELECT status, stop_reason FROM runs") == [
            ("interrupted", "stopped by a signal")]
        counts = dict(query(db, "SELECT status, COUNT(*) FROM tasks GROUP BY 1"))
        assert counts.get("ok", 0) > 0 and counts.get("pending", 0) > 0, counts
    assert time.monotonic() - began < 30


@pytest.mark.slow
def test_sighup_stops_the_sweep_and_resume_finishes_it(
    tmp_path: Path, slow_gateway: int, write_config: Callable[..., Path],
    universe: Callable[..., Path], sweep_args: Callable[..., list[str]],
    start_sweep: Callable[..., subprocess.Popen[str]], run: Run, query: Query,
) -> None:
    symbols = universe(60)
    slow = write_config(tmp_path / "slow.toml", slow_gateway, 20.0, concurrency=8, timeout=5.0,
                        workers=32)
    db = tmp_path / "h.sqlite"
    process = start_sweep(sweep_args(slow, symbols, db), db=db, ok=6, cwd=tmp_path)
    process.send_signal(signal.SIGHUP)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 129, err
    assert "interrupted: stopped by a signal" in out
    [(run_id, status)] = query(db, "SELECT run_id, status FROM runs")
    assert status == "interrupted"
    assert query(db, "SELECT COUNT(*) FROM tasks WHERE status = 'pending'")[0][0] > 0

    fast = write_config(tmp_path / "fast.toml", slow_gateway, 400.0, concurrency=64,
                        timeout=5.0, workers=32)
    done = run(*sweep_args(fast, symbols, db, "--resume", "--json"))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["run_id"] == run_id and summary["resumed"] is True
    assert query(db, "SELECT status, resumes FROM runs") == [("completed", 1)]
    assert query(db, "SELECT status, COUNT(*) FROM tasks GROUP BY 1") == [("ok", 120)]


# 6. status on a read-only copy ----------------------------------------------------------


@pytest.fixture
def finished_db(
    tmp_path: Path, run: Run, write_file: Write, fast_toml: str,
    sweep_args: Callable[..., list[str]],
) -> tuple[Path, str]:
    """A database left by a completed sweep (the sweep has ended); and its run id."""
    config = write_file(tmp_path / "fast.toml", fast_toml)
    symbols = write_file(tmp_path / "s.txt", "AAPL.US\n700.HK\n")
    db = tmp_path / "h.sqlite"
    result = run(*sweep_args(config, symbols, db, "--simulate", "--json"))
    assert result.returncode == 0, result.stderr
    return db, json.loads(result.stdout)["run_id"]


@contextlib.contextmanager
def read_only_copy(db: Path, parent: Path) -> Iterator[Path]:
    """Only the .sqlite file, copied into a folder: the file 0444, the folder 0555."""
    folder = parent / "ro"
    folder.mkdir()
    copy = folder / "copy.sqlite"
    shutil.copyfile(db, copy)
    copy.chmod(0o444)
    folder.chmod(0o555)
    try:
        yield copy
    finally:
        folder.chmod(0o755)


def assert_status_lists(text: subprocess.CompletedProcess[str],
                        as_json: subprocess.CompletedProcess[str], run_id: str) -> None:
    assert text.returncode == 0, text.stderr
    assert run_id in text.stdout and "completed" in text.stdout
    assert as_json.returncode == 0, as_json.stderr
    [run] = json.loads(as_json.stdout)
    assert run["run_id"] == run_id and run["status"] == "completed"
    assert run["tasks"] == {"short_interest": {"ok": 2}, "short_trades": {"ok": 2}}


def test_status_reads_a_read_only_copy_and_leaves_it_untouched(
    tmp_path: Path, run: Run, finished_db: tuple[Path, str]
) -> None:
    db, run_id = finished_db
    with read_only_copy(db, tmp_path) as copy:
        before = copy.read_bytes()
        text = run("status", "--db", str(copy))
        as_json = run("status", "--db", str(copy), "--json")
        assert copy.read_bytes() == before
        # Who can write the folder (root here) gets SQLite's -shm and an empty -wal beside
        # it, as any WAL reader does; nothing is written into the database.
        beside = {path.name: path.stat().st_size for path in copy.parent.iterdir()}
        assert set(beside) <= {"copy.sqlite", "copy.sqlite-shm", "copy.sqlite-wal"}, beside
        assert beside.get("copy.sqlite-wal", 0) == 0
    assert_status_lists(text, as_json, run_id)


PROBE = """
import sys, harvester
try:
    open(sys.argv[1], "x")
except PermissionError:
    print("shut")
"""


def _interpreter_for_nobody(
    probe_file: Path, cwd: Path, nobody: dict[str, Any], clean_env: Env
) -> tuple[str, dict[str, str]]:
    """A Python that uid 65534 can start and import harvester with, and its environment.

    The venv's interpreter may sit under a folder only root can enter (/root/.pyenv);
    the system's Python of the same version then runs with the venv's packages.
    """
    here = Path(__file__).resolve().parent.parent
    packages = os.pathsep.join([*site.getsitepackages(), str(here)])
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [(sys.executable, clean_env()),
                  (f"/usr/bin/{version}", clean_env(PYTHONPATH=packages)),
                  (f"/usr/local/bin/{version}", clean_env(PYTHONPATH=packages))]
    tried = []
    for python, env in candidates:
        try:
            probe = subprocess.run([python, "-c", PROBE, str(probe_file)], cwd=cwd, env=env,
                                   capture_output=True, text=True, timeout=30, **nobody)
        except OSError as exc:
            tried.append(f"{python}: {exc.strerror}")
            continue
        if probe.returncode == 0:
            assert probe.stdout == "shut\n", "uid 65534 can write the folder: no proof"
            return python, env
        tried.append(f"{python}: {probe.stderr.strip().splitlines()[-1:]}")
    pytest.skip(f"uid {NOBODY} can start no Python with harvester: {'; '.join(tried)}")


def test_status_reads_a_copy_its_user_cannot_write(
    finished_db: tuple[Path, str], clean_env: Env
) -> None:
    if os.geteuid() != 0:
        pytest.skip("not root: the file modes bind this user in the test above")
    db, run_id = finished_db
    nobody: dict[str, Any] = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
    # tmp_path's parents are private to root: the copy goes where uid 65534 can look.
    parent = Path(tempfile.mkdtemp(prefix="harvester-outside-"))
    try:
        parent.chmod(0o755)
        with read_only_copy(db, parent) as copy:
            python, env = _interpreter_for_nobody(copy.parent / "probe", parent, nobody,
                                                  clean_env)
            run = functools.partial(subprocess.run, cwd=parent, capture_output=True, text=True,
                                    timeout=60, env=env, check=False, **nobody)
            text = run([python, "-m", "harvester", "status", "--db", str(copy)])
            as_json = run([python, "-m", "harvester", "status", "--db", str(copy), "--json"])
            assert [path.name for path in copy.parent.iterdir()] == ["copy.sqlite"]
        assert_status_lists(text, as_json, run_id)
    finally:
        shutil.rmtree(parent)
