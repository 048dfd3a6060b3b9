"""From outside: bad settings are refused in one line before anything starts or is written.

The CLI as a subprocess in tmp_path: a bad URL, path, database or number, a misspelled
variable, and a folder given as the database; no request goes out and no file appears.
Every value is refused in process by tests/settings/test_config_values.py and
test_config_ranges.py, so only four of the bad settings run here in the fast suite (a
secret in the URL, a path, a database, a variable); the others are slow tests.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

TOKEN = "s3cr3t-token-value"

Run = Callable[..., subprocess.CompletedProcess[str]]
RunAsync = Callable[..., Awaitable[subprocess.CompletedProcess[str]]]
Write = Callable[[Path, str], Path]
Upstreams = Callable[..., contextlib.AbstractAsyncContextManager[Any]]
Lines = Callable[[subprocess.CompletedProcess[str]], Any]


CREDENTIALS = '[gateway]\nbase_url = "http://user:pw@127.0.0.1:1"\n'


@pytest.mark.parametrize(
    ("text", "env", "needle"),
    [
        pytest.param(
            CREDENTIALS, {}, "[gateway] base_url", id="url-with-credentials", marks=pytest.mark.slow
        ),
        pytest.param(
            CREDENTIALS,
            {"HARVESTER_TOKEN": TOKEN},
            "[gateway] base_url",
            id="url-with-credentials-and-a-token",
        ),
        pytest.param(
            '[gateway]\nbase_url = "http://127.0.0.1:99999"\n',
            {},
            "[gateway] base_url",
            id="port-99999",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            '[gateway]\nbase_url = "http://[::1"\n',
            {},
            "[gateway] base_url",
            id="unclosed-ipv6",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            '[gateway]\nbase_url = "http://127.0.0.1:1/a b"\n',
            {},
            "[gateway] base_url",
            id="space-in-url",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            '[gateway]\nbase_url = "http://127.0.0.1:1/?x=1"\n',
            {},
            "[gateway] base_url",
            id="query-in-url",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            '[endpoints.short_trades]\npath = "/v1/{symbol}/t?x=1"\n',
            {},
            "[endpoints.short_trades] path",
            id="query-in-path",
        ),
        pytest.param(
            '[endpoints.short_trades]\npath = "/v1/{symbol}/t#x"\n',
            {},
            "[endpoints.short_trades] path",
            id="fragment-in-path",
            marks=pytest.mark.slow,
        ),
        pytest.param('[sweep]\ndb = ""\n', {}, "[sweep] db", id="db-empty", marks=pytest.mark.slow),
        pytest.param('[sweep]\ndb = "."\n', {}, "[sweep] db", id="db-dot", marks=pytest.mark.slow),
        pytest.param('[sweep]\ndb = "/"\n', {}, "[sweep] db", id="db-root", marks=pytest.mark.slow),
        pytest.param('[sweep]\ndb = ":memory:"\n', {}, "[sweep] db", id="db-memory"),
        pytest.param(
            "[sweep]\nworkers = 10000000000\n",
            {},
            "[sweep] workers",
            id="workers-1e10",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            "[endpoints.short_trades]\nrate = 1e-9\n",
            {},
            "[endpoints.short_trades] rate",
            id="rate-1e-9",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            "[sweep]\nlog_interval = 1e-300\n",
            {},
            "[sweep] log_interval",
            id="log-interval-1e-300",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            "",
            {"HARVESTER_SWEEP_WORKRES": "4"},
            "HARVESTER_SWEEP_WORKRES",
            id="misspelled-variable",
        ),
    ],
)
def test_bad_settings_are_refused_before_anything_starts(
    tmp_path: Path,
    run: Run,
    write_file: Write,
    only_line: Lines,
    text: str,
    env: dict[str, str],
    needle: str,
) -> None:
    config = write_file(tmp_path / "c.toml", text)
    symbols = write_file(tmp_path / "s.txt", "AAPL.US\n")
    before = set(tmp_path.iterdir())
    db = [] if "db =" in text else ["--db", str(tmp_path / "h.sqlite")]
    result = run(
        "sweep", "--simulate", "--config", str(config), "--symbols", str(symbols), *db, env=env
    )
    # One line and nothing else: not even the simulated gateway's "listening" log line, so
    # nothing started and no request can have gone out.
    line = only_line(result)
    assert needle in line
    assert ("c.toml" in line) if text else line.startswith("harvester: error: environment ")
    assert "pw@" not in result.stderr and TOKEN not in result.stderr
    assert result.stdout == ""
    assert set(tmp_path.iterdir()) == before  # no database, lock or journal, here or as ":memory:"


async def test_a_folder_given_as_db_is_refused_before_any_request(
    tmp_path: Path,
    run_async: RunAsync,
    write_file: Write,
    upstream: Upstreams,
    only_line: Lines,
    error_lines: Lines,
    no_data: dict[str, Any],
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    symbols = write_file(tmp_path / "s.txt", "AAPL.US\n")

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.json_response(no_data)

    async with upstream(answer) as seen:
        result = await run_async(
            "sweep", "--base-url", seen.url, "--symbols", str(symbols), "--db", str(folder)
        )
    line = only_line(result)
    assert str(folder) in line and "folder" in line
    assert seen.paths == []
    simulated = await run_async(
        "sweep", "--simulate", "--symbols", str(symbols), "--db", str(folder)
    )
    assert simulated.returncode == 2
    assert len(error_lines(simulated)) == 1
    assert list(folder.iterdir()) == []
