"""A simulated upstream quote gateway for tests and benchmarks.

It serves the two short-selling endpoints of ``/work/shared/API.md`` (or, with
``api = "openapi"``, the vendor's signed OpenAPI of its section 5) with
deterministic per-symbol data and named fault modes (error codes, HTTP
errors, malformed bodies, connection resets, rate limits, a limit shared by
every endpoint that may change on a schedule, a daily quota), and counts what it
served. It serves the data as published by a served day (``today``), which a
running gateway can be stepped through; with ``schedules`` on, each market x
endpoint pair publishes on its own calendar and now and then restates a
recent record. Markets can close on holidays, and chosen symbols publish a day
late, are suspended or delisted, or have chosen records restated. It encodes
the wire format on its own, so an adapter bug shows up as a failing test: from
``harvester`` it takes only the rule of which symbols exist (the harvester's
symbol parser, so both accept the same codes) and the settings' variable names.

Modules: ``settings`` (GatewaySettings), ``symbols``, ``dates``, ``draws``
and ``data`` (the records), ``calendars`` (who publishes when), ``restate``
(which records change later), ``publishing`` (holidays, late, suspended and
delisted symbols, chosen restatements), ``faults`` and ``responses`` (what goes
on the wire), ``window`` (the sliding second), ``stats`` (counters, rate limit),
``throttle`` (a limit shared by every endpoint, its schedule, a daily quota),
``throttle_wire`` (their refusals and RateLimit header fields) and
``throttle_stats`` (their figures), ``service`` (deciding an answer),
``app`` (aiohttp routes), ``server`` (Gateway, serve) and ``cli`` (flags). The
OpenAPI dialect adds ``signing`` (the request signature), ``account`` (the
account limit), ``positions`` (its second data set), ``history`` (pages back
through the years), ``openapi`` (deciding its answers) and ``openapi_wire``
(its envelope and error codes).
"""

from typing import TYPE_CHECKING

from .cli import add_arguments, settings_from_args
from .faults import FAULTS
from .settings import (
    DEMO_ACCESS_TOKEN,
    DEMO_APP_KEY,
    DEMO_APP_SECRET,
    DEMO_OAUTH_TOKEN,
    GatewaySettings,
)
from .stats import GatewayStats

if TYPE_CHECKING:
    from .server import Gateway, serve


def __getattr__(name: str) -> object:
    """``Gateway`` and ``serve`` load the server (aiohttp.web) on first use, not on import.

    ``harvester sweep`` imports this package for its flags; a sweep that does not
    simulate then starts without the server's import time.
    """
    if name in ("Gateway", "serve"):
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEMO_ACCESS_TOKEN",
    "DEMO_APP_KEY",
    "DEMO_APP_SECRET",
    "DEMO_OAUTH_TOKEN",
    "FAULTS",
    "Gateway",
    "GatewaySettings",
    "GatewayStats",
    "add_arguments",
    "serve",
    "settings_from_args",
]
