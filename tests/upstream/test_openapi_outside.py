"""The OpenAPI's credentials from outside: a clock minutes off, an upstream that echoes them.

Real servers on loopback answer as a refusing or chatty OpenAPI would; the
harvester runs as a subprocess with the SDK's environment variables.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

KEY, SECRET, TOKEN = "k3y-6d1a-openapi", "s3cr3t-9c2b-openapi", "t0k3n-4e7f-openapi"
CREDENTIALS = {
    "HARVESTER_GATEWAY_API": "openapi",
    "LONGBRIDGE_APP_KEY": KEY,
    "LONGBRIDGE_APP_SECRET": SECRET,
    "LONGBRIDGE_ACCESS_TOKEN": TOKEN,
    "HARVESTER_SWEEP_BACKOFF_BASE": "0",
}
Serve = Callable[[web.Application], contextlib.AbstractAsyncContextManager[str]]


async def harvester(folder: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """The CLI as a subprocess, awaited (the servers live in this test's loop)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "harvester",
        *args,
        cwd=folder,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 60)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@contextlib.asynccontextmanager
async def answering(serve: Serve, handler: Any) -> AsyncIterator[tuple[str, list[web.Request]]]:
    seen: list[web.Request] = []

    async def record(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        return await handler(request)

    app = web.Application()
    app.router.add_get("/{tail:.*}", record)
    async with serve(app) as url:
        yield url, seen


def folder_with(tmp_path: Path, symbols: int) -> Path:
    names = [f"S{i:03d}.US" for i in range(symbols)]
    (tmp_path / "symbols.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    return tmp_path


async def test_a_clock_minutes_off_is_named_and_stops_the_run(
    serve_app: Serve, clean_env: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    async def refuse(request: web.Request) -> web.Response:
        ahead = datetime.now(UTC) + timedelta(minutes=12)  # the upstream's clock, or ours off
        body = orjson.dumps({"code": 401102, "message": "token verification failed"})
        headers = {"Date": format_datetime(ahead, usegmt=True)}
        return web.Response(body=body, status=401, content_type="application/json", headers=headers)

    async with answering(serve_app, refuse) as (url, seen):
        env = clean_env(**CREDENTIALS, LONGBRIDGE_HTTP_URL=url)
        code, _, err = await harvester(folder_with(tmp_path, 40), env, "sweep", "-q")
    assert code == 2
    (line,) = [text for text in err.splitlines() if text.startswith("harvester: error")]
    assert "12 min behind" in line and "clock" in line
    assert "LONGBRIDGE_APP_KEY" in line and "LONGBRIDGE_APP_SECRET" in line
    assert 1 <= len(seen) <= 10  # stopped after the first refusals, not after 80 tasks


async def test_credentials_echoed_by_the_upstream_reach_no_output_or_file(
    serve_app: Serve, clean_env: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    async def echo(request: web.Request) -> web.Response:
        # An upstream that quotes the request's headers back, as error pages do.
        said = f"{request.headers.get('authorization')} {request.headers.get('x-api-key')}"
        body = orjson.dumps({"code": 123456, "message": f"no such thing; you sent {said}"})
        return web.Response(body=body, status=200, content_type="application/json")

    async with answering(serve_app, echo) as (url, seen):
        env = clean_env(**CREDENTIALS, LONGBRIDGE_HTTP_URL=url)
        folder = folder_with(tmp_path, 3)
        code, out, err = await harvester(folder, env, "sweep", "-v", "--full")
    assert code == 3  # every task failed, with the upstream's code and message kept
    assert seen and all(request.headers["authorization"] == TOKEN for request in seen)
    for text in (out, err):
        assert TOKEN not in text and SECRET not in text and KEY not in text
    assert "[redacted]" in err or "[redacted]" in out
    files = list(folder.glob("harvest.sqlite*"))
    assert files
    for path in files:
        data = path.read_bytes()
        assert TOKEN.encode() not in data and SECRET.encode() not in data
