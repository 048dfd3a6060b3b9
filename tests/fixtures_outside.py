"""Fixtures for the tests from outside: the CLI run in tmp_path, its error lines, an upstream.

An upstream is an aiohttp app on loopback that the test writes the answers of, and that
notes every request's path and ``Authorization`` header, so a test can say what went out.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

Run = Callable[..., subprocess.CompletedProcess[str]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ServeApp = Callable[[web.Application], AbstractAsyncContextManager[str]]


def _error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The ``harvester: error:`` lines on stderr; never a traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("harvester: error:")]


def _only_line(result: subprocess.CompletedProcess[str]) -> str:
    """Exit 2 and exactly one line on stderr, the error; returns it."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert _error_lines(result) == lines
    return lines[0]


@dataclass
class Upstream:
    """A loopback HTTP server run by the test: what it received, where it listens."""

    url: str = ""
    paths: list[str] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)

    def count(self, needle: str) -> int:
        """How many of the received paths contain ``needle``."""
        return sum(needle in path for path in self.paths)

    def noting(self, answer: Handler) -> Handler:
        """``answer``, noting each request's path and ``Authorization`` header first."""

        async def handle(request: web.Request) -> web.StreamResponse:
            self.paths.append(request.path_qs)
            self.authorizations.append(request.headers.get("Authorization"))
            return await answer(request)

        return handle


@pytest.fixture
def run(tmp_path: Path, harvester: Run) -> Run:
    """``run(*args, env=None, timeout=60)``: the CLI run to its end in tmp_path."""
    return functools.partial(harvester, cwd=tmp_path)


@pytest.fixture
def run_async(
    tmp_path: Path, clean_env: Callable[..., dict[str, str]]
) -> Callable[..., Awaitable[subprocess.CompletedProcess[str]]]:
    """As ``run``, without blocking the loop, so an upstream in this test serves it."""

    async def run(
        *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "harvester",
            *args,
            cwd=tmp_path,
            env=clean_env(**(env or {})),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()  # ours, by its pid
            out, err = await process.communicate()
            raise AssertionError(
                f"harvester {args} still running after {timeout}s: {err.decode()}"
            ) from None
        assert process.returncode is not None
        return subprocess.CompletedProcess(
            list(args), process.returncode, out.decode(), err.decode()
        )

    return run


@pytest.fixture(scope="session")
def error_lines() -> Callable[[subprocess.CompletedProcess[str]], list[str]]:
    """``error_lines(result)``: the ``harvester: error:`` lines on stderr; never a traceback."""
    return _error_lines


@pytest.fixture(scope="session")
def only_line() -> Callable[[subprocess.CompletedProcess[str]], str]:
    """``only_line(result)``: exit 2 and exactly one line on stderr, the error; returns it."""
    return _only_line


@pytest.fixture(scope="session")
def no_data() -> dict[str, Any]:
    """The short_interest envelope of a symbol with no data (-10): a harmless answer."""
    return {"ret_code": -10, "ret_msg": "no data", "error": {"code": "no_data"}}


@contextlib.asynccontextmanager
async def _upstream(serve_app: ServeApp, answer: Handler) -> AsyncIterator[Upstream]:
    """An app on loopback answering every GET with ``answer``, noting each request."""
    seen = Upstream()
    app = web.Application()
    app.router.add_get("/{tail:.*}", seen.noting(answer))
    async with serve_app(app) as url:
        seen.url = url
        yield seen


@pytest.fixture
def upstream(serve_app: ServeApp) -> Callable[[Handler], AbstractAsyncContextManager[Upstream]]:
    """``async with upstream(answer) as seen:`` every GET answered by ``answer``, noted."""
    return functools.partial(_upstream, serve_app)
