"""What an upstream says of its own limits in its answers' header fields; malformed is ignored.

- ``RateLimit-Policy`` (IETF draft-ietf-httpapi-ratelimit-headers): a list of
  policies, ``"default";q=10;w=1`` (quota ``q`` requests per window ``w``
  seconds); the older drafts' bare ``10;w=1`` too.
- ``RateLimit``: for each policy ``"default";r=0;t=30`` (``r`` requests left,
  ``t`` seconds until the window frees); the older ``limit=10, remaining=0,
  reset=30`` too.
- ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (seconds, or a unix time
  when it is that large), as many APIs send them; ``X-RateLimit-Limit`` names no
  window, so it sets no pace.

A policy of a short window (up to ``PACE_WINDOW`` seconds) states a pace: its
quota over its window. Nothing left, for longer than ``SPENT_AFTER`` seconds,
is a spent quota: the run stops rather than wait for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

PACE_WINDOW = 60.0  #: seconds: a policy over a longer window is a quota, not a pace
SPENT_AFTER = 60.0  #: seconds: nothing left for longer than this is a spent quota
_EPOCH = 1_000_000_000  # an X-RateLimit-Reset this large is a unix time, not seconds
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")


@dataclass(frozen=True, slots=True)
class Stated:
    """The upstream's own word: the pace it allows, and how long a spent quota stays spent."""

    per_second: float | None = None  #: the tightest short-window quota per second, if stated
    spent_for: float | None = None  #: seconds until a spent quota frees, if over SPENT_AFTER


def _number(text: str) -> float | None:
    text = text.strip().strip('"')
    return float(text) if _NUMBER.fullmatch(text) else None


def _items(field: str) -> list[tuple[str, dict[str, float]]]:
    """A structured-field list: each item's first member and its numeric parameters."""
    items = []
    for item in field.split(","):
        first, *params = item.split(";")
        numbers = {}
        for param in params:
            key, _, value = param.partition("=")
            number = _number(value)
            if number is not None:
                numbers[key.strip().lower()] = number
        items.append((first.strip(), numbers))
    return items


def _old_style(field: str) -> dict[str, float]:
    """``limit=10, remaining=0, reset=30`` as numbers, or nothing."""
    found = {}
    for part in field.split(","):
        key, sep, value = part.partition("=")
        number = _number(value)
        if sep and number is not None:
            found[key.strip().lower()] = number
    return found


def _pace(policy: str) -> float | None:
    paces = []
    for first, params in _items(policy):
        quota = params.get("q", _number(first) if first else None)
        window = params.get("w")
        if quota is not None and window and 0 < window <= PACE_WINDOW:
            paces.append(quota / window)
    return min(paces) if paces else None


def _spent(remaining: float | None, reset: float | None) -> float | None:
    if remaining == 0 and reset is not None and reset > SPENT_AFTER:
        return reset
    return None


def stated(headers: Mapping[str, str], now: float) -> Stated:
    """What ``headers`` state, ``now`` being the unix time (for a reset given as one)."""
    policy = headers.get("RateLimit-Policy")
    per_second = _pace(policy) if policy else None
    spent: list[float] = []
    current = headers.get("RateLimit")
    if current:
        old = _old_style(current)
        if "remaining" in old:
            found = _spent(old.get("remaining"), old.get("reset"))
            spent += [found] if found else []
        else:
            for _, params in _items(current):
                found = _spent(params.get("r"), params.get("t"))
                spent += [found] if found else []
    remaining = _number(headers.get("X-RateLimit-Remaining", ""))
    reset = _number(headers.get("X-RateLimit-Reset", ""))
    if reset is not None and reset > _EPOCH:
        reset -= now
    found = _spent(remaining, reset)
    spent += [found] if found else []
    return Stated(per_second, max(spent) if spent else None)
