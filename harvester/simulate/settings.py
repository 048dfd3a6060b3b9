"""Settings of the simulated gateway: one frozen, keyword-only dataclass.

Every field has a default, so ``GatewaySettings()`` is a well-behaved gateway
with no faults. Values are checked (and lists turned into tuples) on
construction, so a bad value fails with one line naming the field whether it
came from TOML through :meth:`GatewaySettings.from_mapping`, from the command
line or from a test. :func:`from_environ` reads every field from its
``HARVESTER_SIMULATE_<FIELD>`` variable, checked the same way, the variable named
in the error.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import functools
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harvester.settings.config import SIMULATE, SIMULATE_PREFIX
from harvester.settings.config import env_name as setting_variable

from .dates import FIRST_DAY, LAST_DAY
from .faults import FAULTS, REPEAT
from .publishing import (
    CORRECTION_FORM,
    HOLIDAY_FORM,
    SYMBOL_DATE_FORM,
    Correction,
    Holiday,
    Publishing,
    misdated,
    read_holiday,
    read_symbol_dates,
)
from .symbols import is_canonical

ENDPOINTS: tuple[str, ...] = ("short_trades", "short_interest")
"""The gateway dialect's endpoint names, as used in ``rate_limit``, the stats and the logs."""

OPENAPI_ENDPOINTS: tuple[str, ...] = ("short_trades", "short_positions")
"""The OpenAPI dialect's data sets (API.md section 5), named as ``ENDPOINTS`` are."""

APIS: tuple[str, ...] = ("gateway", "openapi")
"""The dialects the gateway speaks: API.md sections 1-4, or the vendor's OpenAPI (section 5)."""

DEMO_APP_KEY = "demo-app-key"
"""The OpenAPI dialect's app key unless set: public, so a simulated sweep can sign with it."""
DEMO_APP_SECRET = "demo-app-secret"
"""The OpenAPI dialect's app secret unless set."""
DEMO_ACCESS_TOKEN = "demo-access-token"
"""The OpenAPI dialect's access token unless set (sent as issued, without ``Bearer``)."""
DEMO_OAUTH_TOKEN = "demo-oauth-token"
"""The OpenAPI dialect's OAuth token unless set (``authorization: Bearer ...``, unsigned)."""

DEFAULT_TODAY = dt.date(2026, 5, 18)
"""The day served by default: fixed so the data never depends on the real date."""

THROTTLE_SETTINGS: tuple[str, ...] = (
    "shared_rate",
    "rate_schedule",
    "overload_answer",
    "retry_after",
    "count_refused",
    "quota",
    "quota_answer",
    "ratelimit_headers",
)
"""The settings of the throttle faults (:mod:`.throttle`); all off by default."""

PUBLISHING_SETTINGS: tuple[str, ...] = (
    "holidays",
    "late",
    "suspended",
    "delisted",
    "restatements",
)
"""The settings of :mod:`.publishing` (publishing as real vendors do); all empty by default."""


