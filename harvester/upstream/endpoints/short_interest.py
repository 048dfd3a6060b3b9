"""``short_interest``: short interest reports; ``MARKET.CODE`` symbols, HK codes of five digits.

Envelope ``{"ret_code": 0, "ret_msg": ..., "data": {"items": [...]}}``; errors may
carry a string ``error.code``. ``timestamp`` is integer milliseconds, ratios and
prices JSON numbers, share counts strings. The date is ``timestamp_str``,
checked against ``timestamp`` taken in the exchange's zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from operator import ne
from typing import Any

from harvester import catalog
from harvester.errors import MalformedResponse
from harvester.model import Symbol
from harvester.upstream.endpoints.base import Adapter, as_code, classify_code
from harvester.upstream.endpoints.values import epoch_ms_date, iso_date


class ShortInterest(Adapter):
    """Adapter for the short interest endpoint."""

    endpoint = catalog.SHORT_INTEREST

    def format_symbol(self, symbol: Symbol) -> str:
        """``HK.00700``, ``US.AAPL``, ``US.BRK.B``."""
        code = symbol.code.zfill(5) if symbol.market == "HK" else symbol.code
        return f"{symbol.market}.{code}"

    def envelope(self, document: Any, retry_unknown: bool) -> Sequence[Any]:
        """The ``data.items`` list of a ``ret_code``/``ret_msg`` envelope."""
        if not isinstance(document, dict) or "ret_code" not in document:
            raise MalformedResponse(
                "answer is not a ret_code/ret_msg envelope", code="malformed_body"
            )
        code = as_code(document.get("ret_code"))
        if code is None:
            raise MalformedResponse(
                f"envelope ret_code {document.get('ret_code')!r} is not a number",
                code="malformed_body",
            )
        if code != 0:
            error = document.get("error")
            name = error.get("code") if isinstance(error, dict) else None
            message = document.get("ret_msg")
            raise classify_code(
                code,
                name if isinstance(name, str) else None,
                message if isinstance(message, str) else "",
                retry_unknown=retry_unknown,
            )
        data = document.get("data")
        if data is None:
            return []
        items = data.get("items") if isinstance(data, dict) else None
        if items is None and isinstance(data, dict):
            return []
        if not isinstance(items, list):
            raise MalformedResponse("envelope data.items is not a list", code="malformed_body")
        return items

    def record_dates(self, records: list[dict[str, Any]], tz: str) -> tuple[list[date | None], int]:
        """Each record's ``timestamp_str``, else its ``timestamp`` in zone ``tz``.

        Falling back is a warning, and so is a ``timestamp`` that disagrees.
        """
        stated = [iso_date(record.get("timestamp_str")) for record in records]
        derived = [epoch_ms_date(record.get("timestamp"), tz) for record in records]
        if None not in stated:
            return stated, sum(map(ne, stated, derived))
        days = [s if s is not None else d for s, d in zip(stated, derived, strict=True)]
        warnings = sum(
            1 if s is None else int(s != d) for s, d in zip(stated, derived, strict=True)
        )
        return days, warnings


SHORT_INTEREST = ShortInterest()
