"""The gateway's endpoints as plain facts: name, default path, default count and its range.

These facts sit below both readers: ``config`` takes the ``[endpoints.NAME]``
defaults and the ``count`` check from here, and each adapter module in
``harvester/upstream/endpoints/`` names its entry. They cannot live inside that package,
whose adapters import ``config``: ``config`` importing them back would be a cycle.
Adding an endpoint is one entry here and one adapter module.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """One upstream endpoint: its name, default path template and ``count`` limits."""

    name: str
    path: str
    count: int
    count_range: tuple[int, int]  # records per request the upstream API documents, inclusive


SHORT_TRADES = Endpoint(
    name="short_trades",
    path="/v1/quote/{symbol}/short-selling/short-trades",
    count=20,
    count_range=(1, 100),
)
SHORT_INTEREST = Endpoint(
    name="short_interest",
    path="/v1/quote/{symbol}/short-selling/short-interest",
    count=30,
    count_range=(1, 90),
)
ENDPOINTS = (SHORT_TRADES, SHORT_INTEREST)
