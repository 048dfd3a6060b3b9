"""Settings: one table drives defaults, validation, environment overrides and help.

Resolution order: defaults, then the config file, then ``HARVESTER_<SECTION>_<KEY>``
environment variables (``[endpoints.short_trades] rate`` is
``HARVESTER_ENDPOINTS_SHORT_TRADES_RATE``), then command-line flags.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harvester.errors import ConfigError

DEFAULT_CONFIG = Path("config/harvester.toml")
EVENT_LOOPS = ("auto", "asyncio", "uvloop")


@dataclass(frozen=True, slots=True)
class Spec:
    """One setting: where it lives, its type, its default and what it means."""

    key: str
    type: type
    default: Any
    help: str
    check: Callable[[Any], str | None] | None = None


def _positive(value: Any) -> str | None:
    return None if value > 0 and math.isfinite(value) else "must be greater than zero"


def _non_negative(value: Any) -> str | None:
    return None if value >= 0 and math.isfinite(value) else "must be zero or more"


def _event_loop(value: str) -> str | None:
    return None if value in EVENT_LOOPS else f"must be one of {', '.join(EVENT_LOOPS)}"


def _url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    return None


def _path_template(value: str) -> str | None:
    if not value.startswith("/") or value.count("{symbol}") != 1:
        return "must start with / and contain {symbol} exactly once"
    return None


GATEWAY = (
    Spec("base_url", str, "http://127.0.0.1:8787", "gateway root URL", _url),
    Spec("token_env", str, "HARVESTER_TOKEN", "name of the variable holding the bearer token"),
    Spec("timeout", float, 10.0, "seconds for one whole request", _positive),
    Spec("connect_timeout", float, 5.0, "seconds to open a connection", _positive),
    Spec("max_body_bytes", int, 4_194_304, "larger answers are refused unread", _positive),
)
SWEEP = (
    Spec("symbols", str, "symbols.txt", "symbols file, one per line"),
    Spec("db", str, "harvest.sqlite", "SQLite database file"),
    Spec("workers", int, 32, "symbols fetched at once", _positive),
    Spec("max_attempts", int, 5, "attempts per task, retries included", _positive),
    Spec("backoff_base", float, 0.5, "first retry delay, seconds; doubles each time",
         _non_negative),
    Spec("backoff_max", float, 30.0, "longest retry delay in seconds", _non_negative),
    Spec("retry_after_max", float, 60.0, "longest Retry-After honoured, seconds", _non_negative),
    Spec("retry_unknown", bool, False, "retry unknown upstream codes like -99"),
    Spec("strict", bool, False, "a malformed symbols line is an error (exit 2)"),
    Spec("commit_interval", float, 0.25, "max seconds from a task's end to its commit", _positive),
    Spec("commit_tasks", int, 500, "tasks per write transaction at most", _positive),
    Spec("log_interval", float, 5.0, "seconds between progress lines when not on a terminal",
         _positive),
    Spec("grace_period", float, 10.0, "seconds in-flight requests get after Ctrl-C or SIGTERM",
         _non_negative),
    Spec("outage_max", float, 300.0, "seconds to wait for a gateway that is down (then exit 75)",
         _non_negative),
    Spec("resume_max_age", float, 20.0, "hours within which --resume continues a run",
         _positive),
    Spec("event_loop", str, "auto", "auto (uvloop when installed), asyncio or uvloop",
         _event_loop),
)
ENDPOINT = (
    Spec("path", str, None, "URL path; {symbol} is replaced", _path_template),
    Spec("count", int, None, "records asked for per request"),
    Spec("rate", float, 10.0, "requests per second, retries included", _positive),
    Spec("burst", int, 1, "requests allowed above the rate in one second", _non_negative),
    Spec("concurrency", int, 5, "requests in flight at once", _positive),
)
ENDPOINT_DEFAULTS = {
    "short_trades": {"path": "/v1/quote/{symbol}/short-selling/short-trades", "count": 20},
    "short_interest": {"path": "/v1/quote/{symbol}/short-selling/short-interest", "count": 30},
}
SECTIONS: dict[str, tuple[Spec, ...]] = {"gateway": GATEWAY, "sweep": SWEEP}
SECTIONS.update({f"endpoints.{name}": ENDPOINT for name in ENDPOINT_DEFAULTS})


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayConfig:
    """Where the gateway is and how long to wait for it."""

    base_url: str
    token_env: str
    timeout: float
    connect_timeout: float
    max_body_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepConfig:
    """How a sweep runs."""

    symbols: str
    db: str
    workers: int
    max_attempts: int
    backoff_base: float
    backoff_max: float
    retry_after_max: float
    retry_unknown: bool
    strict: bool
    commit_interval: float
    commit_tasks: int
    log_interval: float
    grace_period: float
    outage_max: float
    resume_max_age: float
    event_loop: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointConfig:
    """One endpoint's path, count and limits."""

    name: str
    path: str
    count: int
    rate: float
    burst: int
    concurrency: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Every setting, resolved and validated."""

    gateway: GatewayConfig
    sweep: SweepConfig
    endpoints: tuple[EndpointConfig, ...]
    simulate: Mapping[str, Any] = field(default_factory=dict)
    source: str = "defaults"
    origins: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def where(self, section: str, key: str) -> str:
        """Where a setting's value came from, for error messages: file, variable or option."""
        return self.origins.get(f"{section}.{key}", f"{self.source}: [{section}] {key}")

    def endpoint(self, name: str) -> EndpointConfig:
        """The settings of the endpoint called ``name``."""
        for endpoint in self.endpoints:
            if endpoint.name == name:
                return endpoint
        raise KeyError(name)


