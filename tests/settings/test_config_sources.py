"""Settings layer defaults < file < environment < flags; a bad one is one line naming its source.

Every call passes an explicit ``environ`` dict, never the real environment (but for the one
test that checks the real environment's unknown variables are refused).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harvester.errors import ConfigError
from harvester.settings.config import (
    SECTIONS,
    EndpointConfig,
    Settings,
    SweepConfig,
    env_name,
    load_settings,
)

WriteToml = Callable[..., Path]
ConfigErrorOf = Callable[..., str]
ValueOf = Callable[[Settings, str, str], Any]


# Resolution order ------------------------------------------------------------------------

LAYERED_FILE = """
[sweep]
workers = 8

[endpoints.short_trades]
rate = 4
"""
ENV = {"HARVESTER_SWEEP_WORKERS": "16", "HARVESTER_ENDPOINTS_SHORT_TRADES_RATE": "6.5"}
FLAGS = {"sweep": {"workers": 3}, "endpoints.short_trades": {"rate": 2.0}}


def test_environment_variable_names() -> None:
    assert env_name("sweep", "workers") == "HARVESTER_SWEEP_WORKERS"
    assert env_name("endpoints.short_trades", "rate") == "HARVESTER_ENDPOINTS_SHORT_TRADES_RATE"


def test_the_file_overrides_the_defaults(write_toml: WriteToml, tmp_path: Path) -> None:
    settings = load_settings(write_toml(tmp_path, LAYERED_FILE), environ={})
    assert settings.sweep.workers == 8
    assert settings.endpoint("short_trades").rate == 4.0
    assert type(settings.endpoint("short_trades").rate) is float
    # What the file leaves out keeps its default.
    assert settings.sweep.max_attempts == 5
    assert settings.endpoint("short_interest").rate == 10.0


def test_the_environment_overrides_the_file(write_toml: WriteToml, tmp_path: Path) -> None:
    settings = load_settings(write_toml(tmp_path, LAYERED_FILE), environ=ENV)
    assert settings.sweep.workers == 16
    assert settings.endpoint("short_trades").rate == 6.5
    assert settings.endpoint("short_interest").rate == 10.0


def test_flags_override_the_environment(write_toml: WriteToml, tmp_path: Path) -> None:
    settings = load_settings(write_toml(tmp_path, LAYERED_FILE), overrides=FLAGS, environ=ENV)
    assert settings.sweep.workers == 3
    assert settings.endpoint("short_trades").rate == 2.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", True), ("true", True), ("Yes", True), ("on", True), ("0", False), ("off", False)],
)
def test_boolean_environment_values(defaults: Settings, text: str, expected: bool) -> None:
    settings = load_settings(None, environ={"HARVESTER_SWEEP_STRICT": text})
    assert settings.sweep.strict is expected


# One-line errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[sweep]\nwokers = 3\n", ["[sweep] wokers", "unknown setting"]),
        ("[swep]\nworkers = 3\n", ["[swep]", "unknown section"]),
        ("[endpoints.short_trade]\ncount = 3\n", ["[endpoints.short_trade]"]),
        ('[sweep]\nworkers = "8"\n', ["[sweep] workers", "expected int"]),
        ("[sweep]\nworkers = true\n", ["[sweep] workers", "expected int"]),
        ("[sweep]\nworkers = 2.5\n", ["[sweep] workers", "expected int"]),
        ("[endpoints.short_trades]\nrate = true\n", ["[endpoints.short_trades] rate"]),
        ("[endpoints.short_trades]\nrate = 0\n", ["[endpoints.short_trades] rate", "between"]),
        ("[endpoints.short_trades]\nrate = -1\n", ["[endpoints.short_trades] rate", "between"]),
        ("[endpoints.short_interest]\nrate = nan\n", ["[endpoints.short_interest] rate"]),
        ("[endpoints.short_trades]\nburst = -1\n", ["[endpoints.short_trades] burst"]),
        ('[endpoints.short_trades]\npath = "/v1/x"\n', ["[endpoints.short_trades] path"]),
        ('[gateway]\nbase_url = "127.0.0.1:8787"\n', ["[gateway] base_url", "http"]),
        ('[gateway]\nbase_url = "ftp://example.com"\n', ["[gateway] base_url"]),
        ("sweep = 3\n", ["[sweep]", "must be a table"]),
        ("[sweep\nworkers = 3\n", ["line 1"]),
        ("[sweep]\nworkers = \n", ["line 2"]),
    ],
)
def test_a_bad_file_is_one_error_line_naming_the_file_and_key(
    write_toml: WriteToml,
    config_error: ConfigErrorOf,
    tmp_path: Path,
    text: str,
    names: list[str],
) -> None:
    path = write_toml(tmp_path, text, name="bad.toml")
    message = config_error(path, environ={})
    assert str(path) in message
    for name in names:
        assert name in message


def test_a_missing_file_is_one_error_line_naming_it(
    config_error: ConfigErrorOf, tmp_path: Path
) -> None:
    path = tmp_path / "missing.toml"
    message = config_error(path, environ={})
    assert str(path) in message
    assert "not found" in message


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"HARVESTER_SWEEP_WORKERS": "lots"}, ["HARVESTER_SWEEP_WORKERS", "expected int"]),
        ({"HARVESTER_SWEEP_WORKERS": "0"}, ["HARVESTER_SWEEP_WORKERS", "between"]),
        ({"HARVESTER_ENDPOINTS_SHORT_TRADES_RATE": "-1"}, ["SHORT_TRADES_RATE", "between"]),
        ({"HARVESTER_ENDPOINTS_SHORT_TRADES_RATE": "inf"}, ["SHORT_TRADES_RATE"]),
        ({"HARVESTER_SWEEP_STRICT": "maybe"}, ["HARVESTER_SWEEP_STRICT", "expected bool"]),
        ({"HARVESTER_GATEWAY_BASE_URL": "localhost"}, ["HARVESTER_GATEWAY_BASE_URL"]),
    ],
)
def test_a_bad_environment_value_is_one_error_line_naming_the_variable(
    defaults: Settings, config_error: ConfigErrorOf, environ: dict[str, str], names: list[str]
) -> None:
    message = config_error(None, environ=environ)
    for name in names:
        assert name in message


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"sweep": {"workers": "8"}}, ["[sweep] workers", "expected int"]),
        ({"sweep": {"workers": 0}}, ["[sweep] workers", "between"]),
        ({"gateway": {"base_url": "example.com"}}, ["[gateway] base_url"]),
    ],
)
def test_a_bad_flag_is_one_error_line_naming_the_setting(
    defaults: Settings,
    config_error: ConfigErrorOf,
    overrides: dict[str, dict[str, object]],
    names: list[str],
) -> None:
    message = config_error(None, overrides=overrides, environ={})
    for name in names:
        assert name in message


# Unknown HARVESTER_* variables ------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        (
            "HARVESTER_SWEEP_WORKRES",
            "environment HARVESTER_SWEEP_WORKRES: unknown setting "
            "variable; did you mean HARVESTER_SWEEP_WORKERS?",
        ),
        (
            "HARVESTER_ENDPOINTS_SHORT_TRADE_RATE",
            "environment HARVESTER_ENDPOINTS_SHORT_TRADE_"
            "RATE: unknown setting variable; did you mean HARVESTER_ENDPOINTS_SHORT_TRADES_RATE?",
        ),
        (
            "HARVESTER_TOKEM",
            "environment HARVESTER_TOKEM: unknown setting variable; did you mean HARVESTER_TOKEN?",
        ),
        ("HARVESTER_XYZZY", "environment HARVESTER_XYZZY: unknown setting variable"),
        ("HARVESTER_", "environment HARVESTER_: unknown setting variable"),
    ],
)
def test_an_unknown_harvester_variable_is_refused(
    defaults: Settings, variable: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ={variable: "3", "HARVESTER_TOKEN": "t"})
    assert str(info.value) == message


def test_an_unknown_variable_in_the_real_environment_is_refused(
    defaults: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARVESTER_SWEEP_WORKRES", "3")
    with pytest.raises(ConfigError, match="HARVESTER_SWEEP_WORKRES: unknown setting variable"):
        load_settings(None)


def test_other_variables_are_left_alone(defaults: Settings) -> None:
    settings = load_settings(
        None,
        environ={
            "HARVESTER": "1",
            "harvester_sweep_workres": "1",
            "MY_HARVESTER_X": "1",
            "PATH": "/bin",
        },
    )
    assert settings.sweep == SweepConfig()


def test_every_setting_variable_and_the_token_are_accepted(
    value_of: ValueOf, default_endpoints: tuple[EndpointConfig, ...], defaults: Settings
) -> None:
    environ = {"HARVESTER_TOKEN": "secret"}
    for section, specs in SECTIONS.items():
        for spec in specs:
            value = value_of(defaults, section, spec.key)
            text = str(value).lower() if spec.type is bool else str(value)
            environ[env_name(section, spec.key)] = text
    settings = load_settings(None, environ=environ)
    assert (settings.gateway, settings.sweep) == (defaults.gateway, SweepConfig())
    assert settings.endpoints == default_endpoints


def test_the_variable_named_by_token_env_is_accepted(
    write_toml: WriteToml, defaults: Settings, tmp_path: Path
) -> None:
    path = write_toml(tmp_path, '[gateway]\ntoken_env = "HARVESTER_MY_TOKEN"\n')
    settings = load_settings(path, environ={"HARVESTER_MY_TOKEN": "secret"})
    assert settings.gateway.token_env == "HARVESTER_MY_TOKEN"
    settings = load_settings(
        None, environ={"HARVESTER_GATEWAY_TOKEN_ENV": "HARVESTER_T2", "HARVESTER_T2": "secret"}
    )
    assert settings.gateway.token_env == "HARVESTER_T2"
    # Without the file naming it, the same variable sets nothing.
    with pytest.raises(ConfigError, match="environment HARVESTER_MY_TOKEN: unknown setting"):
        load_settings(None, environ={"HARVESTER_MY_TOKEN": "secret"})
