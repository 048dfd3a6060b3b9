"""The endpoint adapters, by name; the sweep runs every adapter listed here."""

from harvester.upstream.endpoints.base import Adapter, Parsed, RequestSpec
from harvester.upstream.endpoints.short_interest import SHORT_INTEREST
from harvester.upstream.endpoints.short_trades import SHORT_TRADES

ADAPTERS: dict[str, Adapter] = {adapter.name: adapter for adapter in (SHORT_TRADES, SHORT_INTEREST)}

__all__ = ["ADAPTERS", "Adapter", "Parsed", "RequestSpec"]
