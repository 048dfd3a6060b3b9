"""Command-line flags for ``harvester simulate``, layered over TOML settings.

Flags left out keep the value of the base settings. Symbol-list flags (and
``--holidays``, ``--late``, ``--restatements``) add to the base lists, and
``--rate-limit`` / ``--script`` / ``--suspended`` / ``--delisted`` add or
replace single entries of the base tables, so a flag can adjust a config file
without restating it.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
from typing import Any

from .faults import FAULTS
from .settings import (
    APIS,
    OVERLOAD_ANSWERS,
    QUOTA_ANSWERS,
    RATELIMIT_HEADERS,
    GatewaySettings,
    checked,
    env_name,
)

_NUMBERS = (
    ("seed", int, "seed of the random faults and restatements (default 0)"),
    ("latency", float, "seconds added to every answer"),
    ("latency_jitter", float, "up to this many more seconds, drawn per request"),
    ("error_rate", float, "fraction of answers that are -5 internal_error"),
    ("http_429_rate", float, "fraction of answers that are HTTP 429"),
    ("http_5xx_rate", float, "fraction of answers that are an HTML 502 page"),
    ("malformed_rate", float, "fraction of answers with a truncated or HTML body"),
    (
        "restate_rate",
        float,
        "with --schedules: fraction of publications that restate a recent record of a symbol "
        "(default 0.05; 0 = never)",
    ),
    (
        "account_rate",
        int,
        "--api openapi: refuse (429) a request that makes more than N arrive in one second, "
        "over both data sets (default 10; 0 = no limit)",
    ),
    (
        "account_concurrency",
        int,
        "--api openapi: refuse (429) a request that makes more than N in flight "
        "(default 5; 0 = no limit)",
    ),
    (
        "max_clock_skew",
        float,
        "--api openapi: refuse (401) a request whose x-timestamp is more than N seconds "
        "off the gateway's clock (default 300)",
    ),
    (
        "shared_rate",
        int,
        "refuse a request that makes more than N accepted in one second over every endpoint "
        "together, in either dialect (default 0 = no limit); see --overload-answer",
    ),
    (
        "retry_after",
        int,
        "the Retry-After seconds of --overload-answer 429 (default 1)",
    ),
    (
        "quota",
        int,
        "accept N requests per UTC day of the wall clock, then refuse every request until "
        "midnight or until POST /_sim/today moves the served day (default 0 = no quota); "
        "see --quota-answer",
    ),
)
_CHOICES = (
    (
        "overload_answer",
        OVERLOAD_ANSWERS,
        "how a request over the shared limit is answered: 429 with Retry-After (default), "
        "429 without it, or -5 (gateway: HTTP 200 with the -5 envelope; openapi: HTTP 500)",
    ),
    (
        "quota_answer",
        QUOTA_ANSWERS,
        "how a request past the quota is answered: 429 with Retry-After until UTC midnight "
        "(default), 429 with Retry-After: 36000, or 403 saying 'quota'",
    ),
    (
        "ratelimit_headers",
        RATELIMIT_HEADERS,
        "advertise the shared limit and the quota on every answer: not at all (default), "
        "as the IETF draft's RateLimit-Policy and RateLimit, or as X-RateLimit-*",
    ),
)
_ENTRIES = (
    (
        "holidays",
        "[MARKET:]YYYY-MM-DD",
        "a day MARKET (US or HK; both if left out) does not trade: no daily record is dated on "
        "it, a report date on it moves to the trading day before, a publication due on it "
        "appears the next trading day",
    ),
    (
        "late",
        "SYMBOL",
        "SYMBOL's data appears one business day after the rest of its pair's",
    ),
    (
        "suspended",
        "SYMBOL=YYYY-MM-DD",
        "SYMBOL has no record dated on or after the date; answers hold its older records",
    ),
    (
        "delisted",
        "SYMBOL=YYYY-MM-DD",
        "from that served day on, every request for SYMBOL answers no data",
    ),
    (
        "restatements",
        "SYMBOL:ENDPOINT:RECORD_DATE:PUBLISHED_DAY:FACTOR",
        "from served day PUBLISHED_DAY on, multiply the first quantity of SYMBOL's ENDPOINT "
        "record of RECORD_DATE by FACTOR (short volume, short turnover, short shares)",
    ),
)
_TABLES = ("suspended", "delisted")
_LISTS = (
    ("no_data", "always answer -10 no_data for SYMBOL"),
    ("unsupported", "always answer -8 unsupported for SYMBOL"),
    ("invalid_symbol", "always answer -7 invalid_symbol for SYMBOL"),
    ("empty", "always answer success with no records for SYMBOL"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the gateway's flags (all optional) to ``parser``."""
    group = parser.add_argument_group("simulated gateway")
    for name, kind, text in _NUMBERS:
        flag = "--" + name.replace("_", "-")
        group.add_argument(
            flag, dest=f"sim_{name}", type=_checked(name, kind), metavar="N", help=text
        )
    for name, text in _LISTS:
        flag = "--" + name.replace("_", "-")
        group.add_argument(flag, dest=f"sim_{name}", action="append", metavar="SYMBOL", help=text)
    for name, metavar, text in _ENTRIES:
        flag = "--" + name.replace("_", "-")
        group.add_argument(
            flag,
            dest=f"sim_{name}",
            action="append",
            type=_checked_entry(name),
            metavar=metavar,
            help=text + " (repeatable)",
        )
    group.add_argument(
        "--rate-limit",
        dest="sim_rate_limit",
        action="append",
        type=_pair(int),
        metavar="ENDPOINT=N",
        help="accept at most N requests a second on ENDPOINT, then answer 429",
    )
    group.add_argument(
        "--script",
        dest="sim_scripted",
        action="append",
        type=_pair(_steps),
        metavar="SYMBOL=FAULT,...",
        help=f"serve these faults in order to SYMBOL; a final * repeats the last. "
        f"Faults: {', '.join(FAULTS)}",
    )
    group.add_argument("--token", dest="sim_token", help="require 'Authorization: Bearer TOKEN'")
    group.add_argument(
        "--date",
        dest="sim_today",
        type=served_day_argument,
        metavar="YYYY-MM-DD",
        help="the day served: the data as published by then (default 2026-05-18); "
        "POST /_sim/today steps it while running",
    )
    group.add_argument(
        "--api",
        dest="sim_api",
        choices=APIS,
        help="the dialect served: the quote gateway of API.md sections 1-4 (default), or the "
        "vendor's signed OpenAPI of section 5 (demo credentials unless the config sets them)",
    )
    group.add_argument(
        "--history-start",
        dest="sim_history_start",
        type=_checked("history_start", str),
        metavar="YYYY-MM-DD",
        help="--api openapi: the oldest record date served (default 2015-01-01)",
    )
    for name, choices, text in _CHOICES:
        flag = "--" + name.replace("_", "-")
        group.add_argument(flag, dest=f"sim_{name}", choices=choices, help=text)
    group.add_argument(
        "--rate-schedule",
        dest="sim_rate_schedule",
        type=_checked("rate_schedule", _schedule),
        metavar="T:N,...",
        help="the shared limit is N a second from T seconds after the first request "
        "(0:20,20:5: 20/s, then 5/s from t = 20 s); before the first T, --shared-rate",
    )
    group.add_argument(
        "--count-refused",
        dest="sim_count_refused",
        action=argparse.BooleanOptionalAction,
        help="refused requests fill the shared limit's second too, so a client that keeps "
        "trying stays refused (default: off, only accepted requests count)",
    )
    group.add_argument(
        "--schedules",
        dest="sim_schedules",
        action=argparse.BooleanOptionalAction,
        help="publish each market x endpoint pair on its own calendar, with restatements "
        "(default: off, every day published at once)",
    )


