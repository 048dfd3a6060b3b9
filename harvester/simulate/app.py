"""The aiohttp application: routes, sending answers, the stats and the served-day endpoints.

It serves the dialect its service speaks: the gateway's two endpoints, or with
an :class:`.openapi.OpenApiService` the OpenAPI's two data sets (one route per
data set, the market a path segment). Besides them it serves its own, under
``/_`` (which no API path may use): ``GET /_stats`` (which also counts the body bytes each endpoint
sent), ``POST /_stats/reset``, and ``GET /_sim/today`` /
``POST /_sim/today`` to read and step the served day of a gateway running in
another process (a benchmark steps it through business days this way, keeping
its port and its counters).

The ``{symbol}`` route variable matches one path segment of the percent-
decoded path, except that aiohttp keeps ``%2F`` encoded while routing and
decodes it only in ``match_info``. So ``AAPL%2FX.US`` arrives here as the one
symbol ``AAPL/X.US`` (answered as a malformed symbol), and a raw ``/`` simply
makes a path that no route matches (404).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from .openapi import PATHS, Call, OpenApiService
from .responses import JSON, Answer
from .service import Service, requested_day

SERVICE = web.AppKey("service", Service)
"""Where the application keeps its :class:`Service`."""

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


OPENAPI = web.AppKey("openapi", OpenApiService)
"""Where an application serving the OpenAPI dialect keeps its service (as :data:`SERVICE` too)."""


def make_app(service: Service) -> web.Application:
    """An application serving the service's dialect, ``/_stats`` and ``/_sim/today``."""
    app = web.Application()
    app[SERVICE] = service
    settings = service.settings
    app.router.add_get("/_stats", _stats)
    app.router.add_post("/_stats/reset", _reset_stats)
    app.router.add_get("/_sim/today", _today)
    app.router.add_post("/_sim/today", _set_today)
    if isinstance(service, OpenApiService):
        app[OPENAPI] = service
        for name, path in PATHS.items():
            app.router.add_get(path, _openapi_endpoint(name))
        return app
    app.router.add_get(settings.short_trades_path, _endpoint("short_trades"))
    app.router.add_get(settings.short_interest_path, _endpoint("short_interest"))
    return app


def _endpoint(name: str) -> _Handler:
    """The request handler of one upstream endpoint."""

    async def handle(request: web.Request) -> web.StreamResponse:
        service = request.app[SERVICE]
        answer, delay = service.handle(
            name,
            request.match_info["symbol"],
            request.query.get("count"),
            request.headers.get("Authorization"),
        )
        if delay > 0:
            await asyncio.sleep(delay)
        cut = answer.abort_after
        service.stats.sent(name, len(answer.body) if cut is None else min(cut, len(answer.body)))
        return await send(request, answer)

    return handle


def _openapi_endpoint(name: str) -> _Handler:
    """The request handler of one OpenAPI data set."""

    async def handle(request: web.Request) -> web.StreamResponse:
        service = request.app[OPENAPI]
        url = request.rel_url
        # The signature covers the path and query exactly as sent: the raw forms.
        call = Call(
            endpoint=name,
            market=request.match_info["market"],
            path=url.raw_path,
            query=url.raw_query_string,
            parameters=tuple(request.query.items()),
            headers={key.lower(): value for key, value in request.headers.items()},
        )
        answer, delay = service.answer(call)
        try:
            if delay > 0:
                await asyncio.sleep(delay)
        finally:
            # In flight until the answer goes out, even when the client went away meanwhile.
            service.depart()
        cut = answer.abort_after
        service.stats.sent(name, len(answer.body) if cut is None else min(cut, len(answer.body)))
        return await send(request, answer)

    return handle


async def send(request: web.Request, answer: Answer) -> web.StreamResponse:
    """Send an answer, cutting the connection mid-body when it asks for that."""
    headers = dict(answer.headers)
    content_type = answer.content_type
    if not content_type.endswith("json"):
        content_type += "; charset=utf-8"
    headers["Content-Type"] = content_type
    if answer.abort_after is None:
        return web.Response(status=answer.status, body=answer.body, headers=headers)
    response = web.StreamResponse(status=answer.status, headers=headers)
    # Announce the whole body so the client knows it was cut short.
    response.content_length = len(answer.body)
    await response.prepare(request)
    await response.write(answer.body[: answer.abort_after])
    if request.transport is not None:
        request.transport.abort()
    return response


async def _stats(request: web.Request) -> web.Response:
    """``GET /_stats``: the counters as JSON, for tests and benchmarks in other processes."""
    body = orjson.dumps(request.app[SERVICE].stats.as_dict())
    return web.Response(body=body, content_type=JSON)


async def _reset_stats(request: web.Request) -> web.Response:
    """``POST /_stats/reset``: zero the counters and return them."""
    stats = request.app[SERVICE].stats
    stats.reset()
    return web.Response(body=orjson.dumps(stats.as_dict()), content_type=JSON)


async def _today(request: web.Request) -> web.Response:
    """``GET /_sim/today``: the served day and what each pair serves on it."""
    return web.Response(body=orjson.dumps(request.app[SERVICE].served()), content_type=JSON)


async def _set_today(request: web.Request) -> web.Response:
    """``POST /_sim/today`` with ``{"today": "YYYY-MM-DD"}`` or ``{"advance": N}``.

    Answers as ``GET`` does, for the new day; a body it cannot use is a 400 with
    ``{"error": reason}`` and leaves the day as it was.
    """
    service = request.app[SERVICE]
    try:
        service.set_today(requested_day(orjson.loads(await request.read()), service.today))
    except (orjson.JSONDecodeError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "not JSON"
        return web.Response(status=400, body=orjson.dumps({"error": reason}), content_type=JSON)
    return await _today(request)
