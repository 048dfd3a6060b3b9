"""Fixtures for the endpoint adapter tests: one good record per endpoint and market, and parse.

A test names the record it starts from (``records["short_trades", "US"]``) and changes a copy
of it; ``with_value`` leaves a field out when given ``...`` (Ellipsis, never a JSON value).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import orjson
import pytest

from harvester.model import Symbol
from harvester.upstream.endpoints import Adapter

Record = dict[str, Any]
_TSLA = Symbol("TSLA", "US")

# As API.md shows them. Shared by every test: change a copy, never the record itself.
_RECORDS: dict[tuple[str, str], Record] = {
    ("short_trades", "US"): {
        "timestamp": "2026-05-15T04:00:00Z",
        "nus_amount": "5748485",
        "ny_amount": "0",
        "total_amount": "15778974",
        "rate": "0.3643",
        "close": "300.230",
    },
    ("short_trades", "HK"): {
        "timestamp": "2026-05-17T16:00:00Z",
        "amount": "2926000",
        "balance": "1318056100.00",
        "total_amount": "29497076",
        "rate": "0.0992",
        "close": "449.2",
    },
    ("short_interest", "US"): {
        "timestamp": 1778731200000,
        "timestamp_str": "2026-05-14",
        "shares_short": "81234567",
        "short_percent": 2.61,
        "avg_daily_share_volume": "95123456",
        "days_to_cover": 1.2,
        "close_price": 300.23,
        "last_close_price": 298.1,
        "avg_daily_short_volume": "4123456",
    },
    ("short_interest", "HK"): {
        "aggregated_short": "54177721",
        "aggregated_short_ratio": 0.59,
        "avg_cost": 456.399,
        "avg_daily_short_volume": "3755740",
        "close_price": 456.4,
        "last_close_price": 454.9,
        "timestamp": 1778774400000,
        "timestamp_str": "2026-05-15",
    },
}


def _parse(
    adapter: Adapter,
    body: Any,
    symbol: Symbol = _TSLA,
    *,
    status: int = 200,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    retry_unknown: bool = False,
    now: datetime | None = None,
) -> Any:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return adapter.parse(
        symbol, status, content_type, headers or {}, raw, retry_unknown=retry_unknown, now=now
    )


def _with_value(record: Mapping[str, Any], field: str, value: Any) -> Record:
    changed = dict(record)
    if value is ...:
        del changed[field]
    else:
        changed[field] = value
    return changed


@pytest.fixture(scope="session")
def records() -> dict[tuple[str, str], Record]:
    """One good record per ``(endpoint, market)``; copy it to change it."""
    return _RECORDS


@pytest.fixture(scope="session")
def parse() -> Callable[..., Any]:
    """``parse(adapter, body, symbol=TSLA, *, status=200, ...)``: a body (bytes or JSON) parsed."""
    return _parse


@pytest.fixture(scope="session")
def with_value() -> Callable[[Mapping[str, Any], str, Any], Record]:
    """``with_value(record, field, value)``: a copy with ``field`` set, or left out for ``...``."""
    return _with_value
