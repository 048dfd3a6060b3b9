"""Every number has an inclusive range: values past it are refused, values on it are kept.

NaN and infinity are refused everywhere, and each endpoint's ``count`` has its own range
(API.md) with a message naming where the value came from.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harvester.errors import ConfigError
from harvester.settings.config import SECTIONS, Settings, env_name, load_settings

WriteToml = Callable[..., Path]
Refused = Callable[[Path, str], str]
ValueOf = Callable[[Settings, str, str], Any]


# (section, key, low, high, just below, just above), as TOML literals; bounds are inclusive.
RANGES = [
    ("gateway", "timeout", "0.1", "3600", "0.09", "3600.5"),
    ("gateway", "connect_timeout", "0.1", "3600", "0.09", "3601"),
    ("gateway", "max_body_bytes", "1024", "1073741824", "1023", "1073741825"),
    ("gateway", "daily_quota", "0", "1000000000", "-1", "1000000001"),
    ("gateway", "rate", "0", "10000", "-0.5", "10000.5"),
    ("gateway", "concurrency", "0", "10000", "-1", "10001"),
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
    ("sweep", "quota_after", "1", "604800", "0.5", "604801"),
    ("sweep", "busy_timeout", "0", "3600", "-0.5", "3601"),
    ("sweep", "probe_size", "1", "1000", "0", "1001"),
    ("sweep", "overlap", "0", "100", "-1", "101"),
    ("sweep", "dead_after", "1", "100", "0", "101"),
    ("sweep", "reread_nights", "1", "1000", "0", "1001"),
    ("sweep", "recheck_after", "0", "3650", "-0.5", "3651"),
    ("sweep", "no_data_recheck_after", "0", "3650", "-1", "3650.5"),
    ("endpoints.short_trades", "rate", "0.01", "10000", "1e-9", "10001"),
    ("endpoints.short_interest", "rate", "0.01", "10000", "0.001", "1e7"),
    ("endpoints.short_trades", "burst", "0", "10000", "-1", "10001"),
    ("endpoints.short_interest", "burst", "0", "10000", "-1", "10000000000"),
    ("endpoints.short_trades", "concurrency", "1", "10000", "0", "10001"),
    ("endpoints.short_interest", "concurrency", "1", "10000", "0", "10001"),
    ("endpoints.short_positions", "rate", "0.01", "10000", "0.001", "10001"),
    ("endpoints.short_positions", "burst", "0", "10000", "-1", "10001"),
    ("endpoints.short_positions", "concurrency", "1", "10000", "0", "10001"),
    *(
        (f"endpoints.{name}", f"stale_after_{market}", "0", "250", "-1", "251")
        for name in ("short_trades", "short_interest", "short_positions")
        for market in ("us", "hk")
    ),
]
FLOATS = [
    (section, spec.key)
    for section, specs in SECTIONS.items()
    for spec in specs
    if spec.type is float
]


@pytest.mark.parametrize(("section", "key", "low", "high", "below", "above"), RANGES)
def test_a_number_out_of_range_is_refused(
    refused: Refused,
    tmp_path: Path,
    section: str,
    key: str,
    low: str,
    high: str,
    below: str,
    above: str,
) -> None:
    for bad in (below, above):
        message = refused(tmp_path, f"[{section}]\n{key} = {bad}\n")
        assert f"[{section}] {key}: must be between {low} and {high} (got " in message


@pytest.mark.parametrize(("section", "key", "low", "high", "below", "above"), RANGES)
def test_a_number_on_the_bounds_is_kept(
    write_toml: WriteToml,
    value_of: ValueOf,
    tmp_path: Path,
    section: str,
    key: str,
    low: str,
    high: str,
    below: str,
    above: str,
) -> None:
    for good in (low, high):
        path = write_toml(tmp_path, f"[{section}]\n{key} = {good}\n")
        assert value_of(load_settings(path, environ={}), section, key) == float(good)


@pytest.mark.parametrize("text", ["nan", "inf", "-inf"])
@pytest.mark.parametrize(("section", "key"), FLOATS)
def test_nan_and_infinity_are_refused(
    defaults: Settings, section: str, key: str, text: str
) -> None:
    variable = env_name(section, key)
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ={variable: text})
    assert str(info.value).startswith(f"environment {variable}: must be between ")


def test_every_number_but_count_has_a_range(refused: Refused, tmp_path: Path) -> None:
    numeric = {
        (section, spec.key)
        for section, specs in SECTIONS.items()
        for spec in specs
        if spec.type in (int, float) and spec.key != "count"
    }
    assert numeric == {row[:2] for row in RANGES}
    for section, key in numeric:
        assert "must be between" in refused(tmp_path, f"[{section}]\n{key} = 1000000000000\n")


# Each endpoint's documented count range (API.md); declared once, in endpoint_catalog.
COUNT_RANGES = [("short_trades", 1, 100), ("short_interest", 1, 90), ("short_positions", 1, 100)]


@pytest.mark.parametrize(("endpoint", "low", "high"), COUNT_RANGES)
def test_a_count_outside_its_endpoints_range_is_refused_naming_its_origin(
    refused: Refused, defaults: Settings, tmp_path: Path, endpoint: str, low: int, high: int
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
    write_toml: WriteToml, tmp_path: Path, endpoint: str, low: int, high: int
) -> None:
    for good in (low, high):
        path = write_toml(tmp_path, f"[endpoints.{endpoint}]\ncount = {good}\n")
        assert load_settings(path, environ={}).endpoint(endpoint).count == good


def test_busy_timeout_is_a_setting_like_the_others(
    write_toml: WriteToml, defaults: Settings, tmp_path: Path
) -> None:
    settings = load_settings(write_toml(tmp_path, "[sweep]\nbusy_timeout = 2\n"), environ={})
    assert settings.sweep.busy_timeout == 2.0 and type(settings.sweep.busy_timeout) is float
    settings = load_settings(None, environ={"HARVESTER_SWEEP_BUSY_TIMEOUT": "0.5"})
    assert settings.sweep.busy_timeout == 0.5
    settings = load_settings(None, overrides={"sweep": {"busy_timeout": 0}}, environ={})
    assert settings.sweep.busy_timeout == 0.0