def settings_from_args(ns: argparse.Namespace, base: GatewaySettings) -> GatewaySettings:
    """``base`` with the flags given in ``ns`` applied; raises ValueError on bad values."""
    changes: dict[str, Any] = {}
    for name, _, _ in _NUMBERS:
        _set(changes, name, getattr(ns, f"sim_{name}", None))
    for name, _ in _LISTS:
        extra = getattr(ns, f"sim_{name}", None)
        if extra:
            changes[name] = (*getattr(base, name), *extra)
    for name in ("rate_limit", "scripted"):
        pairs = getattr(ns, f"sim_{name}", None)
        if pairs:
            changes[name] = {**getattr(base, name), **dict(pairs)}
    for name, _, _ in _ENTRIES:
        entries = getattr(ns, f"sim_{name}", None)
        if entries and name in _TABLES:
            changes[name] = {**getattr(base, name), **checked(name, entries)}
        elif entries:
            changes[name] = (*getattr(base, name), *entries)
    _set(changes, "token", getattr(ns, "sim_token", None))
    _set(changes, "today", getattr(ns, "sim_today", None))
    _set(changes, "schedules", getattr(ns, "sim_schedules", None))
    _set(changes, "api", getattr(ns, "sim_api", None))
    _set(changes, "history_start", getattr(ns, "sim_history_start", None))
    for name in ("overload_answer", "quota_answer", "ratelimit_headers"):
        _set(changes, name, getattr(ns, f"sim_{name}", None))
    _set(changes, "rate_schedule", getattr(ns, "sim_rate_schedule", None))
    _set(changes, "count_refused", getattr(ns, "sim_count_refused", None))
    return dataclasses.replace(base, **changes)


