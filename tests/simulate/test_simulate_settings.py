"""The simulated gateway's settings: from a TOML-like mapping, checked per key, layered by flags.

A bad value is refused in one line naming its key; command-line flags layer over base settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import re

import pytest

from harvester.simulate import GatewaySettings, add_arguments, settings_from_args

TRADES = "short_trades"
INTEREST = "short_interest"


def test_settings_from_a_toml_like_mapping():
    settings = GatewaySettings.from_mapping(
        {
            "seed": 4,
            "latency": 0,
            "rate_limit": {"short_trades": 5},
            "no_data": ["AAPL.US"],
            "scripted": {"700.HK": ["internal_error", "*"]},
            "today": "2026-05-15",
        }
    )
    assert settings.latency == 0.0 and isinstance(settings.latency, float)
    assert settings.no_data == ("AAPL.US",)
    assert settings.scripted == {"700.HK": ("internal_error", "*")}
    assert settings.today == dt.date(2026, 5, 15)
    assert GatewaySettings.from_mapping({}) == GatewaySettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.seed = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("mapping", "named"),
    [
        ({"sed": 1}, "sed"),
        ({"seed": "1"}, "seed"),
        ({"seed": True}, "seed"),
        ({"latency": -1}, "latency"),
        ({"error_rate": 1.5}, "error_rate"),
        ({"rate_limit": {"trades": 1}}, "rate_limit"),
        ({"rate_limit": {"short_trades": 1.5}}, "rate_limit.short_trades"),
        ({"no_data": "AAPL.US"}, "no_data"),
        ({"no_data": ["00700.HK"]}, "no_data"),
        ({"scripted": {"AAPL.US": ["boom"]}}, "scripted.AAPL.US"),
        ({"scripted": {"AAPL.US": ["*"]}}, "scripted.AAPL.US"),
        ({"token": 5}, "token"),
        ({"today": "May 15"}, "today"),
        ({"anchor_date": "2026-05-15"}, "anchor_date"),  # the name before 0.2: unknown now
        ({"short_trades_path": "/v1/{sym}"}, "short_trades_path"),
    ],
)
def test_bad_settings_name_the_key(mapping, named):
    with pytest.raises(ValueError, match=re.escape(named)) as caught:
        GatewaySettings.from_mapping(mapping)
    assert "\n" not in str(caught.value)


def test_fault_rates_may_not_exceed_one():
    with pytest.raises(ValueError, match="rates"):
        GatewaySettings(error_rate=0.6, malformed_rate=0.6)


def test_flags_layer_over_base_settings():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = GatewaySettings(no_data=("A.US",), rate_limit={INTEREST: 2}, seed=1)
    ns = parser.parse_args(
        [
            "--seed=5",
            "--error-rate=0.1",
            "--http-429-rate=0.05",
            "--http-5xx-rate=0.05",
            "--malformed-rate=0.05",
            "--latency=0.25",
            "--no-data=B.US",
            "--rate-limit=short_trades=4",
            "--script=700.HK=http_500,*",
            "--token=t",
        ]
    )
    settings = settings_from_args(ns, base)
    assert settings == dataclasses.replace(
        base,
        seed=5,
        error_rate=0.1,
        http_429_rate=0.05,
        http_5xx_rate=0.05,
        malformed_rate=0.05,
        latency=0.25,
        no_data=("A.US", "B.US"),
        rate_limit={INTEREST: 2, TRADES: 4},
        scripted={"700.HK": ("http_500", "*")},
        token="t",
    )
    assert settings_from_args(parser.parse_args([]), base) == base
