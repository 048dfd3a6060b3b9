"""Settings: one table drives defaults, validation, environment overrides and help.

Resolution order: defaults, then the config file, then ``HARVESTER_<SECTION>_<KEY>``
environment variables (``[endpoints.short_trades] rate`` is
``HARVESTER_ENDPOINTS_SHORT_TRADES_RATE``), then command-line flags.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from yarl import URL

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


def _between(low: float, high: float) -> Callable[[Any], str | None]:
    """A check that the value lies in ``low..high``, both included; NaN and infinities fail."""

    def check(value: Any) -> str | None:
        # NaN compares false and infinities fall outside; math.isfinite would overflow on
        # a huge int from the environment.
        return None if low <= value <= high else f"must be between {low} and {high}"

    return check


def _event_loop(value: str) -> str | None:
    return None if value in EVENT_LOOPS else f"must be one of {', '.join(EVENT_LOOPS)}"


def _blank_or_control(value: str) -> bool:
    """Whitespace, control or invisible format characters: never meant, often pasted."""
    return any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in value)


def _url_parts(value: str) -> str | None:
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        return f"is not a valid URL: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if "@" in parts.netloc:
        return "must not contain user:password@; put the token in the variable named by token_env"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port is not None and not 1 <= port <= 65535:
        return "must have a port between 1 and 65535"
    return None


def _url(value: str) -> str | None:
    if _blank_or_control(value):
        return "must not contain whitespace or control characters"
    problem = _url_parts(value)
    if problem:
        return problem
    # The client appends the endpoint's path and its own query: a query or fragment here
    # would swallow them.
    if "?" in value or "#" in value:
        return "must not contain a query (?) or a fragment (#)"
    try:
        URL(value)
    except (ValueError, TypeError) as exc:
        return f"is not a valid URL: {exc}"
    return None


def _path_template(value: str) -> str | None:
    if not value.startswith("/") or value.count("{symbol}") != 1:
        return "must start with / and contain {symbol} exactly once"
    if _blank_or_control(value):
        return "must not contain whitespace or control characters"
    # A ? here silently swallowed the count query the client appends.
    if "?" in value or "#" in value:
        return "must not contain ? or #; the query is built from count"
    return None


def _db_file(value: str) -> str | None:
    if not value:
        return "must name a database file, not be empty"
    if value == ":memory:":
        return "must name a database file; :memory: would keep nothing"
    last = value.replace(os.sep, "/").rsplit("/", 1)[-1]
    if last in ("", ".", ".."):
        return "must name a database file, not a folder"
    return None


_USERINFO = re.compile(r"(?<=://)[^/?#]*@")


def _shown(value: Any) -> str:
    """The value for an error message, with any ``user:password@`` in a URL masked."""
    return repr(_USERINFO.sub("***@", value) if isinstance(value, str) else value)


GATEWAY = (
    Spec("base_url", str, "http://127.0.0.1:8787", "gateway root URL", _url),
    Spec("token_env", str, "HARVESTER_TOKEN", "name of the variable holding the bearer token"),
    Spec("timeout", float, 10.0, "seconds for one whole request", _between(0.1, 3600)),
    Spec("connect_timeout", float, 5.0, "seconds to open a connection", _between(0.1, 3600)),
    Spec("max_body_bytes", int, 4_194_304, "larger answers are refused unread",
         _between(1024, 1_073_741_824)),
)
SWEEP = (
    Spec("symbols", str, "symbols.txt", "symbols file, one per line"),
    Spec("db", str, "harvest.sqlite", "SQLite database file", _db_file),
    Spec("workers", int, 32, "symbols fetched at once", _between(1, 10_000)),
    Spec("max_attempts", int, 5, "attempts per task, retries included", _between(1, 100)),
    Spec("backoff_base", float, 0.5, "first retry delay, seconds; doubles each time",
         _between(0, 3600)),
    Spec("backoff_max", float, 30.0, "longest retry delay in seconds", _between(0, 86_400)),
    Spec("retry_after_max", float, 60.0, "longest Retry-After honoured, seconds",
         _between(0, 86_400)),
    Spec("retry_unknown", bool, False, "retry unknown upstream codes like -99"),
    Spec("strict", bool, False, "a malformed symbols line is an error (exit 2)"),
    Spec("commit_interval", float, 0.25, "max seconds from a task's end to its commit",
         _between(0.01, 60)),
    Spec("commit_tasks", int, 500, "tasks per write transaction at most", _between(1, 100_000)),
    # Down to 0.1 s so a short run still logs progress (the CLI tests use 0.2).
    Spec("log_interval", float, 5.0, "seconds between progress lines when not on a terminal",
         _between(0.1, 86_400)),
    Spec("grace_period", float, 10.0, "seconds in-flight requests get after Ctrl-C or SIGTERM",
         _between(0, 3600)),
    Spec("outage_max", float, 300.0, "seconds to wait for a gateway that is down (then exit 75)",
         _between(0, 86_400)),
    Spec("resume_max_age", float, 20.0, "hours within which --resume continues a run",
         _between(0.01, 100_000)),
    Spec("busy_timeout", float, 30.0,
         "seconds to wait for a write lock held by another program (sqlite3 CLI, pandas) "
         "before giving up with exit 2", _between(0, 3600)),
    Spec("event_loop", str, "auto", "auto (uvloop when installed), asyncio or uvloop",
         _event_loop),
)
ENDPOINT = (
    Spec("path", str, None, "URL path; {symbol} is replaced", _path_template),
    Spec("count", int, None, "records asked for per request"),
    # Up to a million: the benchmark's "no limit at all" (bench/sweep.py UNLIMITED_*).
    Spec("rate", float, 10.0, "requests per second, retries included",
         _between(0.01, 1_000_000)),
    Spec("burst", int, 1, "requests allowed above the rate in one second",
         _between(0, 1_000_000)),
    Spec("concurrency", int, 5, "requests in flight at once", _between(1, 10_000)),
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
    busy_timeout: float
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


def _check_environ(environ: Mapping[str, str], token_env: str) -> None:
    """Refuse ``HARVESTER_*`` variables that set nothing, as unknown keys in the file are."""
    known = {env_name(section, spec.key) for section, specs in SECTIONS.items() for spec in specs}
    # The default token variable stays allowed when token_env names another: it may be
    # set for another tool, and it is never a misspelled setting.
    known.update((token_env, "HARVESTER_TOKEN"))
    for variable in sorted(name for name in environ if name.startswith("HARVESTER_")):
        if variable in known:
            continue
        # Compare without the shared prefix, or every name would look close to every other.
        tails = {name.removeprefix("HARVESTER_"): name for name in known
                 if name.startswith("HARVESTER_")}
        close = difflib.get_close_matches(variable.removeprefix("HARVESTER_"), tails, n=1)
        hint = f"; did you mean {tails[close[0]]}?" if close else ""
        raise ConfigError(f"environment {variable}: unknown setting variable{hint}")


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
            raise ConfigError(f"{where}: {problem} (got {_shown(value)})")
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
    _check_environ(environ, resolved["gateway"]["token_env"])
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
