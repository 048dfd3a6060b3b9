"""The OpenAPI dialect's settings: checked per field, layered by flags, demo credentials.

A bad value is refused in one line naming its key, as every gateway setting is.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import re

import pytest

from harvester.simulate import GatewaySettings, add_arguments, settings_from_args
from harvester.simulate.settings import (
    DEMO_ACCESS_TOKEN,
    DEMO_APP_KEY,
    DEMO_APP_SECRET,
    DEMO_OAUTH_TOKEN,
)


def test_defaults_serve_the_gateway_dialect_with_demo_credentials_for_the_openapi():
    settings = GatewaySettings()
    assert settings.api == "gateway"
    assert (settings.app_key, settings.app_secret, settings.access_token) == (
        DEMO_APP_KEY,
        DEMO_APP_SECRET,
        DEMO_ACCESS_TOKEN,
    )
    assert settings.oauth_token == DEMO_OAUTH_TOKEN
    assert (settings.account_rate, settings.account_concurrency) == (10, 5)
    assert settings.max_clock_skew == 300.0
    assert settings.history_start == dt.date(2015, 1, 1)


def test_openapi_settings_from_a_toml_like_mapping():
    settings = GatewaySettings.from_mapping(
        {
            "api": "openapi",
            "app_key": "k",
            "app_secret": "s",
            "access_token": "t",
            "oauth_token": None,
            "max_clock_skew": 5,
            "account_rate": 0,
            "account_concurrency": 2,
            "history_start": "2020-01-01",
            "rate_limit": {"short_positions": 3},
        }
    )
    assert settings.max_clock_skew == 5.0 and isinstance(settings.max_clock_skew, float)
    assert settings.history_start == dt.date(2020, 1, 1)
    assert settings.rate_limit == {"short_positions": 3}


@pytest.mark.parametrize(
    ("mapping", "named"),
    [
        ({"api": "rest"}, "api"),
        ({"app_key": ""}, "app_key"),
        ({"app_secret": 5}, "app_secret"),
        ({"access_token": " t "}, "access_token"),
        ({"oauth_token": ""}, "oauth_token"),
        ({"max_clock_skew": -1}, "max_clock_skew"),
        ({"account_rate": -1}, "account_rate"),
        ({"account_concurrency": 1.5}, "account_concurrency"),
        ({"account_rate": True}, "account_rate"),
        ({"history_start": "2015"}, "history_start"),
        ({"rate_limit": {"short_position": 1}}, "rate_limit"),
    ],
)
def test_bad_openapi_settings_name_the_key(mapping, named):
    with pytest.raises(ValueError, match=re.escape(named)) as caught:
        GatewaySettings.from_mapping(mapping)
    assert "\n" not in str(caught.value)


def test_flags_choose_the_dialect_and_its_limits():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = GatewaySettings(seed=1)
    ns = parser.parse_args(
        [
            "--api=openapi",
            "--account-rate=3",
            "--account-concurrency=0",
            "--max-clock-skew=30",
            "--history-start=2020-02-03",
        ]
    )
    assert settings_from_args(ns, base) == dataclasses.replace(
        base,
        api="openapi",
        account_rate=3,
        account_concurrency=0,
        max_clock_skew=30.0,
        history_start=dt.date(2020, 2, 3),
    )
    assert settings_from_args(parser.parse_args([]), base) == base


@pytest.mark.parametrize("argv", [["--api=rest"], ["--account-rate=-2"], ["--history-start=soon"]])
def test_bad_flags_are_usage_errors(argv, capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with pytest.raises(SystemExit) as caught:
        parser.parse_args(argv)
    assert caught.value.code == 2
    assert "Traceback" not in capsys.readouterr().err
