"""``short_trades``: daily short-sale volume (US) or turnover (HK); ``CODE.MARKET`` symbols.

Envelope ``{"code": 0, "message": ..., "data": [...]}``, every value a string,
``timestamp`` is midnight of the trading day in the exchange's zone, in UTC:
the HK day 2026-05-18 arrives as ``2026-05-17T16:00:00Z``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, ClassVar

from harvester import catalog
from harvester.errors import MalformedResponse
from harvester.model import Symbol
from harvester.upstream.endpoints.base import Adapter, Column, Field, as_code, classify_code
from harvester.upstream.endpoints.values import rfc3339_dates, to_float, to_int


class ShortTrades(Adapter):
    """Adapter for the daily short-sale volume endpoint."""

    endpoint = catalog.SHORT_TRADES
    table = "short_trades"
    columns = (
        Column("nasdaq_short_volume", "INTEGER"),
        Column("nyse_short_volume", "INTEGER"),
        Column("total_volume", "INTEGER"),
        Column("short_turnover", "REAL"),
        Column("short_balance", "REAL"),
        Column("total_turnover", "REAL"),
        Column("short_ratio", "REAL"),
        Column("close", "REAL"),
    )
    fields: ClassVar[Mapping[str, tuple[Field, ...]]] = {
        "US": (
            Field("nus_amount", "nasdaq_short_volume", to_int),
            Field("ny_amount", "nyse_short_volume", to_int),
            Field("total_amount", "total_volume", to_int),
            Field("rate", "short_ratio", to_float),
            Field("close", "close", to_float),
        ),
        "HK": (
            Field("amount", "short_turnover", to_float),
            Field("balance", "short_balance", to_float),
            Field("total_amount", "total_turnover", to_float),
            Field("rate", "short_ratio", to_float),
            Field("close", "close", to_float),
        ),
    }

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
        return rfc3339_dates([record.get("timestamp") for record in records], tz), 0


SHORT_TRADES = ShortTrades()
