"""Running the gateway: the :class:`Gateway` context manager and :func:`serve`."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import gc
import logging
import time
from collections.abc import Callable
from types import TracebackType

from aiohttp import web

from .account import AccountStats
from .app import make_app
from .calendars import shift_business_days
from .openapi import OpenApiService
from .service import Service
from .settings import GatewaySettings, endpoints, served_day
from .stats import GatewayStats
from .throttle_stats import ThrottleStats

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 0.5
"""Seconds in-flight answers get on close; aiohttp's default of 60 is far too long here."""


class Gateway:
    """The simulated upstream on a local port: ``async with Gateway(s) as gw: gw.url``.

    ``gw.set_today(day)`` or ``gw.advance()`` moves the served day, running or not,
    so one gateway can be stepped through business days between two sweeps.
    ``clock`` (monotonic) drives the rate limits and the stats, ``wall`` (unix
    seconds) the daily quota's UTC day and the OpenAPI dialect's ``x-timestamp``
    check and its default ``last_timestamp``; tests pin both.
    """

    def __init__(
        self,
        settings: GatewaySettings | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings if settings is not None else GatewaySettings()
        self.host = host
        api = self._settings.api
        account = AccountStats() if api == "openapi" else None
        throttle = ThrottleStats() if self._settings.throttled else None
        self.stats = GatewayStats(endpoints(api), account, throttle)
        self._wanted_port = port
        self._port: int | None = None
        self._clock = clock
        self._wall = wall
        self._runner: web.AppRunner | None = None
        self._service: Service | None = None

    def __repr__(self) -> str:
        where = self.url if self._port is not None else "not started"
        return f"<Gateway {where} {self.stats!r}>"

    @property
    def settings(self) -> GatewaySettings:
        """The settings it serves by, with the served day as it is now."""
        return self._service.settings if self._service is not None else self._settings

    @property
    def today(self) -> dt.date:
        """The day served: the data as published by then."""
        return self.settings.today

    def set_today(self, day: dt.date | str) -> dt.date:
        """Serve the data as published by ``day`` (a date or ``YYYY-MM-DD``) from now on.

        Takes effect with the next request; returns the day. Fault scripts, request
        numbers and stats carry on. Also moved by ``POST /_sim/today``, for a
        gateway in another process.
        """
        if self._service is not None:
            return self._service.set_today(day)
        self._settings = dataclasses.replace(self._settings, today=served_day(day))
        return self._settings.today

    def advance(self, days: int = 1) -> dt.date:
        """Step the served day ``days`` business days on (back when negative); returns it."""
        return self.set_today(shift_business_days(self.today, days))

    @property
    def port(self) -> int:
        """The bound port (the free one picked when asked for port 0)."""
        if self._port is None:
            raise RuntimeError("the gateway is not running")
        return self._port

    @property
    def url(self) -> str:
        """Base URL such as ``http://127.0.0.1:8787``, without a trailing slash."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> Gateway:
        """Bind and start answering; fails if already started."""
        if self._runner is not None:
            raise RuntimeError("the gateway is already running")
        service: Service
        if self._settings.api == "openapi":
            service = OpenApiService(self._settings, self.stats, self._clock, self._wall)
        else:
            service = Service(self._settings, self.stats, self._clock, self._wall)
        self._service = service
        # No access log: a benchmark would drown stderr in lines.
        runner = web.AppRunner(make_app(service), access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
        self._runner = runner
        try:
            await runner.setup()
            site = web.TCPSite(runner, self.host, self._wanted_port)
            await site.start()
        except BaseException:
            await self.close()
            raise
        self._port = int(runner.addresses[0][1])
        # Debug only: ``harvester simulate`` prints this line on stdout (``serve``'s ``ready``),
        # where scripts read the URL, and a second copy at INFO on stderr showed it twice.
        log.debug("simulated gateway listening on %s", self.url)
        return self

    async def close(self) -> None:
        """Stop answering and free the port; harmless when already closed."""
        runner, self._runner = self._runner, None
        self._port = None
        if self._service is not None:
            # Keep the day it was stepped to (also over HTTP) for a later start.
            self._settings, self._service = self._service.settings, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Gateway:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def serve(
    settings: GatewaySettings,
    host: str = "127.0.0.1",
    port: int = 8787,
    ready: Callable[[str], object] | None = None,
) -> None:
    """Run a gateway until cancelled; ``ready`` gets its URL once it is bound."""
    async with Gateway(settings, host, port) as gateway:
        # What exists now lives as long as the process: keep it out of the collector's
        # full passes, which otherwise hold the loop for ~20 ms and stamp the requests
        # arriving meanwhile as one bunch (the politeness figure counted them).
        gc.freeze()
        if ready is not None:
            ready(gateway.url)
        await asyncio.Event().wait()
