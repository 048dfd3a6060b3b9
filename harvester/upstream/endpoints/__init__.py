"""The endpoint adapters, by dialect and data set; a sweep runs those of its dialect."""

from collections.abc import Mapping

from harvester.catalog import GATEWAY, OPENAPI
from harvester.upstream.endpoints.base import Adapter, Parsed, RequestSpec
from harvester.upstream.endpoints.openapi import OPEN_SHORT_POSITIONS, OPEN_SHORT_TRADES
from harvester.upstream.endpoints.short_interest import SHORT_INTEREST
from harvester.upstream.endpoints.short_trades import SHORT_TRADES

#: Per dialect (``[gateway] api``), its adapters by data set name.
DIALECT_ADAPTERS: Mapping[str, Mapping[str, Adapter]] = {
    GATEWAY: {adapter.name: adapter for adapter in (SHORT_TRADES, SHORT_INTEREST)},
    OPENAPI: {adapter.name: adapter for adapter in (OPEN_SHORT_TRADES, OPEN_SHORT_POSITIONS)},
}
#: The gateway dialect's adapters (the default dialect).
ADAPTERS = DIALECT_ADAPTERS[GATEWAY]


def adapters(api: str) -> Mapping[str, Adapter]:
    """The adapters of the dialect ``api``, by data set name."""
    return DIALECT_ADAPTERS[api]


__all__ = ["ADAPTERS", "Adapter", "Parsed", "RequestSpec", "adapters"]
