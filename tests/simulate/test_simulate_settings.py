"""The simulated gateway's settings: from a TOML-like mapping, checked per key, layered by flags.

A bad value is refused in one line naming its key; command-line flags layer over base settings;
each key has its ``HARVESTER_SIMULATE_*`` variable, refused in one line naming it. The symbols
it takes are those the harvester's symbols file takes.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import re

import pytest

from harvester.settings.symbols import parse_symbol
from harvester.simulate import GatewaySettings, add_arguments, settings_from_args
from harvester.simulate.cli import settings_markdown
from harvester.simulate.settings import env_name, from_environ
from harvester.simulate.symbols import is_canonical, parse_interest_symbol, parse_trades_symbol

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


# HARVESTER_SIMULATE_* variables ------------------------------------------------------------


@pytest.mark.timeout(10)
def test_every_field_is_read_from_its_variable():
    environ = {
        "HARVESTER_SIMULATE_TODAY": "2026-05-19",
        "HARVESTER_SIMULATE_SCHEDULES": "yes",
        "HARVESTER_SIMULATE_SEED": "4",
        "HARVESTER_SIMULATE_LATENCY": "0",
        "HARVESTER_SIMULATE_NO_DATA": "NODATAX.US, B.US",
        "HARVESTER_SIMULATE_EMPTY": '["E.US"]',
        "HARVESTER_SIMULATE_RATE_LIMIT": "{ short_trades = 5 }",
        "HARVESTER_SIMULATE_TOKEN": "123",  # text as written, though it reads as a number
        "HARVESTER_SIMULATE_OVERLOAD_ANSWER": "-5",
        "HARVESTER_SIMULATE_RATE_SCHEDULE": "[[0, 20], [20, 5]]",
        "HARVESTER_SIMULATE_HOLIDAYS": "US:2026-05-25",
        "HARVESTER_SIMULATE_SUSPENDED": '{ "TSLA.US" = "2026-05-12" }',
        "PATH": "/bin",
    }
    settings = GatewaySettings.from_mapping(from_environ(environ))
    assert settings == GatewaySettings(
        today=dt.date(2026, 5, 19),
        schedules=True,
        seed=4,
        latency=0.0,
        no_data=("NODATAX.US", "B.US"),
        empty=("E.US",),
        rate_limit={TRADES: 5},
        token="123",
        overload_answer="-5",
        rate_schedule=((0.0, 20), (20.0, 5)),
        holidays=(("US", dt.date(2026, 5, 25)),),
        suspended={"TSLA.US": dt.date(2026, 5, 12)},
    )
    assert from_environ({}) == {}


@pytest.mark.timeout(10)
def test_each_field_has_its_variable():
    for spec in dataclasses.fields(GatewaySettings):
        assert env_name(spec.name) == "HARVESTER_SIMULATE_" + spec.name.upper()
        assert env_name(spec.name) in settings_markdown()


@pytest.mark.parametrize(
    ("variable", "text", "message"),
    [
        (
            "HARVESTER_SIMULATE_TODAY",
            "soon",
            "environment HARVESTER_SIMULATE_TODAY: today must be a date like 2026-05-18, "
            "got 'soon'",
        ),
        (
            "HARVESTER_SIMULATE_TODAYY",
            "2026-05-19",
            "environment HARVESTER_SIMULATE_TODAYY: unknown setting variable; "
            "did you mean HARVESTER_SIMULATE_TODAY?",
        ),
        (
            "HARVESTER_SIMULATE_SCHEDULES",
            "maybe",
            "environment HARVESTER_SIMULATE_SCHEDULES: schedules must be true or false, "
            "got 'maybe'",
        ),
        (
            "HARVESTER_SIMULATE_RATE_LIMIT",
            "{ short_trades = 1.5 }",
            "environment HARVESTER_SIMULATE_RATE_LIMIT: rate_limit.short_trades must be an "
            "integer >= 0, got 1.5",
        ),
        (
            "HARVESTER_SIMULATE_NO_DATA",
            "00700.HK",
            "environment HARVESTER_SIMULATE_NO_DATA: no_data must be canonical symbols like "
            "'AAPL.US' or '700.HK', got '00700.HK'",
        ),
        ("HARVESTER_SIMULATE_", "x", "environment HARVESTER_SIMULATE_: unknown setting variable"),
    ],
)
@pytest.mark.timeout(10)
def test_a_bad_variable_is_one_line_naming_it(variable, text, message):
    with pytest.raises(ValueError) as caught:
        from_environ({variable: text})
    assert str(caught.value) == message


# One symbol rule: the harvester's ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["NODATAX.US", "ABCDEFGHIJ.US", "BRK.B.US", "A1.US", "700.HK", "600519.SH", "ABCDEFGHIJKL.SG"],
)
@pytest.mark.timeout(10)
def test_the_gateway_takes_every_symbol_the_harvester_does(text):
    assert parse_symbol(text).canonical == text
    assert is_canonical(text)
    assert GatewaySettings(no_data=(text,)).no_data == (text,)


@pytest.mark.parametrize(
    "text", ["ABCDEFGHIJK.US", "X.US.US", "aapl.us", "00700.HK", "AAPL", "1AAPL.US"]
)
@pytest.mark.timeout(10)
def test_the_gateway_refuses_what_the_harvester_does_not_store(text):
    assert not is_canonical(text)


@pytest.mark.timeout(10)
def test_a_long_us_code_is_served_in_both_styles():
    assert parse_trades_symbol("NODATAX.US").canonical == "NODATAX.US"
    assert parse_interest_symbol("US.ABCDEFGHIJ").canonical == "ABCDEFGHIJ.US"
