"""Settings: each declared once, as a dataclass field whose metadata holds its help and rule.

From those fields come the defaults, the type and range checks, the environment
variables and the generated docs (``settings_doc``). ``[endpoints.NAME]`` takes
its path, count and count range from ``endpoint_catalog``. Resolution order, each
over the one before, key by key:

1. the defaults;
2. ``config/harvester.toml`` (``DEFAULT_CONFIG``), if the working directory has it;
3. the ``--config`` file: it adds to the shipped file rather than replacing it, so it
   need only hold what it changes;
4. ``HARVESTER_<SECTION>_<KEY>`` environment variables (``[endpoints.short_trades] rate``
   is ``HARVESTER_ENDPOINTS_SHORT_TRADES_RATE``);
5. command-line flags.

The ``[simulate]`` table is the simulated gateway's scenario, not the harvester's
settings, and is not layered: it is the ``--config`` file's when one is named (or none:
the gateway's own defaults), else the shipped file's, whose values are a demonstration.
Its keys and values are the gateway's to check (``harvester.simulate.settings``), and so
are the ``HARVESTER_SIMULATE_<KEY>`` variables over it (``Settings.simulate_variables``).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harvester.catalog import APIS, DIALECTS, ENDPOINTS, GATEWAY, Dialect, served_by
from harvester.errors import ConfigError
from harvester.settings import checks
from harvester.settings.checks import EVENT_LOOPS
from harvester.settings.setting import Setting, setting, settings_of

DEFAULT_CONFIG = Path("config/harvester.toml")
SIMULATE = "simulate"  #: the simulated gateway's table, passed through to it whole


def _each_dialect(limit: str) -> str:
    """Each dialect's documented ``limit`` (``rate`` or ``concurrency``), for a setting's help."""
    return "; ".join(
        f"{getattr(d, limit):g} for `{d.name}`" if getattr(d, limit) else f"none for `{d.name}`"
        for d in DIALECTS.values()
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayConfig:
    """Which upstream, where it is, the account's limits and how long to wait for it."""

    api: str = setting(
        GATEWAY,
        check=checks.one_of(APIS),
        shape=" or ".join(f"`{api}`" for api in APIS),
        doc="the upstream's dialect: `gateway` (the quote gateway, API.md sections 1-4) or "
        "`openapi` (the vendor's own OpenAPI, signed requests; docs/openapi.md)",
    )
    base_url: str = setting(
        "",
        check=checks.url_or_empty,
        shape="`http(s)://host[:port][/prefix]` or empty",
        doc="root URL (`--base-url`); empty: the dialect's own, "
        + "; ".join(
            f"`{d.url}` for `{d.name}`"
            + "".join(f" unless `{p}HTTP_URL` is set" for p in d.env_prefixes[:1])
            for d in DIALECTS.values()
        )
        + "; no `user:password@`, query, fragment or whitespace",
    )
    rate: float = setting(
        0.0,
        bounds=(0, 10_000),
        doc="requests per second for the whole account, every endpoint and retry together "
        "(never more in any one second); 0: the dialect's documented limit, "
        + _each_dialect("rate"),
    )
    concurrency: int = setting(
        0,
        bounds=(0, 10_000),
        doc="requests in flight at once for the whole account; 0: the dialect's documented "
        "limit, " + _each_dialect("concurrency"),
    )
    token_env: str = setting(
        "HARVESTER_TOKEN",
        doc="name of the environment variable holding the bearer token (`gateway`) or an "
        "OAuth access token (`openapi`, used when no app key and secret are set)",
    )
    timeout: float = setting(
        10.0, bounds=(0.1, 3600), doc="seconds for one whole request, body included"
    )
    connect_timeout: float = setting(5.0, bounds=(0.1, 3600), doc="seconds to open a connection")
    max_body_bytes: int = setting(
        4_194_304,
        bounds=(1024, 1_073_741_824),
        doc="a larger answer is refused without being read whole (task `failed`, `body_too_large`)",
    )
    daily_quota: int = setting(
        0,
        bounds=(0, 1_000_000_000),
        doc="requests the account may send per UTC day, retries included (0: no quota); "
        "counted in the file as they go out, by the UTC day of sending (`requests_by_day`); "
        "`plan` warns above it and a sweep stops before the request that would exceed it",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepConfig:
    """How a sweep runs."""

    symbols: str = setting("symbols.txt", doc="symbols file (`--symbols`)")
    db: str = setting(
        "harvest.sqlite",
        check=checks.db_file,
        shape="a file name",
        doc="database file (`--db`); not empty, `:memory:` or a folder",
    )
    workers: int = setting(
        32,
        bounds=(1, 10_000),
        doc="symbols fetched at once: one worker per symbol and endpoint, "
        "so a symbol's endpoints are fetched concurrently",
    )
    max_attempts: int = setting(5, bounds=(1, 100), doc="attempts per task, the first included")
    backoff_base: float = setting(
        0.5,
        bounds=(0, 3600),
        doc="retry n waits between half and all of `backoff_base * 2^(n-1)` seconds",
    )
    backoff_max: float = setting(30.0, bounds=(0, 86_400), doc="longest retry wait, seconds")
    retry_after_max: float = setting(
        60.0,
        bounds=(0, 86_400),
        doc="a 429's `Retry-After` (seconds or an HTTP date) is honoured up to this many seconds",
    )
    quota_after: float = setting(
        600.0,
        bounds=(1, 604_800),
        doc="a 429's `Retry-After` longer than this many seconds means the account's quota is "
        "spent: the sweep stops (exit 76) and `--resume` goes on once it is renewed",
    )
    retry_unknown: bool = setting(
        False,
        doc="retry an unknown non-zero code like `-99` (else `failed` at once); "
        "`-5` is always retried",
    )
    strict: bool = setting(False, doc="a malformed symbols line is an error (`--strict`)")
    full: bool = setting(
        False,
        doc="fetch every task with the configured `count` (`--full`): no probes, no "
        "incremental counts, no dead-symbol memory",
    )
    probe_size: int = setting(
        10,
        bounds=(1, 1000),
        doc="symbols per market and endpoint asked first; if none shows a newer day or a "
        "restated value, the others end `unchanged` without a request",
    )
    overlap: int = setting(
        5,
        bounds=(0, 100),
        doc="records asked for before a symbol's newest stored day, so that upstream "
        "restatements of recent days are caught",
    )
    reread_nights: int = setting(
        20,
        bounds=(1, 1000),
        doc="each nightly sweep fetches one in this many symbols with the whole `count` "
        "(a slice that rotates from night to night), so a restatement older than `overlap` "
        "is stored within this many nightly sweeps",
    )
    dead_after: int = setting(
        3,
        bounds=(1, 100),
        doc="a symbol answered `invalid` or `unsupported` (or `no_data`, or `failed`) by an "
        "endpoint in this many runs in a row is not asked again until its recheck",
    )
    recheck_after: float = setting(
        7.0,
        bounds=(0, 3650),
        doc="days before a dead `invalid`, `unsupported` or `failed` symbol is asked again",
    )
    no_data_recheck_after: float = setting(
        2.0,
        bounds=(0, 3650),
        doc="days before a symbol with `no_data` in `dead_after` runs in a row is asked again",
    )
    commit_interval: float = setting(
        0.25,
        bounds=(0.01, 60),
        doc="at most this many seconds between a task finishing and its commit",
    )
    commit_tasks: int = setting(
        500, bounds=(1, 100_000), doc="at most this many tasks per write transaction"
    )
    # Down to 0.1 s so that even a run of a few seconds logs its progress.
    log_interval: float = setting(
        5.0,
        bounds=(0.1, 86_400),
        doc="seconds between progress lines when stderr is not a terminal",
    )
    grace_period: float = setting(
        10.0,
        bounds=(0, 3600),
        doc="after the first Ctrl-C, SIGTERM or SIGHUP, seconds the requests in flight get "
        "to finish",
    )
    outage_max: float = setting(
        300.0,
        bounds=(0, 86_400),
        doc="seconds to wait for a gateway that is down before stopping with exit 75",
    )
    resume_max_age: float = setting(
        20.0,
        bounds=(0.01, 100_000),
        doc="hours: `--resume` continues an unfinished run only if it started this recently "
        "(a run the daily quota stopped is continued however old)",
    )
    busy_timeout: float = setting(
        30.0,
        bounds=(0, 3600),
        doc="seconds to wait for a write lock held by another program (sqlite3 CLI, pandas) "
        "before giving up with exit 2",
    )
    event_loop: str = setting(
        "auto",
        check=checks.event_loop,
        shape=", ".join(f"`{loop}`" for loop in EVENT_LOOPS),
        doc="`auto` uses uvloop when it is installed (`pip install -e '.[fast]'`), else asyncio",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointConfig:
    """One endpoint's path, count and limits."""

    name: str
    path: str = setting(
        "",
        check=checks.path_template,
        shape="starts with `/`",
        shown="see below",
        per_endpoint=True,
        doc="URL path in the `gateway` dialect; `{symbol}` (exactly once) is replaced by the "
        "URL-encoded symbol; no `?`, `#` or whitespace (the `openapi` paths are the vendor's)",
    )
    count: int = setting(per_endpoint=True, doc="records per request")
    # Up to 10,000 a second: a gateway of one's own on the same machine or network; one
    # process sends a few thousand at most, so the limiter never holds it back there.
    rate: float = setting(10.0, bounds=(0.01, 10_000), doc="requests per second, retries included")
    burst: int = setting(
        1, bounds=(0, 10_000), doc="requests allowed above `rate` in any one second"
    )
    concurrency: int = setting(5, bounds=(1, 10_000), doc="requests in flight at once")
    stale_after_us: int = setting(
        per_endpoint=True,
        bounds=(0, 250),
        doc="business days after a trading date by which the US record of it is published "
        "at the latest; `check` calls US data older than that stale",
    )
    stale_after_hk: int = setting(
        per_endpoint=True,
        bounds=(0, 250),
        doc="the same for HK: business days after a trading date by which its record is "
        "published at the latest",
    )


SECTIONS: dict[str, tuple[Setting, ...]] = {
    "gateway": settings_of(GatewayConfig),
    "sweep": settings_of(SweepConfig),
    **{
        f"endpoints.{endpoint.name}": settings_of(EndpointConfig, endpoint)
        for endpoint in ENDPOINTS
    },
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Every setting, resolved and validated."""

    gateway: GatewayConfig
    sweep: SweepConfig
    endpoints: tuple[EndpointConfig, ...]  #: the data sets the dialect serves, as swept
    simulate: Mapping[str, Any] = field(default_factory=dict)
    #: the ``HARVESTER_SIMULATE_*`` variables as set, for the simulated gateway to read and check
    simulate_variables: Mapping[str, str] = field(default_factory=dict)
    #: the file the ``[simulate]`` table came from, the topmost one read; or ``defaults``
    source: str = "defaults"
    #: every file read, lowest first: the shipped one, then ``--config``
    files: tuple[str, ...] = ()
    #: every data set's settings, those the dialect does not serve too (checked, not swept)
    configured: tuple[EndpointConfig, ...] = ()

    @property
    def dialect(self) -> Dialect:
        """The upstream dialect's defaults."""
        return DIALECTS[self.gateway.api]

    @property
    def pace(self) -> float:
        """Requests a second a sweep may send: its endpoints' rates together, capped by the
        account's ``[gateway] rate`` when there is one."""
        rates = sum(endpoint.rate for endpoint in self.endpoints)
        return min(rates, self.gateway.rate) if self.gateway.rate else rates

    def endpoint(self, name: str) -> EndpointConfig:
        """The settings of the endpoint called ``name``, whether the dialect serves it or not."""
        for endpoint in (*self.endpoints, *self.configured):
            if endpoint.name == name:
                return endpoint
        raise KeyError(name)


def env_name(section: str, key: str) -> str:
    """The environment variable that overrides ``[section] key``."""
    return "HARVESTER_" + f"{section}_{key}".replace(".", "_").upper()


SIMULATE_PREFIX = env_name(SIMULATE, "")
"""``HARVESTER_SIMULATE_``: the variables over the ``[simulate]`` table, the gateway's to check."""


def _check_environ(environ: Mapping[str, str], token_env: str) -> None:
    """Refuse ``HARVESTER_*`` variables that set nothing, as unknown keys in the file are.

    ``HARVESTER_SIMULATE_*`` ones are left to the simulated gateway, as its table's keys are.
    """
    known = {env_name(section, spec.key) for section, specs in SECTIONS.items() for spec in specs}
    # The default token variable stays allowed when token_env names another: it may be
    # set for another tool, and it is never a misspelled setting.
    known.update((token_env, "HARVESTER_TOKEN"))
    for variable in sorted(name for name in environ if name.startswith("HARVESTER_")):
        if variable in known or variable.startswith(SIMULATE_PREFIX):
            continue
        # Compare without the shared prefix, or every name would look close to every other.
        tails = {
            name.removeprefix("HARVESTER_"): name for name in known if name.startswith("HARVESTER_")
        }
        close = difflib.get_close_matches(variable.removeprefix("HARVESTER_"), tails, n=1)
        hint = f"; did you mean {tails[close[0]]}?" if close else ""
        raise ConfigError(f"environment {variable}: unknown setting variable{hint}")


def _coerce(spec: Setting, value: Any, where: str) -> Any:
    """Check a file value's type; bools are not numbers and ints are fine as floats."""
    expected = spec.type
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {expected.__name__}, got {value!r}")
    return value


def _from_text(spec: Setting, text: str, where: str) -> Any:
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
        if name != SIMULATE and name not in SECTIONS:
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


@dataclass(frozen=True, slots=True)
class _Layers:
    """The sources above the defaults, in the order they apply."""

    files: tuple[tuple[str, Mapping[str, Mapping[str, Any]]], ...]  #: (name, tables), lowest first
    environ: Mapping[str, str]
    overrides: Mapping[str, Mapping[str, Any]]


def _resolve(section: str, spec: Setting, layers: _Layers) -> Any:
    """A setting's checked value; an error names where it came from: file, variable or option."""
    key = spec.key
    value, where = spec.default, f"defaults: [{section}] {key}"
    for name, tables in layers.files:
        table = tables.get(section, {})
        if key in table:
            where = f"{name}: [{section}] {key}"
            value = _coerce(spec, table[key], where)
    variable = env_name(section, key)
    if variable in layers.environ:
        where = f"environment {variable}"
        value = _from_text(spec, layers.environ[variable], where)
    option = layers.overrides.get(section, {})
    if key in option:
        where = f"option for [{section}] {key}"
        value = _coerce(spec, option[key], where)
    problem = spec.problem(value)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    return value


def _resolve_section(section: str, layers: _Layers) -> dict[str, Any]:
    """Every setting of ``section``, resolved; an unknown key in a file is an error."""
    specs = SECTIONS[section]
    keys = {spec.key for spec in specs}
    for name, tables in layers.files:
        for key in tables.get(section, {}):
            if key not in keys:
                raise ConfigError(f"{name}: unknown setting [{section}] {key}")
    return {spec.key: _resolve(section, spec, layers) for spec in specs}


def config_files(path: Path | None) -> tuple[Path, ...]:
    """The files read, lowest first: ``DEFAULT_CONFIG`` if it exists, then ``path`` over it.

    ``path`` naming the shipped file itself reads it once.
    """
    shipped = (DEFAULT_CONFIG,) if DEFAULT_CONFIG.is_file() else ()
    if path is None:
        return shipped
    if shipped and path.is_file() and path.samefile(DEFAULT_CONFIG):
        return (path,)
    return (*shipped, path)


def load_settings(
    path: Path | None = None,
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings from defaults, the shipped file, ``path`` over it, env, flags."""
    environ = os.environ if environ is None else environ
    files = tuple((str(file), load_file(file)) for file in config_files(path))
    layers = _Layers(files, environ, overrides or {})
    resolved = {section: _resolve_section(section, layers) for section in SECTIONS}
    _check_environ(environ, resolved["gateway"]["token_env"])
    gateway = _dialect_defaults(resolved["gateway"], environ)
    configured = {
        endpoint.name: EndpointConfig(name=endpoint.name, **resolved[f"endpoints.{endpoint.name}"])
        for endpoint in ENDPOINTS
    }
    source, top = files[-1] if files else ("defaults", {})
    return Settings(
        gateway=GatewayConfig(**gateway),
        sweep=SweepConfig(**resolved["sweep"]),
        endpoints=tuple(configured[endpoint.name] for endpoint in served_by(gateway["api"])),
        configured=tuple(configured.values()),
        simulate=dict(top.get(SIMULATE, {})),
        simulate_variables={
            name: text for name, text in environ.items() if name.startswith(SIMULATE_PREFIX)
        },
        source=source,
        files=tuple(name for name, _ in files),
    )


def _dialect_defaults(gateway: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """``[gateway]`` with the values left at 0 or empty taken from its dialect.

    The root URL is, in order: the setting, the SDK's ``<PREFIX>HTTP_URL`` variable
    (as the vendor's SDK reads it), the dialect's own.
    """
    dialect = DIALECTS[gateway["api"]]
    resolved = dict(gateway)
    if not resolved["base_url"]:
        found = [(f"{p}HTTP_URL", environ.get(f"{p}HTTP_URL", "")) for p in dialect.env_prefixes]
        variable, url = next(((name, url) for name, url in found if url), ("", dialect.url))
        problem = checks.url(url)
        if problem:
            raise ConfigError(f"environment {variable}: {problem} (got {url!r})")
        resolved["base_url"] = url
    resolved["rate"] = resolved["rate"] or dialect.rate
    resolved["concurrency"] = resolved["concurrency"] or dialect.concurrency
    return resolved


#: Command-line flags that override a setting: attribute of the parsed arguments -> (section, key).
#: The one list of them: a command has the flags its parser declares, and no argument of
#: any command is named like one unless it is that flag.
FLAGS = {
    "symbols": ("sweep", "symbols"),
    "db": ("sweep", "db"),
    "base_url": ("gateway", "base_url"),
    "strict": ("sweep", "strict"),
    "full": ("sweep", "full"),
}


def command_settings(args: Any) -> Settings:
    """A command's settings: its ``--config`` file, then the flags of ``FLAGS`` it has set.

    A flag the command does not declare is absent from ``args``, and one left out is None.
    """
    overrides: dict[str, dict[str, Any]] = {"sweep": {}, "gateway": {}}
    for flag, (section, key) in FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            overrides[section][key] = value
    return load_settings(getattr(args, "config", None), overrides=overrides)