@dataclass(frozen=True, kw_only=True)
class GatewaySettings:
    """How the simulated gateway answers: served day, schedules, faults, limits, auth.

    ``today`` is the day served: the data as published by that day. With
    ``schedules`` off (the default) every record is published on its own date,
    so the newest day served is ``today``; with it on, each market x endpoint
    pair publishes on its calendar (:mod:`.calendars`) and restates now and then
    (``restate_rate``, :mod:`.restate`). ``holidays``, ``late``, ``suspended``,
    ``delisted`` and ``restatements`` (:mod:`.publishing`) close markets on some
    days, hold some symbols a business day back, end a symbol's records or all its
    answers from a date, and restate chosen records by chosen factors.

    ``api`` picks the dialect: ``gateway`` serves the two endpoints of API.md
    sections 1-4 (at ``short_trades_path`` and ``short_interest_path``, with
    ``token`` as a bearer token); ``openapi`` serves the vendor's OpenAPI of
    section 5 instead (:mod:`.openapi`): requests signed with ``app_key``,
    ``app_secret`` and ``access_token`` (or ``authorization: Bearer
    <oauth_token>``), an ``x-timestamp`` at most ``max_clock_skew`` seconds off
    the gateway's wall clock, at most ``account_rate`` requests in any second and
    ``account_concurrency`` at once over both data sets (0: no limit), and
    history back to ``history_start``.

    The throttle faults (:mod:`.throttle`), all off by default, act in both
    dialects: at most ``shared_rate`` requests in any second over every
    endpoint together, or the rate of ``rate_schedule``'s step in force
    (``(seconds since the first request, rate)`` pairs); an over-limit request
    answered as ``overload_answer`` (``429`` with ``Retry-After:
    <retry_after>``, ``429_no_retry_after``, or ``-5``); ``count_refused``
    makes refused requests fill the window too; ``quota`` accepted requests
    per UTC day of the wall clock (whole again when the served day moves), then
    ``quota_answer`` (``429`` until
    midnight, ``429_long``, ``403``); ``ratelimit_headers`` (``none``,
    ``ietf``, ``x``) advertise the limit and the quota on every answer.
    """

    seed: int = 0
    latency: float = 0.0
    latency_jitter: float = 0.0
    error_rate: float = 0.0
    http_429_rate: float = 0.0
    http_5xx_rate: float = 0.0
    malformed_rate: float = 0.0
    rate_limit: dict[str, int] = field(default_factory=dict)
    no_data: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()
    invalid_symbol: tuple[str, ...] = ()
    empty: tuple[str, ...] = ()
    scripted: dict[str, tuple[str, ...]] = field(default_factory=dict)
    token: str | None = None
    today: dt.date = DEFAULT_TODAY
    schedules: bool = False
    restate_rate: float = 0.05
    holidays: tuple[Holiday, ...] = ()
    late: tuple[str, ...] = ()
    suspended: dict[str, dt.date] = field(default_factory=dict)
    delisted: dict[str, dt.date] = field(default_factory=dict)
    restatements: tuple[Correction, ...] = ()
    short_trades_path: str = "/v1/quote/{symbol}/short-selling/short-trades"
    short_interest_path: str = "/v1/quote/{symbol}/short-selling/short-interest"
    api: str = "gateway"
    app_key: str = DEMO_APP_KEY
    app_secret: str = DEMO_APP_SECRET
    access_token: str = DEMO_ACCESS_TOKEN
    oauth_token: str | None = DEMO_OAUTH_TOKEN
    max_clock_skew: float = 300.0
    account_rate: int = 10
    account_concurrency: int = 5
    history_start: dt.date = dt.date(2015, 1, 1)
    shared_rate: int = 0
    rate_schedule: tuple[tuple[float, int], ...] = ()
    overload_answer: str = "429"
    retry_after: int = 1
    count_refused: bool = False
    quota: int = 0
    quota_answer: str = "429"
    ratelimit_headers: str = "none"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = _CHECKS[f.name](f.name, getattr(self, f.name))
            # Frozen: normalised values (tuples, copies) are set this way.
            object.__setattr__(self, f.name, value)
        rates = self.fault_rates()
        if sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError("simulate: the fault rates add up to more than 1")
        wrong = misdated(self.holidays, self.restatements)
        if wrong is not None:
            expected = "entries naming a record date of their data set in their market"
            raise _fail("restatements", expected, str(wrong))

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> GatewaySettings:
        """Build settings from a mapping such as a ``[simulate]`` TOML table."""
        names = {f.name for f in dataclasses.fields(cls)}
        table = dict(mapping)
        for key in table:
            if key not in names:
                raise ValueError(f"simulate: unknown setting {key!r}")
        return cls(**table)

    @functools.cached_property
    def publishing(self) -> Publishing:
        """The publishing settings ready for the answers (made on first use, then kept)."""
        return Publishing(self)

    @property
    def throttled(self) -> bool:
        """Whether any throttle setting (:data:`THROTTLE_SETTINGS`) is off its default."""
        defaults = GatewaySettings.__dataclass_fields__
        return any(getattr(self, name) != defaults[name].default for name in THROTTLE_SETTINGS)

    def fault_rates(self) -> dict[str, float]:
        """The random fault rates by family, as :func:`faults.random_fault` wants."""
        return {
            "internal_error": self.error_rate,
            "http_429": self.http_429_rate,
            "http_5xx": self.http_5xx_rate,
            "malformed": self.malformed_rate,
        }


def _fail(name: str, expected: str, value: object) -> ValueError:
    """One-line error for a field holding the wrong kind of value."""
    return ValueError(f"simulate: {name} must be {expected}, got {value!r}")


def _int(name: str, value: object) -> int:
    # bool is an int subclass; `seed = true` in TOML is a mistake, not 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(name, "an integer", value)
    return value


