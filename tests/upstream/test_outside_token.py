"""From outside: the token is read from its variable, sent, and stored nowhere.

An upstream that echoes the ``Authorization`` header back in its errors, a page, or a redirect
leaves no trace of the token in the database, its side files, stdout or stderr.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

TOKEN = "s3cr3t-token-value"

Run = Callable[..., subprocess.CompletedProcess[str]]
RunAsync = Callable[..., Awaitable[subprocess.CompletedProcess[str]]]
Query = Callable[..., list[tuple[Any, ...]]]
Write = Callable[[Path, str], Path]
Upstreams = Callable[..., contextlib.AbstractAsyncContextManager[Any]]


def _symbol_of(request: web.Request) -> str:
    """The symbol segment of ``/v1/quote/{symbol}/short-selling/...``."""
    parts = request.path.split("/")
    return parts[3] if len(parts) > 3 else ""


def test_the_token_variable_is_not_taken_for_a_misspelled_setting(
    tmp_path: Path, run: Run, write_file: Write, fast_toml: str
) -> None:
    # The simulated gateway demands this token: a completed run proves it was read and sent.
    config = write_file(tmp_path / "c.toml", fast_toml + f'token = "{TOKEN}"\n')
    symbols = write_file(tmp_path / "s.txt", "AAPL.US\n700.HK\n")
    result = run(
        "sweep",
        "--simulate",
        "--config",
        str(config),
        "--symbols",
        str(symbols),
        "--db",
        str(tmp_path / "h.sqlite"),
        "--json",
        env={"HARVESTER_TOKEN": TOKEN},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["tasks"] == {
        "short_interest": {"ok": 2},
        "short_trades": {"ok": 2},
    }


async def test_a_token_echoed_by_the_upstream_is_stored_nowhere(
    tmp_path: Path, run_async: RunAsync, write_file: Write, upstream: Upstreams, query: Query
) -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        echoed = (
            f"backend failed for request with Authorization: {request.headers.get('Authorization')}"
        )
        symbol = _symbol_of(request)
        if symbol in ("HTML.US", "US.HTML"):  # not the envelope: a page quoting the request
            return web.Response(text=f"<html><p>{echoed}</p></html>", content_type="text/html")
        if symbol in ("MOVED.US", "US.MOVED"):  # a redirect carrying the token away
            raise web.HTTPFound(f"http://127.0.0.1:1/steal?{TOKEN}")
        if request.path.endswith("/short-trades"):
            return web.json_response({"code": -5, "message": echoed})
        return web.json_response({"ret_code": -5, "ret_msg": echoed})

    config = write_file(tmp_path / "c.toml", "[sweep]\nmax_attempts = 1\nbackoff_base = 0.0\n")
    symbols = write_file(tmp_path / "s.txt", "AAPL.US\n700.HK\nHTML.US\nMOVED.US\n")
    db = tmp_path / "h.sqlite"
    async with upstream(answer) as seen:
        result = await run_async(
            "sweep",
            "-v",
            "--base-url",
            seen.url,
            "--config",
            str(config),
            "--symbols",
            str(symbols),
            "--db",
            str(db),
            env={"HARVESTER_TOKEN": TOKEN},
        )
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
