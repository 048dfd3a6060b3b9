"""Running the gateway: the :class:`Gateway` context manager and :func:`serve`."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from types import TracebackType

from aiohttp import web

from .app import make_app
from .service import Service
from .settings import GatewaySettings
from .stats import GatewayStats

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 0.5
"""Seconds in-flight answers get on close; aiohttp's default of 60 is far too long here."""


class Gateway:
    """The simulated upstream on a local port: ``async with Gateway(s) as gw: gw.url``."""

    def __init__(
        self,
        settings: GatewaySettings | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings if settings is not None else GatewaySettings()
        self.host = host
        self.stats = GatewayStats()
        self._wanted_port = port
        self._port: int | None = None
        self._clock = clock
        self._runner: web.AppRunner | None = None

    def __repr__(self) -> str:
        where = self.url if self._port is not None else "not started"
        return f"<Gateway {where} {self.stats!r}>"

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
        service = Service(self.settings, self.stats, self._clock)
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
        log.info("simulated gateway listening on %s", self.url)
        return self

    async def close(self) -> None:
        """Stop answering and free the port; harmless when already closed."""
        runner, self._runner = self._runner, None
        self._port = None
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
