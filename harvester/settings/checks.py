"""Rules for setting values that a range cannot state: URLs, path templates, file names.

Each check takes a value of the setting's type and returns what is wrong with it,
or None. ``config`` adds the setting's name, its origin and the value.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable
from urllib.parse import urlsplit

from yarl import URL

Check = Callable[[str], str | None]

EVENT_LOOPS = ("auto", "asyncio", "uvloop")


def one_of(choices: tuple[str, ...]) -> Check:
    """A check that the value is one of ``choices``."""

    def check(value: str) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


#: One of the known event loops.
event_loop = one_of(EVENT_LOOPS)


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


def url_or_empty(value: str) -> str | None:
    """Empty (the dialect's own root URL), or a URL as :func:`url` takes it."""
    return url(value) if value else None


def url(value: str) -> str | None:
    """An http(s) URL with a host, no credentials, query, fragment or stray characters."""
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


def path_template(value: str) -> str | None:
    """A path starting with ``/`` with ``{symbol}`` exactly once and no query."""
    if not value.startswith("/") or value.count("{symbol}") != 1:
        return "must start with / and contain {symbol} exactly once"
    if _blank_or_control(value):
        return "must not contain whitespace or control characters"
    # A ? here silently swallowed the count query the client appends.
    if "?" in value or "#" in value:
        return "must not contain ? or #; the query is built from count"
    return None


def db_file(value: str) -> str | None:
    """A database file name: not empty, not ``:memory:``, not a folder."""
    if not value:
        return "must name a database file, not be empty"
    if value == ":memory:":
        return "must name a database file; :memory: would keep nothing"
    last = value.replace(os.sep, "/").rsplit("/", 1)[-1]
    if last in ("", ".", ".."):
        return "must name a database file, not a folder"
    return None
