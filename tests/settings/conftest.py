"""Fixtures for the settings tests: config files in tmp_path, refusals read, settings looked up.

Every call passes an explicit ``environ`` dict, never the real environment.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harvester.catalog import GATEWAY, served_by
from harvester.errors import ConfigError
from harvester.settings.config import EndpointConfig, Settings, load_settings


def _write_toml(folder: Path, text: str, name: str = "harvester.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _config_error(path: Path | None, **sources: Any) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path, **sources)
    message = str(info.value)
    assert "\n" not in message
    return message


def _refused(tmp_path: Path, text: str) -> str:
    path = _write_toml(tmp_path, text, name="bad.toml")
    message = _config_error(path, environ={})
    assert message.startswith(f"{path}: ")
    return message


def _value_of(settings: Settings, section: str, key: str) -> Any:
    if section.startswith("endpoints."):
        return getattr(settings.endpoint(section.removeprefix("endpoints.")), key)
    return getattr(getattr(settings, section), key)


@pytest.fixture
def defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings resolved from nothing: no file in the working directory, empty environment."""
    monkeypatch.chdir(tmp_path)
    return load_settings(None, environ={})


@pytest.fixture(scope="session")
def default_endpoints() -> tuple[EndpointConfig, ...]:
    """The default dialect's endpoints' defaults as declared (once, in the catalog)."""
    return tuple(
        EndpointConfig(
            name=endpoint.name,
            path=endpoint.path or "",
            count=endpoint.count,
            stale_after_us=endpoint.stale_after_us,
            stale_after_hk=endpoint.stale_after_hk,
        )
        for endpoint in served_by(GATEWAY)
    )


@pytest.fixture(scope="session")
def write_toml() -> Callable[..., Path]:
    """``write_toml(folder, text, name="harvester.toml")``: the config file written."""
    return _write_toml


@pytest.fixture(scope="session")
def config_error() -> Callable[..., str]:
    """``config_error(path, environ=..., overrides=...)``: the one line ``load_settings`` raises."""
    return _config_error


@pytest.fixture(scope="session")
def refused() -> Callable[[Path, str], str]:
    """``refused(tmp_path, text)``: the one-line ConfigError of a file ``text``, naming it."""
    return _refused


@pytest.fixture(scope="session")
def value_of() -> Callable[[Settings, str, str], Any]:
    """``value_of(settings, section, key)``: one setting, endpoint sections included."""
    return _value_of