def settings_markdown() -> str:
    """Every ``[simulate]`` key as a Markdown table: its variable, its default and its flag.

    Written from the one declaration of each (``GatewaySettings``' fields, the flags of
    ``add_arguments``), for ``python -m harvester.docs``.
    """
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    flags = {
        action.dest.removeprefix("sim_"): " / ".join(f"`{flag}`" for flag in action.option_strings)
        for action in parser._actions
        if action.dest.startswith("sim_")
    }
    rows = ["| key | variable | default | flag |", "|---|---|---|---|"]
    for spec in dataclasses.fields(GatewaySettings):
        default = getattr(GatewaySettings(), spec.name)
        cells = (
            f"`{spec.name}`",
            f"`{env_name(spec.name)}`",
            _shown(default),
            flags.get(spec.name),
        )
        rows.append("| " + " | ".join(cell or " " for cell in cells) + " |")
    return "\n".join(rows) + "\n"


def _shown(value: object) -> str:
    """A default as the table shows it: a TOML value, or ``none`` for an absent one."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, tuple):
        return "`[]`" if not value else f"`{list(value)}`"
    if isinstance(value, dict):
        return "`{}`" if not value else f"`{value}`"
    return f"`{value}`"


def served_day_argument(text: str) -> dt.date:
    """An argparse type for a ``--date`` flag: the day served, checked as ``today`` is."""
    day: dt.date = _checked("today", str)(text)
    return day


def _set(changes: dict[str, Any], name: str, value: object) -> None:
    if value is not None:
        changes[name] = value


def _steps(text: str) -> tuple[str, ...]:
    return tuple(step.strip() for step in text.split(",") if step.strip())


def _schedule(text: str) -> list[list[float]]:
    """``T:N,T:N`` read into ``[[T, N], ...]``; the setting's checker does the rest."""
    steps: list[list[float]] = []
    for step in text.split(","):
        at, sep, rate = step.partition(":")
        try:
            if not sep:
                raise ValueError(step)
            steps.append([float(at), int(rate)])
        except ValueError:
            reason = "T:N,... pairs of seconds and a whole rate"
            raise ValueError(f"simulate: rate_schedule must be {reason}, got {text!r}") from None
    return steps


def _checked(name: str, convert: Any) -> Any:
    """An argparse type converting the text, then checking it as the setting ``name``.

    A bad value is then argparse's one-line usage error (exit 2), not a traceback.
    """

    def parse(text: str) -> Any:
        try:
            return checked(name, convert(text))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    parse.__name__ = name  # argparse names the type in some of its messages
    return parse


def _checked_entry(name: str) -> Any:
    """An argparse type checking the text as one entry of the list setting ``name``."""

    def parse(text: str) -> str:
        try:
            checked(name, [text])
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc
        return text

    parse.__name__ = name
    return parse


def _pair(convert: Any) -> Any:
    """An argparse type reading ``KEY=VALUE`` into ``(KEY, convert(VALUE))``."""

    def parse(text: str) -> tuple[str, Any]:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
        try:
            return key.strip(), convert(value.strip())
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"bad value in {text!r}") from exc

    return parse
