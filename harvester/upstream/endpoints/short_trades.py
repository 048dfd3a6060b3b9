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
from harvester.upstream.endpoints.base import Adapter, as_code, classify_code
from harvester.upstream.endpoints.values import rfc3339_date


class ShortTrades(Adapter):
    """Adapter for the daily short-sale volume endpoint."""

    endpoint = catalog.SHORT_TRADES

    def format_symbol(self, symbol: Symbol) -> str:
        """``700.HK``, ``AAPL.US``: the canonical form is this endpoint's style."""
        return symbol.canonical

    def envelope(self, document: Any, retry_unknown: bool) -> Sequence[Any]:
        """The ``data`` list of a ``code``/``message`` envelope."""
        if not isinstance(document, dict) or "code" not in document:
            raise MalformedResponse("answer is not a code/message envelope", code="malformed_body")
        code = as_code(document.get("code"))
        if code is None:
            raise MalformedResponse(
                f"envelope code {document.get('code')!r} is not a number", code="malformed_body"
            )
        if code != 0:
            message = document.get("message")
            raise classify_code(
                code, None, message if isinstance(message, str) else "", retry_unknown=retry_unknown
            )
        data = document.get("data")
        if data is None:
            return []
        if not isinstance(data, list):
            raise MalformedResponse("envelope data is not a list", code="malformed_body")
        return data

    def record_dates(self, records: list[dict[str, Any]], tz: str) -> tuple[list[date | None], int]:
        """The exchange-local days of the records' ``timestamp``s."""
        return [rfc3339_date(record.get("timestamp"), tz) for record in records], 0


SHORT_TRADES = ShortTrades()
