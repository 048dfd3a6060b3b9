"""From outside: a wrong address stops the sweep early and costs only the first requests.

A path the gateway does not serve (404) interrupts the sweep after a few answers, against the
simulated gateway and a test's own upstream; no gateway listening exits 75 naming the URL.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from harvester.simulate import Gateway, GatewaySettings

Run = Callable[..., subprocess.CompletedProcess[str]]
RunAsync = Callable[..., Awaitable[subprocess.CompletedProcess[str]]]
Query = Callable[..., list[tuple[Any, ...]]]
Write = Callable[[Path, str], Path]
Upstreams = Callable[..., contextlib.AbstractAsyncContextManager[Any]]
Lines = Callable[[subprocess.CompletedProcess[str]], Any]


@pytest.fixture
def wrong_path(
    tmp_path: Path,
    write_file: Write,
    universe: Callable[..., Path],
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
    tmp_path: Path, run: Run, wrong_path: list[str], query: Query, error_lines: Lines
) -> None:
    db = tmp_path / "h.sqlite"
    result = run(*wrong_path, "--simulate")
    assert result.returncode == 2, result.stderr
    [line] = error_lines(result)
    assert "HTTP 404" in line and "/wrong/" in line, line
    assert "interrupted" in result.stdout
    assert query(db, "SELECT status FROM runs") == [("interrupted",)]
    answered_404 = query(
        db, "SELECT COUNT(*) FROM tasks WHERE endpoint = 'short_trades' AND error_code = 'http_404'"
    )[0][0]
    assert 5 <= answered_404 <= 10
    # Both endpoints together sent fewer requests than the 20 a full short_trades pass needs.
    assert query(db, "SELECT requests FROM runs")[0][0] < 20


@dataclass(frozen=True)
class Against:
    """The wrong-path sweep against a test's upstream: what it received, the exit, the db."""

    seen: Any
    code: int
    db: Path


@pytest.fixture
async def wrong_path_against(
    tmp_path: Path,
    run_async: RunAsync,
    wrong_path: list[str],
    upstream: Upstreams,
    error_lines: Lines,
    no_data: dict[str, Any],
) -> Against:
    """The wrong-path sweep run against a server that answers 404 to it."""

    async def answer(request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/wrong/"):
            return web.Response(status=404, text="404: Not Found")
        return web.json_response(no_data)

    async with upstream(answer) as seen:
        result = await run_async(*wrong_path, "--base-url", seen.url)
    [line] = error_lines(result)
    assert seen.url + "/wrong/" in line
    return Against(seen, result.returncode, tmp_path / "h.sqlite")


async def test_a_wrong_path_costs_only_the_first_requests(
    wrong_path_against: Against, query: Query
) -> None:
    seen, db = wrong_path_against.seen, wrong_path_against.db
    assert wrong_path_against.code == 2
    assert 5 <= seen.count("/wrong/") <= 10  # of the 20 a full pass would send
    assert query(db, "SELECT status FROM runs") == [("interrupted",)]
    assert query(db, "SELECT requests FROM runs") == [(len(seen.paths),)]


async def test_tasks_record_only_the_requests_they_sent(
    wrong_path_against: Against, query: Query
) -> None:
    seen, db = wrong_path_against.seen, wrong_path_against.db
    assert query(db, "SELECT endpoint, SUM(attempts) FROM tasks GROUP BY 1 ORDER BY 1") == [
        ("short_interest", seen.count("/short-interest")),
        ("short_trades", seen.count("/wrong/")),
    ]


def test_no_gateway_listening_exits_75_naming_the_url(
    tmp_path: Path,
    run: Run,
    write_file: Write,
    universe: Callable[..., Path],
    free_port: Callable[[], int],
    query: Query,
    error_lines: Lines,
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    # Nothing listens: the outage opens at the first refusal; give up on it soon after.
    config = write_file(tmp_path / "c.toml", "[sweep]\noutage_max = 0.2\nbackoff_base = 0.0\n")
    symbols = universe(10)
    db = tmp_path / "h.sqlite"
    result = run(
        "sweep",
        "--base-url",
        url,
        "--config",
        str(config),
        "--symbols",
        str(symbols),
        "--db",
        str(db),
        timeout=30,
    )
    assert result.returncode == 75, result.stderr
    [line] = error_lines(result)
    assert url in line and "--simulate" in line, line
    assert query(db, "SELECT status FROM runs") == [("interrupted",)]
