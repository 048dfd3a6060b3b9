"""Fixtures for processes this suite starts: the CLI, sweeps, the simulated gateway, servers.

Every process started here is ended by its own pid, and every wait has a deadline.
Loaded by tests/conftest.py as a plugin, so tests take these as arguments.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

HARVESTER = [sys.executable, "-m", "harvester"]
RUN_TIMEOUT = 60.0  # seconds a command run to its end may take
OK_TIMEOUT = 30.0  # seconds a started sweep may take to commit the tasks a test waits for


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``HARVESTER_*`` variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARVESTER_")}
    env.update(extra)
    return env


def _first_line(process: subprocess.Popen[str], timeout: float = 15) -> str:
    """The first line a process we started prints on stdout, waited for with a deadline."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, f"{process.args}: printed nothing within {timeout:g}s"
    return process.stdout.readline()


def _end(process: subprocess.Popen[Any], first: signal.Signals = signal.SIGKILL) -> Any:
    """Stop a process we started, by its own pid, and reap it (``first``, then SIGKILL).

    Returns what is left of its piped output, as ``communicate`` does.
    """
    if process.poll() is None:
        process.send_signal(first)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    try:
        return process.communicate(timeout=10)  # closes the pipes too
    except subprocess.TimeoutExpired:  # a grandchild holds a pipe open: don't hang on it
        return None, None


def _free_port() -> int:
    """A loopback port nothing listens on (the kernel's pick, released at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Processes --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def clean_env() -> Callable[..., dict[str, str]]:
    """``clean_env(**extra)``: this environment without ``HARVESTER_*`` variables, plus extra."""
    return _clean_env


@pytest.fixture(scope="session")
def harvester() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``harvester(*args, cwd=None, env=None, timeout=60, **run)``: the CLI run to its end.

    Output is captured as text. The environment is this one without ``HARVESTER_*``
    variables, plus ``env``, so a developer's own settings never leak into a test.
    """

    def run(
        *args: str,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = RUN_TIMEOUT,
        **kwargs: Any,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*HARVESTER, *args],
            cwd=cwd,
            env=_clean_env(**(env or {})),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kwargs,
        )

    return run


@pytest.fixture
def start_sweep(
    wait_until: Callable[[Callable[[], object], float, str], None], ok_tasks: Callable[..., int]
) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """``start_sweep(args, db=None, ok=0, env=None, **popen)``: the CLI started, not awaited.

    Returns once ``ok`` tasks are committed in ``db``; a sweep that does not get there
    in time is ended and the test fails. Output is piped as text unless ``popen`` says
    otherwise. Any sweep still running when the test ends is killed by its pid.
    """
    started: list[subprocess.Popen[str]] = []

    def start(
        args: list[str],
        db: Path | None = None,
        ok: int = 0,
        env: dict[str, str] | None = None,
        **popen: Any,
    ) -> subprocess.Popen[str]:
        options: dict[str, Any] = {
            "stdout": subprocess.PIPE,
            "stderr": subprocess.PIPE,
            "text": True,
            **popen,
        }
        process = subprocess.Popen([*HARVESTER, *args], env=_clean_env(**(env or {})), **options)
        started.append(process)
        if ok:
            assert db is not None, "start_sweep: ok= needs db="
            try:
                wait_until(lambda: ok_tasks(db) >= ok, OK_TIMEOUT, f"{ok} tasks ok in {db}")
            except AssertionError as exc:
                _, err = _end(process)
                raise AssertionError(f"{exc}; the sweep's stderr: {err}") from None
        return process

    yield start
    for process in started:
        _end(process)


@dataclass(frozen=True)
class GatewayProcess:
    """``harvester simulate`` running in a process of its own."""

    process: subprocess.Popen[str]
    url: str

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.url.rsplit(":", 1)[1])