def env_name(section: str, key: str) -> str:
    """The environment variable that overrides ``[section] key``."""
    return "HARVESTER_" + f"{section}_{key}".replace(".", "_").upper()


def _coerce(spec: Spec, value: Any, where: str) -> Any:
    """Check a file value's type; bools are not numbers and ints are fine as floats."""
    expected = spec.type
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {expected.__name__}, got {value!r}")
    return value


def _from_text(spec: Spec, text: str, where: str) -> Any:
    """Parse an environment or flag value into the setting's type."""
    try:
        if spec.type is bool:
            lowered = text.strip().lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(text)
            return lowered in ("1", "true", "yes", "on")
        return spec.type(text)
    except ValueError:
        raise ConfigError(f"{where}: expected {spec.type.__name__}, got {text!r}") from None


def _flatten(data: Mapping[str, Any], path: Path) -> dict[str, dict[str, Any]]:
    """Map the TOML document onto known sections; unknown tables and keys are errors."""
    tables: dict[str, dict[str, Any]] = {}
    for name, value in data.items():
        if name == "endpoints" and isinstance(value, dict):
            for endpoint, table in value.items():
                tables[f"endpoints.{endpoint}"] = table
        else:
            tables[name] = value
    for name, table in tables.items():
        if name != "simulate" and name not in SECTIONS:
            raise ConfigError(f"{path}: unknown section [{name}]")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{name}] must be a table")
    return tables


def load_file(path: Path) -> dict[str, dict[str, Any]]:
    """Read a TOML config file into ``{section: {key: value}}``."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: not found") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from exc
    return _flatten(data, path)


def _resolve_section(
    section: str,
    table: Mapping[str, Any],
    overrides: Mapping[str, Any],
    environ: Mapping[str, str],
    source: str,
    origins: dict[str, str],
) -> dict[str, Any]:
    specs = {spec.key: spec for spec in SECTIONS[section]}
    for key in table:
        if key not in specs:
            raise ConfigError(f"{source}: unknown setting [{section}] {key}")
    defaults = ENDPOINT_DEFAULTS.get(section.removeprefix("endpoints."), {})
    values: dict[str, Any] = {}
    for key, spec in specs.items():
        where = f"{source}: [{section}] {key}"
        value = defaults.get(key, spec.default)
        if key in table:
            value = _coerce(spec, table[key], where)
        variable = env_name(section, key)
        if variable in environ:
            where = f"environment {variable}"
            value = _from_text(spec, environ[variable], where)
        if key in overrides:
            where = f"option for [{section}] {key}"
            value = _coerce(spec, overrides[key], where)
        problem = spec.check(value) if spec.check else None
        if problem:
            raise ConfigError(f"{where}: {problem} (got {value!r})")
        values[key] = value
        origins[f"{section}.{key}"] = where
    return values


def load_settings(
    path: Path | None = None,
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings from defaults, ``path`` (or the default file if present), env, flags."""
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    if path is None and DEFAULT_CONFIG.is_file():
        path = DEFAULT_CONFIG
    tables = load_file(path) if path is not None else {}
    source = str(path) if path is not None else "defaults"
    origins: dict[str, str] = {}
    resolved = {
        section: _resolve_section(
            section, tables.get(section, {}), overrides.get(section, {}), environ, source, origins
        )
        for section in SECTIONS
    }
    endpoints = tuple(
        EndpointConfig(name=name, **resolved[f"endpoints.{name}"]) for name in ENDPOINT_DEFAULTS
    )
    return Settings(
        gateway=GatewayConfig(**resolved["gateway"]),
        sweep=SweepConfig(**resolved["sweep"]),
        endpoints=endpoints,
        simulate=dict(tables.get("simulate", {})),
        source=source,
        origins=origins,
    )
