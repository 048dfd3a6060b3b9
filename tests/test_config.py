"""Unit tests of settings resolution (harvester/config.py): pure, no network, no event loop.

Every call passes an explicit ``environ`` dict, never the real environment. Checks the
declared defaults, the order defaults < file < environment < flags, that the shipped config
file and README's settings table are the generated ones, and that every bad setting is one
ConfigError line naming the key and the file.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from harvester.config import (
    SECTIONS,
    EndpointConfig,
    GatewayConfig,
    Settings,
    SweepConfig,
    env_name,
    load_settings,
)
from harvester.endpoint_catalog import ENDPOINTS
from harvester.errors import ConfigError
from harvester.settings_doc import default_toml, settings_table

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "config" / "harvester.toml"
README = ROOT / "README.md"

# The defaults as declared (once, in config and endpoint_catalog), never copied here.
DEFAULT_ENDPOINTS = tuple(EndpointConfig(name=endpoint.name, path=endpoint.path,
                                         count=endpoint.count) for endpoint in ENDPOINTS)


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


def test_defaults_are_the_declared_ones(defaults: Settings) -> None:
    assert defaults.source == "defaults"
    assert defaults.gateway == GatewayConfig()
    assert defaults.sweep == SweepConfig()
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


def test_the_shipped_file_lists_every_setting() -> None:
    with SHIPPED.open("rb") as handle:
        data = tomllib.load(handle)
    tables = {"gateway": data["gateway"], "sweep": data["sweep"]}
    tables.update({f"endpoints.{name}": table for name, table in data["endpoints"].items()})
    assert set(tables) == set(SECTIONS)
    for section, specs in SECTIONS.items():
        assert list(tables[section]) == [spec.key for spec in specs], section


def test_the_shipped_file_is_the_generated_one() -> None:
    assert SHIPPED.read_text(encoding="utf-8") == default_toml()


def test_the_readme_settings_table_is_the_generated_one() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("| section | key | default | range | meaning |")
    end = text.index("\n\n", start) + 1
    assert text[start:end] == settings_table()


@pytest.mark.parametrize(
    ("cls", "sections"),
    [(GatewayConfig, ["gateway"]), (SweepConfig, ["sweep"]),
     (EndpointConfig, [f"endpoints.{endpoint.name}" for endpoint in ENDPOINTS])],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_every_field_but_the_endpoint_name_is_a_setting_with_help(
    cls: type, sections: list[str]
) -> None:
    keys = [spec.name for spec in fields(cls) if spec.name != "name"]
    for section in sections:
        assert [spec.key for spec in SECTIONS[section]] == keys
        assert all(spec.doc for spec in SECTIONS[section])
    assert set(SECTIONS) == {"gateway", "sweep"} | {
        f"endpoints.{endpoint.name}" for endpoint in ENDPOINTS}


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
        ({"HARVESTER_SWEEP_WORKERS": "0"}, ["HARVESTER_SWEEP_WORKERS", "between"]),
        ({"HARVESTER_ENDPOINTS_SHORT_TRADES_RATE": "-1"}, ["SHORT_TRADES_RATE", "between"]),
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
        ({"sweep": {"workers": 0}}, ["[sweep] workers", "between"]),
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


# Values that look legal but would hang, flood or mislead the run --------------------------


def toml_string(value: str) -> str:
    """A TOML basic string; JSON's escapes (\\t, \\uXXXX) are TOML's too."""
    return json.dumps(value)


def refused(tmp_path: Path, text: str) -> str:
    """The one-line message of the ConfigError a config file ``text`` raises, naming the file."""
    path = write(tmp_path, text, name="bad.toml")
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://user:pw@127.0.0.1:8787", "must not contain user:password@; put the token in"),
        ("https://user@example.com", "must not contain user:password@"),
        ("http://@example.com", "must not contain user:password@"),
        ("http://h:99999", "must have a port between 1 and 65535"),
        ("http://h:0", "must have a port between 1 and 65535"),
        ("http://h:abc", "must have a port between 1 and 65535"),
        ("http://h:-1", "must have a port between 1 and 65535"),
        ("http://[::1", "is not a valid URL"),
        ("http://[zz]/", "is not a valid URL"),
        ("http://127.0.0.1:8787/a b", "must not contain whitespace or control characters"),
        (" http://127.0.0.1:8787", "must not contain whitespace or control characters"),
        ("http://127.0.0.1:8787\n", "must not contain whitespace or control characters"),
        ("http://127.0.0.1:8787/\t", "must not contain whitespace or control characters"),
        ("http://127.0.0.1\u0000:8787", "must not contain whitespace or control characters"),
        ("http://h\u00ad/", "must not contain whitespace or control characters"),
        ("http://h/?x=1", "must not contain a query (?) or a fragment (#)"),
        ("http://h?", "must not contain a query (?) or a fragment (#)"),
        ("http://h/api#f", "must not contain a query (?) or a fragment (#)"),
        ("http://ab\ufffd/", "is not a valid URL"),  # urlsplit takes it, yarl does not
        ("ftp://h/", "must be an http:// or https:// URL with a host"),
        ("http:///path", "must be an http:// or https:// URL with a host"),
    ],
)
def test_a_bad_base_url_is_refused(tmp_path: Path, url: str, problem: str) -> None:
    message = refused(tmp_path, f"[gateway]\nbase_url = {toml_string(url)}\n")
    assert f"[gateway] base_url: {problem}" in message


def test_credentials_in_the_base_url_are_not_repeated_in_the_message(tmp_path: Path) -> None:
    message = refused(tmp_path, '[gateway]\nbase_url = "http://alice:s3cret@h:8787/api"\n')
    assert "s3cret" not in message and "alice" not in message
    assert "(got 'http://***@h:8787/api')" in message


@pytest.mark.parametrize(
    "url",
    ["http://h/api", "https://example.com/api/v2/", "http://[::1]:8787", "http://h:65535",
     "http://h:1", "https://bücher.example", "http://h/a@b"],
)
def test_a_good_base_url_is_kept(tmp_path: Path, url: str) -> None:
    settings = load_settings(write(tmp_path, f"[gateway]\nbase_url = {toml_string(url)}\n"),
                             environ={})
    assert settings.gateway.base_url == url


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/v1/x", "must start with / and contain {symbol} exactly once"),
        ("v1/{symbol}", "must start with / and contain {symbol} exactly once"),
        ("/{symbol}/{symbol}", "must start with / and contain {symbol} exactly once"),
        ("/v1/{symbol}?count=5", "must not contain ? or #; the query is built from count"),
        ("/v1/{symbol}?", "must not contain ? or #"),
        ("/v1/{symbol}#top", "must not contain ? or #"),
        ("/v1/{symbol}/short trades", "must not contain whitespace or control characters"),
        ("/v1/{symbol}\t", "must not contain whitespace or control characters"),
        ("/v1/\u0007{symbol}", "must not contain whitespace or control characters"),
        ("/v1/{symbol}\u200b", "must not contain whitespace or control characters"),
    ],
)
@pytest.mark.parametrize("endpoint", ["short_trades", "short_interest"])
def test_a_bad_endpoint_path_is_refused(
    tmp_path: Path, endpoint: str, path: str, problem: str
) -> None:
    message = refused(tmp_path, f"[endpoints.{endpoint}]\npath = {toml_string(path)}\n")
    assert f"[endpoints.{endpoint}] path: {problem}" in message


@pytest.mark.parametrize(
    ("db", "problem"),
    [
        ("", "must name a database file, not be empty (got '')"),
        (":memory:", "must name a database file; :memory: would keep nothing (got ':memory:')"),
        (".", "must name a database file, not a folder (got '.')"),
        ("..", "must name a database file, not a folder (got '..')"),
        ("/", "must name a database file, not a folder (got '/')"),
        ("data/", "must name a database file, not a folder (got 'data/')"),
        ("data/..", "must name a database file, not a folder (got 'data/..')"),
    ],
)
def test_a_db_that_is_not_a_file_name_is_refused(tmp_path: Path, db: str, problem: str) -> None:
    message = refused(tmp_path, f"[sweep]\ndb = {toml_string(db)}\n")
    assert f"[sweep] db: {problem}" in message


@pytest.mark.parametrize("db", ["h.sqlite", "data/h.sqlite", "./h.sqlite", "..h", "/tmp/x.db"])
def test_a_db_file_name_is_kept(tmp_path: Path, db: str) -> None:
    settings = load_settings(write(tmp_path, f"[sweep]\ndb = {toml_string(db)}\n"), environ={})
    assert settings.sweep.db == db


# (section, key, low, high, just below, just above), as TOML literals; bounds are inclusive.
RANGES = [
    ("gateway", "timeout", "0.1", "3600", "0.09", "3600.5"),
    ("gateway", "connect_timeout", "0.1", "3600", "0.09", "3601"),
    ("gateway", "max_body_bytes", "1024", "1073741824", "1023", "1073741825"),
    ("sweep", "workers", "1", "10000", "0", "10001"),
    ("sweep", "max_attempts", "1", "100", "0", "101"),
    ("sweep", "backoff_base", "0", "3600", "-0.01", "3601"),
    ("sweep", "backoff_max", "0", "86400", "-0.01", "86401"),
    ("sweep", "retry_after_max", "0", "86400", "-0.01", "86401"),
    ("sweep", "commit_interval", "0.01", "60", "0.005", "60.5"),
    ("sweep", "commit_tasks", "1", "100000", "0", "100001"),
    ("sweep", "log_interval", "0.1", "86400", "0.05", "86401"),
    ("sweep", "grace_period", "0", "3600", "-1", "3601"),
    ("sweep", "outage_max", "0", "86400", "-1", "86401"),
    ("sweep", "resume_max_age", "0.01", "100000", "0.001", "100001"),
    ("sweep", "busy_timeout", "0", "3600", "-0.5", "3601"),
    ("endpoints.short_trades", "rate", "0.01", "1000000", "1e-9", "1000001"),
    ("endpoints.short_interest", "rate", "0.01", "1000000", "0.001", "1e7"),
    ("endpoints.short_trades", "burst", "0", "1000000", "-1", "1000001"),
    ("endpoints.short_interest", "burst", "0", "1000000", "-1", "10000000000"),
    ("endpoints.short_trades", "concurrency", "1", "10000", "0", "10001"),
    ("endpoints.short_interest", "concurrency", "1", "10000", "0", "10001"),
]
FLOATS = [(section, spec.key) for section, specs in SECTIONS.items() for spec in specs
          if spec.type is float]


def value_of(settings: Settings, section: str, key: str) -> Any:
    if section.startswith("endpoints."):
        return getattr(settings.endpoint(section.removeprefix("endpoints.")), key)
    return getattr(getattr(settings, section), key)


@pytest.mark.parametrize(("section", "key", "low", "high", "below", "above"), RANGES)
def test_a_number_out_of_range_is_refused(
    tmp_path: Path, section: str, key: str, low: str, high: str, below: str, above: str
) -> None:
    for bad in (below, above):
        message = refused(tmp_path, f"[{section}]\n{key} = {bad}\n")
        assert f"[{section}] {key}: must be between {low} and {high} (got " in message


@pytest.mark.parametrize(("section", "key", "low", "high", "below", "above"), RANGES)
def test_a_number_on_the_bounds_is_kept(
    tmp_path: Path, section: str, key: str, low: str, high: str, below: str, above: str
) -> None:
    for good in (low, high):
        settings = load_settings(write(tmp_path, f"[{section}]\n{key} = {good}\n"), environ={})
        assert value_of(settings, section, key) == float(good)


@pytest.mark.parametrize("text", ["nan", "inf", "-inf"])
@pytest.mark.parametrize(("section", "key"), FLOATS)
def test_nan_and_infinity_are_refused(
    defaults: Settings, section: str, key: str, text: str
) -> None:
    variable = env_name(section, key)
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ={variable: text})
    assert str(info.value).startswith(f"environment {variable}: must be between ")


def test_every_number_but_count_has_a_range(tmp_path: Path) -> None:
    numeric = {(section, spec.key) for section, specs in SECTIONS.items() for spec in specs
               if spec.type in (int, float) and spec.key != "count"}
    assert numeric == {row[:2] for row in RANGES}
    for section, key in numeric:
        assert "must be between" in refused(tmp_path, f"[{section}]\n{key} = 1000000000000\n")


# Each endpoint's documented count range (API.md); declared once, in endpoint_catalog.
COUNT_RANGES = [("short_trades", 1, 100), ("short_interest", 1, 90)]


@pytest.mark.parametrize(("endpoint", "low", "high"), COUNT_RANGES)
def test_a_count_outside_its_endpoints_range_is_refused_naming_its_origin(
    defaults: Settings, tmp_path: Path, endpoint: str, low: int, high: int
) -> None:
    section = f"endpoints.{endpoint}"
    for bad in (low - 1, high + 1, -1):
        message = refused(tmp_path, f"[{section}]\ncount = {bad}\n")
        file = tmp_path / "bad.toml"
        assert message == f"{file}: [{section}] count: {bad} is outside {low}..{high}"
    variable = env_name(section, "count")
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ={variable: str(high + 1)})
    assert str(info.value) == f"environment {variable}: {high + 1} is outside {low}..{high}"
    with pytest.raises(ConfigError) as info:
        load_settings(None, overrides={section: {"count": 0}}, environ={})
    assert str(info.value) == f"option for [{section}] count: 0 is outside {low}..{high}"


@pytest.mark.parametrize(("endpoint", "low", "high"), COUNT_RANGES)
def test_a_count_on_its_endpoints_bounds_is_kept(
    tmp_path: Path, endpoint: str, low: int, high: int
) -> None:
    for good in (low, high):
        path = write(tmp_path, f"[endpoints.{endpoint}]\ncount = {good}\n")
        assert load_settings(path, environ={}).endpoint(endpoint).count == good


def test_busy_timeout_is_a_setting_like_the_others(defaults: Settings, tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "[sweep]\nbusy_timeout = 2\n"), environ={})
    assert settings.sweep.busy_timeout == 2.0 and type(settings.sweep.busy_timeout) is float
    settings = load_settings(None, environ={"HARVESTER_SWEEP_BUSY_TIMEOUT": "0.5"})
    assert settings.sweep.busy_timeout == 0.5
    settings = load_settings(None, overrides={"sweep": {"busy_timeout": 0}}, environ={})
    assert settings.sweep.busy_timeout == 0.0


# Unknown HARVESTER_* variables ------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("HARVESTER_SWEEP_WORKRES", "environment HARVESTER_SWEEP_WORKRES: unknown setting "
         "variable; did you mean HARVESTER_SWEEP_WORKERS?"),
        ("HARVESTER_ENDPOINTS_SHORT_TRADE_RATE", "environment HARVESTER_ENDPOINTS_SHORT_TRADE_"
         "RATE: unknown setting variable; did you mean HARVESTER_ENDPOINTS_SHORT_TRADES_RATE?"),
        ("HARVESTER_TOKEM", "environment HARVESTER_TOKEM: unknown setting variable; "
         "did you mean HARVESTER_TOKEN?"),
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
    settings = load_settings(None, environ={"HARVESTER": "1", "harvester_sweep_workres": "1",
                                            "MY_HARVESTER_X": "1", "PATH": "/bin"})
    assert settings.sweep == SweepConfig()


def test_every_setting_variable_and_the_token_are_accepted(defaults: Settings) -> None:
    environ = {"HARVESTER_TOKEN": "secret"}
    for section, specs in SECTIONS.items():
        for spec in specs:
            value = value_of(defaults, section, spec.key)
            text = str(value).lower() if spec.type is bool else str(value)
            environ[env_name(section, spec.key)] = text
    settings = load_settings(None, environ=environ)
    assert (settings.gateway, settings.sweep) == (GatewayConfig(), SweepConfig())
    assert settings.endpoints == DEFAULT_ENDPOINTS


def test_the_variable_named_by_token_env_is_accepted(defaults: Settings, tmp_path: Path) -> None:
    path = write(tmp_path, '[gateway]\ntoken_env = "HARVESTER_MY_TOKEN"\n')
    settings = load_settings(path, environ={"HARVESTER_MY_TOKEN": "secret"})
    assert settings.gateway.token_env == "HARVESTER_MY_TOKEN"
    settings = load_settings(None, environ={"HARVESTER_GATEWAY_TOKEN_ENV": "HARVESTER_T2",
                                            "HARVESTER_T2": "secret"})
    assert settings.gateway.token_env == "HARVESTER_T2"
    # Without the file naming it, the same variable sets nothing.
    with pytest.raises(ConfigError, match="environment HARVESTER_MY_TOKEN: unknown setting"):
        load_settings(None, environ={"HARVESTER_MY_TOKEN": "secret"})