def _seconds(name: str, value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise _fail(name, "a number of seconds >= 0", value)
    return float(value)


def _fraction(name: str, value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
        raise _fail(name, "a fraction between 0 and 1", value)
    return float(value)


def _symbols(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise _fail(name, "a list of symbols", value)
    for item in value:
        if not isinstance(item, str) or not is_canonical(item):
            raise _fail(name, "canonical symbols like 'AAPL.US' or '700.HK'", item)
    return tuple(value)


def _rate_limit(name: str, value: object) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise _fail(name, "a table of endpoint = requests per second", value)
    # Keyed by the endpoints of either dialect: a config names its own endpoints, and
    # the entries of the dialect not served are simply never consulted.
    names = dict.fromkeys((*ENDPOINTS, *OPENAPI_ENDPOINTS))
    for endpoint, limit in value.items():
        if endpoint not in names:
            raise _fail(name, f"keyed by one of {', '.join(names)}", endpoint)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise _fail(f"{name}.{endpoint}", "an integer >= 0", limit)
    return dict(value)


def _scripted(name: str, value: object) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise _fail(name, "a table of symbol = [fault, ...]", value)
    scripts: dict[str, tuple[str, ...]] = {}
    for symbol, script in value.items():
        if not isinstance(symbol, str) or not is_canonical(symbol):
            raise _fail(name, "keyed by canonical symbols like 'AAPL.US'", symbol)
        scripts[symbol] = _script(f"{name}.{symbol}", script)
    return scripts


def _script(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise _fail(name, "a list of fault names", value)
    steps = tuple(value)
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        if step == REPEAT and last and i > 0:
            continue
        if step not in FAULTS:
            raise _fail(name, f"fault names from {', '.join(FAULTS)} (and a final '*')", step)
    return steps


def _token(name: str, value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise _fail(name, "a non-empty string or absent", value)
    return value


def _date(name: str, value: object) -> dt.date:
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise _fail(name, "a date like 2026-05-18", value) from None
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise _fail(name, "a date like 2026-05-18", value)
    if not FIRST_DAY <= value <= LAST_DAY:
        raise _fail(name, f"a date from {FIRST_DAY} to {LAST_DAY}", value.isoformat())
    return value


def _holidays(name: str, value: object) -> tuple[Holiday, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise _fail(name, f"a list of {HOLIDAY_FORM}", value)
    found: set[Holiday] = set()
    for item in value:
        try:
            found.update(read_holiday(item))
        except ValueError as exc:
            raise _fail(name, HOLIDAY_FORM, exc.args[0]) from None
    return tuple(sorted(found))


def _symbol_dates(name: str, value: object) -> dict[str, dt.date]:
    try:
        return read_symbol_dates(value)
    except ValueError as exc:
        raise _fail(name, SYMBOL_DATE_FORM, exc.args[0]) from None


def _corrections(name: str, value: object) -> tuple[Correction, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise _fail(name, f"a list of {CORRECTION_FORM}", value)
    try:
        return tuple(Correction.read(item) for item in value)
    except ValueError as exc:
        raise _fail(name, CORRECTION_FORM, exc.args[0]) from None


def _api(name: str, value: object) -> str:
    if value not in APIS:
        raise _fail(name, f"one of {', '.join(APIS)}", value)
    return str(value)


def _secret(name: str, value: object) -> str:
    if not isinstance(value, str) or not value or value != value.strip():
        raise _fail(name, "a non-empty string without surrounding blanks", value)
    return value


def _count(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _fail(name, "an integer >= 0 (0 = no limit)", value)
    return value


def _whole_seconds(name: str, value: object) -> int:
    # Retry-After is delay-seconds: a whole number, never a fraction.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _fail(name, "a whole number of seconds >= 0", value)
    return value


def _choice(choices: tuple[str, ...]) -> Callable[[str, Any], str]:
    """A checker for a setting that takes one of ``choices`` (an integer as its text too)."""

    def check(name: str, value: object) -> str:
        # TOML users write `overload_answer = -5` or `quota_answer = 403` as often as the string.
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if value not in choices:
            raise _fail(name, f"one of {', '.join(choices)}", value)
        return str(value)

    return check


def _schedule(name: str, value: object) -> tuple[tuple[float, int], ...]:
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise _fail(name, "a list of [seconds, rate] pairs", value)
    steps: list[tuple[float, int]] = []
    for item in value:
        if isinstance(item, str | bytes) or not isinstance(item, list | tuple) or len(item) != 2:
            raise _fail(name, "a list of [seconds, rate] pairs", item)
        at, rate = item
        if not isinstance(at, int | float) or isinstance(at, bool) or not 0 <= at < float("inf"):
            raise _fail(f"{name} time", "a number of seconds >= 0", at)
        if steps and at <= steps[-1][0]:
            raise _fail(f"{name} time", "greater than the step before it", at)
        steps.append((float(at), _count(f"{name} rate", rate)))
    return tuple(steps)


OVERLOAD_ANSWERS: tuple[str, ...] = ("429", "429_no_retry_after", "-5")
"""How a request over the shared limit is answered: 429 with or without Retry-After, or -5."""
QUOTA_ANSWERS: tuple[str, ...] = ("429", "429_long", "403")
"""How a request past the day's quota is answered: 429 until midnight, 429 for 10 h, or 403."""
RATELIMIT_HEADERS: tuple[str, ...] = ("none", "ietf", "x")
"""Which rate-limit header fields every answer carries: none, the IETF draft's, or X-RateLimit-*."""


def endpoints(api: str) -> tuple[str, ...]:
    """The endpoint names the dialect ``api`` serves."""
    return OPENAPI_ENDPOINTS if api == "openapi" else ENDPOINTS


def checked(name: str, value: object) -> Any:
    """One setting's value checked and normalised alone; ValueError naming it."""
    return _CHECKS[name](name, value)


def served_day(value: object) -> dt.date:
    """A value for ``today`` (a date or ``YYYY-MM-DD``) checked; ValueError naming ``today``."""
    return _date("today", value)


ENV_PREFIX = SIMULATE_PREFIX
"""A field's environment variable is this and its name in upper case: HARVESTER_SIMULATE_TODAY."""

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def env_name(name: str) -> str:
    """The environment variable that sets the field ``name``, by the harvester's rule."""
    return setting_variable(SIMULATE, name)


def from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    """The fields the ``HARVESTER_SIMULATE_*`` variables of ``environ`` set, each checked.

    A variable naming no field, or holding a value its field refuses, is a ValueError of
    one line naming the variable. How the text is read: :func:`_from_text`.
    """
    fields = {f.name: f for f in dataclasses.fields(GatewaySettings)}
    values: dict[str, Any] = {}
    for variable in sorted(name for name in environ if name.startswith(ENV_PREFIX)):
        name = variable.removeprefix(ENV_PREFIX).lower()
        if name not in fields:
            close = difflib.get_close_matches(name, fields, n=1)
            hint = f"; did you mean {env_name(close[0])}?" if close else ""
            raise ValueError(f"environment {variable}: unknown setting variable{hint}")
        # Kept as read, like a TOML table's values: the fields normalise them once, when built.
        values[name] = _from_text(fields[name], environ[variable])
        try:
            checked(name, values[name])
        except ValueError as exc:
            problem = str(exc).removeprefix("simulate: ")
            raise ValueError(f"environment {variable}: {problem}") from None
    return values


def _from_text(spec: dataclasses.Field[Any], text: str) -> object:
    """A variable's text as the value of the field ``spec``, for its checker to judge.

    Text fields take it as written. A true-or-false field takes ``1``, ``true``, ``yes``,
    ``on`` or their opposites, as the harvester's own variables do. Any other takes a TOML
    value (``2026-05-19``, ``0.05``, ``["A.US", "B.US"]``, ``{ short_trades = 5 }``); text
    that is not one is passed on as it is, a list's split at commas (``A.US,B.US``).
    """
    kind = str(spec.type)
    if kind in ("str", "str | None"):
        return text
    if kind == "bool":
        lowered = text.strip().lower()
        return lowered in _TRUE if lowered in (*_TRUE, *_FALSE) else text
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        if kind.startswith("tuple["):
            return [item.strip() for item in text.split(",") if item.strip()]
        return text


def _bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise _fail(name, "true or false", value)
    return value


def _path(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.startswith("/") or "{symbol}" not in value:
        raise _fail(name, "a path starting with '/' containing '{symbol}'", value)
    if value.startswith("/_"):
        # /_stats and /_sim/... are the gateway's own; an API path there would shadow them.
        raise _fail(name, "a path not starting with '/_' (kept for /_stats and /_sim)", value)
    return value


_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "seed": _int,
    "latency": _seconds,
    "latency_jitter": _seconds,
    "error_rate": _fraction,
    "http_429_rate": _fraction,
    "http_5xx_rate": _fraction,
    "malformed_rate": _fraction,
    "rate_limit": _rate_limit,
    "no_data": _symbols,
    "unsupported": _symbols,
    "invalid_symbol": _symbols,
    "empty": _symbols,
    "scripted": _scripted,
    "token": _token,
    "today": _date,
    "schedules": _bool,
    "restate_rate": _fraction,
    "holidays": _holidays,
    "late": _symbols,
    "suspended": _symbol_dates,
    "delisted": _symbol_dates,
    "restatements": _corrections,
    "short_trades_path": _path,
    "short_interest_path": _path,
    "api": _api,
    "app_key": _secret,
    "app_secret": _secret,
    "access_token": _secret,
    "oauth_token": _token,
    "max_clock_skew": _seconds,
    "account_rate": _count,
    "account_concurrency": _count,
    "history_start": _date,
    "shared_rate": _count,
    "rate_schedule": _schedule,
    "overload_answer": _choice(OVERLOAD_ANSWERS),
    "retry_after": _whole_seconds,
    "count_refused": _bool,
    "quota": _count,
    "quota_answer": _choice(QUOTA_ANSWERS),
    "ratelimit_headers": _choice(RATELIMIT_HEADERS),
}
"""Field name -> checker returning the normalised value; drives validation."""
