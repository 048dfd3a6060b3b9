"""A simulated upstream quote gateway for tests and benchmarks.

It serves the two short-selling endpoints of ``/work/shared/API.md`` with
deterministic per-symbol data and named fault modes (error codes, HTTP
errors, malformed bodies, connection resets, rate limits), and counts what it
served. It encodes the wire format on its own and imports nothing else from
``harvester``, so an adapter bug shows up as a failing test.

Modules: ``settings`` (GatewaySettings), ``symbols``, ``dates``, ``draws``
and ``data`` (the records), ``faults`` and ``responses`` (what goes on the wire),
``stats`` (counters, rate limit), ``service`` (deciding an answer),
``app`` (aiohttp routes), ``server`` (Gateway, serve) and ``cli`` (flags).
"""

from .cli import add_arguments, settings_from_args
from .faults import FAULTS
from .server import Gateway, serve
from .settings import GatewaySettings
from .stats import GatewayStats

__all__ = [
    "FAULTS",
    "Gateway",
    "GatewaySettings",
    "GatewayStats",
    "add_arguments",
    "serve",
    "settings_from_args",
]
