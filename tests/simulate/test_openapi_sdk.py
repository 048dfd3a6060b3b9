"""The vendor's official SDK as an oracle: pointed at the simulated gateway in OpenAPI mode
with the demo credentials, it signs, gets both data sets of both markets and reads them;
with a wrong secret it raises on the 401.

The SDK's blocking calls hold the GIL, so the gateway runs in a process of its own.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from harvester.simulate.settings import DEMO_ACCESS_TOKEN, DEMO_APP_KEY, DEMO_APP_SECRET

openapi = pytest.importorskip("longbridge.openapi")


def _context(url: str, secret: str = DEMO_APP_SECRET):
    config = openapi.Config.from_apikey(
        DEMO_APP_KEY,
        secret,
        DEMO_ACCESS_TOKEN,
        http_url=url,
        quote_ws_url="ws://127.0.0.1:1/ws",  # never reached over the HTTP transport
        enable_print_quote_packages=False,
        quote_transport=openapi.QuoteTransport.Http,
    )
    return openapi.QuoteContext(config)


def test_the_official_sdk_reads_both_data_sets_of_both_markets(gateway_process):
    with gateway_process(0, "--api", "openapi") as gateway:
        context = _context(gateway.url)
        us_trades = context.short_trades("AAPL.US", 5).data
        hk_trades = context.short_trades("00700.HK", 5).data  # zero padded, sent as given
        us_positions = context.short_positions("AAPL.US", 3).data
        hk_positions = context.short_positions("700.HK", 7).data
        with pytest.raises(Exception, match="401102"):
            _context(gateway.url, secret="not-the-secret").short_trades("AAPL.US", 1)
        with urllib.request.urlopen(f"{gateway.url}/_stats", timeout=5) as answer:
            stats = json.loads(answer.read())
    assert [len(r) for r in (us_trades, hk_trades, us_positions, hk_positions)] == [5, 5, 3, 7]
    # Unix seconds at exchange midnight, turned by the SDK into RFC 3339 UTC of that day.
    assert [r.timestamp for r in us_trades[:2]] == ["2026-05-18T04:00:00Z", "2026-05-15T04:00:00Z"]
    assert hk_trades[0].timestamp == "2026-05-17T16:00:00Z"
    assert us_positions[0].timestamp == "2026-05-15T04:00:00Z"
    assert hk_positions[0].timestamp == "2026-05-14T16:00:00Z"
    assert us_trades[0].nus_amount.isdigit() and us_trades[0].amount == ""
    assert hk_trades[0].amount.isdigit() and hk_trades[0].nus_amount == ""
    assert float(us_trades[0].rate) == pytest.approx(
        (int(us_trades[0].nus_amount) + int(us_trades[0].ny_amount))
        / int(us_trades[0].total_amount),
        abs=5e-5,
    )
    assert us_positions[0].current_shares_short.isdigit() and float(us_positions[0].days_to_cover)
    assert hk_positions[0].balance.isdigit() and float(hk_positions[0].cost) > 0
    assert stats["served_401"] == 1
    assert stats["by_endpoint"] == {"short_trades": 3, "short_positions": 2}
    assert stats["account"]["refused_rate"] == stats["account"]["refused_concurrency"] == 0
