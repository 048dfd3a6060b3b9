"""Settings of the served day, the schedules and the restatements: TOML names, checks, flags.

``today`` is the served day; ``schedules`` is a boolean and ``restate_rate`` a fraction;
``--date``, ``--schedules`` and ``--restate-rate`` layer over the base settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import re

import pytest

from harvester.simulate import GatewaySettings, add_arguments, settings_from_args


def test_today_schedules_and_restate_rate():
    assert GatewaySettings().today == dt.date(2026, 5, 18)
    assert GatewaySettings().schedules is False and GatewaySettings().restate_rate == 0.05
    new = GatewaySettings.from_mapping(
        {"today": "2026-06-01", "schedules": True, "restate_rate": 0}
    )
    assert new.today == dt.date(2026, 6, 1) and new.schedules is True
    assert new.restate_rate == 0.0 and isinstance(new.restate_rate, float)


@pytest.mark.parametrize(
    ("mapping", "named"),
    [
        ({"anchor_date": "2026-06-01"}, "anchor_date"),  # the name before 0.2: unknown now
        ({"today": "June 1"}, "today"),
        ({"today": "1899-12-29"}, "today"),
        ({"today": 20260601}, "today"),
        ({"schedules": 1}, "schedules"),
        ({"schedules": "true"}, "schedules"),
        ({"restate_rate": 1.5}, "restate_rate"),
        ({"restate_rate": True}, "restate_rate"),
        ({"short_trades_path": "/_sim/{symbol}"}, "short_trades_path"),
    ],
)
def test_bad_values_name_the_key(mapping, named):
    with pytest.raises(ValueError, match=re.escape(named)) as caught:
        GatewaySettings.from_mapping(mapping)
    assert "\n" not in str(caught.value)


def test_flags_set_the_day_the_schedules_and_the_rate():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = GatewaySettings(seed=1)
    ns = parser.parse_args(["--date", "2026-05-20", "--schedules", "--restate-rate", "0.5"])
    assert settings_from_args(ns, base) == dataclasses.replace(
        base, today=dt.date(2026, 5, 20), schedules=True, restate_rate=0.5
    )
    on = dataclasses.replace(base, schedules=True)
    assert settings_from_args(parser.parse_args(["--no-schedules"]), on).schedules is False
    assert settings_from_args(parser.parse_args([]), on) == on


@pytest.mark.parametrize(
    "flags",
    [
        ["--date", "someday"],
        ["--date", "1700-01-01"],
        ["--restate-rate", "2"],
        ["--error-rate", "-1"],
    ],
)
def test_a_bad_flag_value_is_a_usage_error_naming_the_setting(capsys, flags):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with pytest.raises(SystemExit) as caught:
        parser.parse_args(flags)
    assert caught.value.code == 2
    named = {"--date": "today"}.get(flags[0], flags[0][2:].replace("-", "_"))
    assert f"simulate: {named} must be" in capsys.readouterr().err
