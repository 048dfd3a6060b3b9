"""Settings resolved from nothing are the declared defaults; the shipped file and the docs agree.

The shipped ``config/harvester.toml`` and docs/settings.md's settings table are the generated
ones, and every dataclass field but the endpoint name is a setting with help.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path

import pytest

from harvester.catalog import DIALECTS, ENDPOINTS, GATEWAY
from harvester.settings.config import (
    SECTIONS,
    EndpointConfig,
    GatewayConfig,
    Settings,
    SweepConfig,
    load_settings,
)
from harvester.settings.doc import default_toml, settings_table

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "harvester.toml"
README = ROOT / "README.md"

WriteToml = Callable[..., Path]


# Defaults and the shipped file -----------------------------------------------------------


def test_defaults_are_the_declared_ones(
    default_endpoints: tuple[EndpointConfig, ...], defaults: Settings
) -> None:
    assert defaults.source == "defaults"
    # An empty base_url is the dialect's own root URL, resolved on loading.
    assert defaults.gateway == replace(GatewayConfig(), base_url=DIALECTS[GATEWAY].url)
    assert defaults.sweep == SweepConfig()
    assert defaults.endpoints == default_endpoints
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
    write_toml: WriteToml, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    write_toml(tmp_path / "config", "[sweep]\nworkers = 7\n")
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


def test_the_settings_page_table_is_the_generated_one() -> None:
    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    start = text.index("| section | key | default | range | meaning |")
    end = text.index("\n\n", start) + 1
    assert text[start:end] == settings_table()


@pytest.mark.parametrize(
    ("cls", "sections"),
    [
        (GatewayConfig, ["gateway"]),
        (SweepConfig, ["sweep"]),
        (EndpointConfig, [f"endpoints.{endpoint.name}" for endpoint in ENDPOINTS]),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_every_field_but_the_endpoint_name_is_a_setting_with_help(
    cls: type, sections: list[str]
) -> None:
    keys = [spec.name for spec in fields(cls) if spec.name != "name"]
    for section in sections:
        # A data set its gateway dialect does not serve has no gateway path to set.
        gatewayless = section == "endpoints.short_positions"
        expected = [key for key in keys if key != "path"] if gatewayless else keys
        assert [spec.key for spec in SECTIONS[section]] == expected
        assert all(spec.doc for spec in SECTIONS[section])
    assert set(SECTIONS) == {"gateway", "sweep"} | {
        f"endpoints.{endpoint.name}" for endpoint in ENDPOINTS
    }
