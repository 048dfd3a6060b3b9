"""Each adapter builds its request: the symbol in the endpoint's style, as one path segment.

Pure: a symbol and an endpoint's settings in, a RequestSpec out. The adapters are also the
catalog's endpoints, in its order.
"""

from __future__ import annotations

import pytest

from harvester.catalog import APIS, served_by
from harvester.model import Symbol
from harvester.settings.config import EndpointConfig
from harvester.upstream.endpoints import ADAPTERS, Adapter, adapters

TRADES = ADAPTERS["short_trades"]
INTEREST = ADAPTERS["short_interest"]


def config(adapter: Adapter, count: int | None = None) -> EndpointConfig:
    """The endpoint's settings at their defaults, or with ``count``."""
    endpoint = adapter.endpoint
    return EndpointConfig(
        name=endpoint.name,
        path=endpoint.path,
        count=count or endpoint.count,
        stale_after_us=endpoint.stale_after_us,
        stale_after_hk=endpoint.stale_after_hk,
    )


@pytest.mark.parametrize("api", APIS)
def test_the_adapters_are_the_catalogs_endpoints_in_its_order(api: str) -> None:
    # The settings come from the catalog, the sweep runs the adapters: they must agree.
    served = adapters(api)
    assert [adapter.endpoint for adapter in served.values()] == list(served_by(api))
    assert list(served) == [endpoint.name for endpoint in served_by(api)]


@pytest.mark.parametrize(
    ("adapter", "symbol", "path"),
    [
        (TRADES, Symbol("700", "HK"), "/v1/quote/700.HK/short-selling/short-trades"),
        (INTEREST, Symbol("700", "HK"), "/v1/quote/HK.00700/short-selling/short-interest"),
        (TRADES, Symbol("BRK.B", "US"), "/v1/quote/BRK.B.US/short-selling/short-trades"),
        (INTEREST, Symbol("BRK.B", "US"), "/v1/quote/US.BRK.B/short-selling/short-interest"),
    ],
)
def test_request_puts_the_symbol_in_the_endpoints_style(
    adapter: Adapter, symbol: Symbol, path: str
) -> None:
    endpoint = config(adapter, count=7)
    spec = adapter.request(symbol, endpoint.path, endpoint.count)
    assert spec.path == path
    assert spec.query == (("count", "7"),)


@pytest.mark.parametrize("adapter", [TRADES, INTEREST], ids=lambda a: a.name)
@pytest.mark.parametrize(
    ("code", "encoded"),
    [("A/B", "A%2FB"), ("A B", "A%20B"), ("A?B", "A%3FB"), ("A#B", "A%23B"), ("A%2FB", "A%252FB")],
)
def test_request_encodes_the_symbol_as_one_path_segment(
    adapter: Adapter, code: str, encoded: str
) -> None:
    endpoint = config(adapter)
    spec = adapter.request(Symbol(code, "US"), endpoint.path, endpoint.count)
    assert encoded in spec.path
    assert spec.path.count("/") == endpoint.path.count("/")
    assert " " not in spec.path
    assert "?" not in spec.path
    assert "#" not in spec.path
