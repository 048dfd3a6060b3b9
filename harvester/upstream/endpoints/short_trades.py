"""``short_trades``: daily short-sale volume (US) or turnover (HK); ``CODE.MARKET`` symbols.

Envelope ``{"code": 0, "message": ..., "data": [...]}``, every value a string,
``timestamp`` is midnight of the trading day in the exchange's zone, in UTC:
the HK day 2026-05-18 arrives as ``2026-05-17T16:00:00Z``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from harvester import catalog
from harvester.errors import MalformedResponse
from harvester.model import Symbol
from harvester.upstream.endpoints.base import Adapter, classify_code, code_envelope_data
from harvester.upstream.endpoints.values import rfc3339_date


class ShortTrades(Adapter):
    """Adapter for the daily short-sale volume endpoint."""

    endpoint = catalog.SHORT_TRADES

    def format_symbol(self, symbol: Symbol) -> str:
        """``700.HK``, ``AAPL.US``: the canonical form is this endpoint's style."""
        return symbol.canonical

    def envelope(self, document: Any, retry_unknown: bool) -> Sequence[Any]:
        """The ``data`` list of a ``code``/``message`` envelope."""
        data = code_envelope_data(
            document,
            lambda code, message: classify_code(code, None, message, retry_unknown=retry_unknown),
        )
        if data is None:
            return []
        if not isinstance(data, list):
            raise MalformedResponse("envelope data is not a list", code="malformed_body")
        return data

    def record_dates(self, records: list[dict[str, Any]], tz: str) -> tuple[list[date | None], int]:
        """The exchange-local days of the records' ``timestamp``s."""
        return [rfc3339_date(record.get("timestamp"), tz) for record in records], 0


SHORT_TRADES = ShortTrades()