@pytest.fixture(scope="session")
def gateway_process() -> Callable[..., contextlib.AbstractContextManager[GatewayProcess]]:
    """``with gateway_process(port=0, *simulate_args) as gateway:`` a simulated gateway process.

    Ready when its "listening" line came (within 15 s); on leaving, SIGINT by its pid,
    then SIGKILL if it has not exited 10 s later.
    """

    @contextlib.contextmanager
    def serve(port: int = 0, *extra: str) -> Iterator[GatewayProcess]:
        process = subprocess.Popen(
            [*HARVESTER, "simulate", "--port", str(port), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=_clean_env(),
        )
        try:
            line = _first_line(process)
            found = re.fullmatch(
                r"simulated gateway listening on (http://127\.0\.0\.1:\d+)\n", line
            )
            assert found, f"the simulated gateway said {line!r}"
            yield GatewayProcess(process, found.group(1))
        finally:
            _end(process, signal.SIGINT)

    return serve


@pytest.fixture(scope="session")
def serve_app() -> Callable[[web.Application], contextlib.AbstractAsyncContextManager[str]]:
    """``async with serve_app(app) as url:`` an aiohttp app on 127.0.0.1, a port the kernel picks.

    A handler still waiting when the block ends gets 0.1 s, so release what you hold first.
    """

    @contextlib.asynccontextmanager
    async def serve(app: web.Application) -> AsyncIterator[str]:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            yield f"http://127.0.0.1:{runner.addresses[0][1]}"
        finally:
            await runner.cleanup()

    return serve


@pytest.fixture(scope="session")
def served() -> Callable[[str], int]:
    """``served(url)``: requests a simulated gateway process has received so far."""

    def total(url: str) -> int:
        with urllib.request.urlopen(f"{url}/_stats", timeout=5) as answer:
            return int(json.loads(answer.read())["total"])

    return total


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    """``free_port()``: a loopback port nothing listens on."""
    return _free_port


@pytest.fixture(scope="session")
def error_line() -> Callable[[subprocess.CompletedProcess[str]], str]:
    """``error_line(result)``: the one error line of a command that exited 2, no traceback."""

    def line(result: subprocess.CompletedProcess[str]) -> str:
        assert result.returncode == 2, (result.returncode, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        lines = [text for text in result.stderr.splitlines() if "error" in text]
        assert len(lines) == 1, result.stderr
        return lines[0]

    return line


@pytest.fixture(scope="session")
def first_line() -> Callable[..., str]:
    """``first_line(process, timeout=15)``: its first stdout line, or fail after ``timeout``."""
    return _first_line


def _us_record(day: int) -> dict[str, str]:
    return {
        "timestamp": f"2026-05-{day:02d}T04:00:00Z",
        "nus_amount": "100",
        "ny_amount": "50",
        "total_amount": "1000",
        "rate": "0.15",
        "close": "12.5",
    }


@pytest.fixture
def hanging_sibling(
    serve_app: Callable[[web.Application], contextlib.AbstractAsyncContextManager[str]],
) -> Callable[[], contextlib.AbstractAsyncContextManager[tuple[str, dict[str, Any]]]]:
    """A gateway whose short_trades answer at once and whose short_interest never does."""

    @contextlib.asynccontextmanager
    async def serve() -> AsyncIterator[tuple[str, dict[str, Any]]]:
        state: dict[str, Any] = {"answered": 0, "last_answer": 0.0, "hanging": 0}
        release = asyncio.Event()

        async def trades(request: web.Request) -> web.Response:
            state["answered"] += 1
            state["last_answer"] = time.monotonic()
            body = {"code": 0, "message": "success", "data": [_us_record(15), _us_record(14)]}
            return web.Response(body=orjson.dumps(body), content_type="application/json")

        async def interest(request: web.Request) -> web.Response:
            state["hanging"] += 1
            await release.wait()
            return web.Response(status=503)

        app = web.Application()
        app.router.add_get("/v1/quote/{symbol}/short-selling/short-trades", trades)
        app.router.add_get("/v1/quote/{symbol}/short-selling/short-interest", interest)
        async with serve_app(app) as url:
            try:
                yield url, state
            finally:
                release.set()

    return serve
