"""The client and the sweep against aiohttp's test server, for answers the gateway can't craft."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from harvester.errors import Rejected, TransportError
from harvester.settings.config import load_settings
from harvester.sweep.run import run_sweep
from harvester.upstream.auth import Bearer
from harvester.upstream.client import Client

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
US_RECORD = {
    "timestamp": "2026-05-15T04:00:00Z",
    "nus_amount": "5748485",
    "ny_amount": "0",
    "total_amount": "15778974",
    "rate": "0.3643",
    "close": "300.230",
}


def server(handler: Handler) -> TestServer:
    """A loopback server answering every GET with ``handler``."""
    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    return TestServer(app, host="127.0.0.1")


def client_for(url: str, **gateway: object) -> Client:
    settings = load_settings(None, overrides={"gateway": {"base_url": url, **gateway}}, environ={})
    return Client(settings.gateway, settings.endpoints, auth=Bearer("secret-token", "check it"))


async def test_redirect_is_not_followed_and_token_stays_home() -> None:
    elsewhere: list[dict[str, str]] = []

    async def other(request: web.Request) -> web.Response:
        elsewhere.append(dict(request.headers))
        return web.json_response({"code": 0, "data": [US_RECORD]})

    async with server(other) as far:

        async def redirect(request: web.Request) -> web.Response:
            raise web.HTTPFound(str(far.make_url(request.path_qs)))

        async with server(redirect) as near, client_for(str(near.make_url(""))) as client:
            answer = await client.get("short_trades", "/v1/quote/AAPL.US/x", [("count", "1")])
    assert answer.status == 302
    assert elsewhere == []


async def test_timeout_and_oversized_body_become_fetch_errors() -> None:
    gave_up = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await gave_up.wait()  # answers only once the client has timed out
        return web.json_response({})

    async def huge(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 300_000, content_type="application/json")

    async with server(slow) as srv, client_for(str(srv.make_url("")), timeout=0.2) as client:
        try:
            with pytest.raises(TransportError) as caught:
                await client.get("short_trades", "/p", [])
        finally:
            gave_up.set()
    assert caught.value.code == "timeout"
    async with (
        server(huge) as srv,
        client_for(str(srv.make_url("")), max_body_bytes=100_000) as client,
    ):
        with pytest.raises(Rejected) as refused:
            await client.get("short_trades", "/p", [])
    assert refused.value.code == "body_too_large"


async def test_unparseable_numbers_become_null_and_warnings(
    make_settings: Callable[..., Any],
    query: Callable[..., list[tuple[Any, ...]]],
    task_map: Callable[[Path], dict[tuple[str, str], tuple[Any, ...]]],
) -> None:
    bad = {**US_RECORD, "close": "N/A", "ny_amount": ""}
    del bad["rate"]
    second = {**US_RECORD, "timestamp": "2026-05-14T04:00:00Z"}

    async def answer(request: web.Request) -> web.Response:
        if "short-trades" in request.path:
            return web.Response(
                body=orjson.dumps({"code": 0, "message": "success", "data": [bad, second]}),
                content_type="application/json",
            )
        return web.json_response({"ret_code": 0, "ret_msg": "success", "data": {"items": []}})

    async with server(answer) as srv:
        settings = make_settings(str(srv.make_url("")).rstrip("/"), "TSLA.US\n")
        summary = await run_sweep(settings)
    db = Path(settings.sweep.db)
    assert summary.warnings == 3 and summary.failed == 0
    assert query(
        db,
        "SELECT trade_date, nasdaq_short_volume, nyse_short_volume, total_volume, "
        "short_ratio, close FROM short_trades ORDER BY trade_date",
    ) == [
        ("2026-05-14", 5748485, 0, 15778974, 0.3643, 300.23),
        ("2026-05-15", 5748485, None, 15778974, None, None),
    ]
    tasks = task_map(db)
    assert tasks[("TSLA.US", "short_trades")] == ("ok", 1, 2, 3, None)
    assert tasks[("TSLA.US", "short_interest")][0] == "no_data"
    assert query(db, "SELECT warnings FROM runs") == [(3,)]


async def test_token_is_sent_as_bearer_only_when_set() -> None:
    seen: list[str | None] = []

    async def capture(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.json_response({"code": 0, "data": []})

    async with server(capture) as srv:
        url = str(srv.make_url(""))
        async with client_for(url) as client:
            await client.get("short_trades", "/p", [("count", "1")])
        settings = load_settings(None, overrides={"gateway": {"base_url": url}}, environ={})
        async with Client(settings.gateway, settings.endpoints) as anonymous:
            await anonymous.get("short_trades", "/p", [("count", "1")])
    assert seen == ["Bearer secret-token", None]


async def test_percent_encoded_path_is_sent_as_is() -> None:
    seen: list[str] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        return web.json_response({"code": 0, "data": []})

    async with server(echo) as srv, client_for(str(srv.make_url(""))) as client:
        await client.get("short_trades", "/v1/quote/A%2FB.US/short-trades", [("count", "5")])
    assert seen == ["/v1/quote/A%2FB.US/short-trades?count=5"]
