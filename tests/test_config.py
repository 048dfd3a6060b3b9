"""Unit tests of settings resolution (harvester/config.py): pure, no network, no event loop.

Every call passes an explicit ``environ`` dict, never the real environment. Checks the
documented defaults, the order defaults < file < environment < flags, the shipped config
file, and that every bad setting is one ConfigError line naming the key and the file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.config import (
    EndpointConfig,
    GatewayConfig,
    Settings,
    SweepConfig,
    env_name,
    load_settings,
)
from harvester.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "config" / "harvester.toml"

DEFAULT_GATEWAY = GatewayConfig(
    base_url="http://127.0.0.1:8787",
    token_env="HARVESTER_TOKEN",
    timeout=10.0,
    connect_timeout=5.0,
    max_body_bytes=4_194_304,
)
DEFAULT_SWEEP = SweepConfig(
    symbols="symbols.txt",
    db="harvest.sqlite",
    workers=32,
    max_attempts=5,
    backoff_base=0.5,
    backoff_max=30.0,
    retry_after_max=60.0,
    retry_unknown=False,
    strict=False,
    commit_interval=0.25,
    commit_tasks=500,
    log_interval=5.0,
    grace_period=10.0,
    outage_max=300.0,
    resume_max_age=20.0,
    event_loop="auto",
)
DEFAULT_ENDPOINTS = (
    EndpointConfig(
        name="short_trades",
        path="/v1/quote/{symbol}/short-selling/short-trades",
        count=20,
        rate=10.0,
        burst=1,
        concurrency=5,
    ),
    EndpointConfig(
        name="short_interest",
        path="/v1/quote/{symbol}/short-selling/short-interest",
        count=30,
        rate=10.0,
        burst=1,
        concurrency=5,
    ),
)


def write(tmp_path: Path, text: str, name: str = "harvester.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings resolved from nothing: no file in the working directory, empty environment."""
    monkeypatch.chdir(tmp_path)
    return load_settings(None, environ={})


# Defaults and the shipped file -----------------------------------------------------------


def test_defaults_are_the_documented_ones(defaults: Settings) -> None:
    assert defaults.source == "defaults"
    assert defaults.gateway == DEFAULT_GATEWAY
    assert defaults.sweep == DEFAULT_SWEEP
    assert defaults.endpoints == DEFAULT_ENDPOINTS
    assert dict(defaults.simulate) == {}


def test_headline_defaults(defaults: Settings) -> None:
    assert defaults.gateway.base_url == "http://127.0.0.1:8787"
    assert defaults.sweep.workers == 32
    assert defaults.sweep.max_attempts == 5
    trades = defaults.endpoint("short_trades")
    assert (trades.count, trades.rate, trades.burst, trades.concurrency) == (20, 10.0, 1, 5)
    assert type(trades.rate) is float
    assert defaults.endpoint("short_interest").count == 30


def test_unknown_endpoint_name_is_a_key_error(defaults: Settings) -> None:
    with pytest.raises(KeyError):
        defaults.endpoint("nope")


def test_the_default_file_in_the_working_directory_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    write(tmp_path / "config", "[sweep]\nworkers = 7\n")
    settings = load_settings(None, environ={})
    assert settings.sweep.workers == 7
    assert settings.source == str(Path("config/harvester.toml"))


def test_the_shipped_file_loads_and_equals_the_defaults(defaults: Settings) -> None:
    shipped = load_settings(SHIPPED, environ={})
    assert shipped.source == str(SHIPPED)
    assert shipped.gateway == defaults.gateway
    assert shipped.sweep == defaults.sweep
    assert shipped.endpoints == defaults.endpoints
    # The only section it adds is the simulated gateway's own.
    assert shipped.simulate["seed"] == 1
    assert shipped.simulate["error_rate"] == 0.02


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


def test_the_file_overrides_the_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, LAYERED_FILE), environ={})
    assert settings.sweep.workers == 8
    assert settings.endpoint("short_trades").rate == 4.0
    assert type(settings.endpoint("short_trades").rate) is float
    # What the file leaves out keeps its default.
    assert settings.sweep.max_attempts == 5
    assert settings.endpoint("short_interest").rate == 10.0


def test_the_environment_overrides_the_file(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, LAYERED_FILE), environ=ENV)
    assert settings.sweep.workers == 16
    assert settings.endpoint("short_trades").rate == 6.5
    assert settings.endpoint("short_interest").rate == 10.0


def test_flags_override_the_environment(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, LAYERED_FILE), overrides=FLAGS, environ=ENV)
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
        ("[endpoints.short_trades]\nrate = 0\n", ["[endpoints.short_trades] rate", "zero"]),
        ("[endpoints.short_trades]\nrate = -1\n", ["[endpoints.short_trades] rate", "zero"]),
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
    tmp_path: Path, text: str, names: list[str]
) -> None:
    path = write(tmp_path, text, name="bad.toml")
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert str(path) in message
    for name in names:
        assert name in message
    assert "\n" not in message


def test_a_missing_file_is_one_error_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert str(path) in message
    assert "not found" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"HARVESTER_SWEEP_WORKERS": "lots"}, ["HARVESTER_SWEEP_WORKERS", "expected int"]),
        ({"HARVESTER_SWEEP_WORKERS": "0"}, ["HARVESTER_SWEEP_WORKERS", "zero"]),
        ({"HARVESTER_ENDPOINTS_SHORT_TRADES_RATE": "-1"}, ["SHORT_TRADES_RATE", "zero"]),
        ({"HARVESTER_ENDPOINTS_SHORT_TRADES_RATE": "inf"}, ["SHORT_TRADES_RATE"]),
        ({"HARVESTER_SWEEP_STRICT": "maybe"}, ["HARVESTER_SWEEP_STRICT", "expected bool"]),
        ({"HARVESTER_GATEWAY_BASE_URL": "localhost"}, ["HARVESTER_GATEWAY_BASE_URL"]),
    ],
)
def test_a_bad_environment_value_is_one_error_line_naming_the_variable(
    defaults: Settings, environ: dict[str, str], names: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ=environ)
    message = str(info.value)
    for name in names:
        assert name in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"sweep": {"workers": "8"}}, ["[sweep] workers", "expected int"]),
        ({"sweep": {"workers": 0}}, ["[sweep] workers", "zero"]),
        ({"gateway": {"base_url": "example.com"}}, ["[gateway] base_url"]),
    ],
)
def test_a_bad_flag_is_one_error_line_naming_the_setting(
    defaults: Settings, overrides: dict[str, dict[str, object]], names: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, overrides=overrides, environ={})
    message = str(info.value)
    for name in names:
        assert name in message
    assert "\n" not in message
