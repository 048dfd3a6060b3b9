"""Turn upstream values into typed column values; anything unparseable becomes None.

Callers count a warning for every None that stands for a value that was
expected but unusable. Share counts and money are never negative, and no
value is a boolean, NaN or infinite.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import cache, lru_cache
from typing import cast
from zoneinfo import ZoneInfo

MAX_TEXT = 64  # a longer "number" is junk, not worth parsing
EARLIEST = date(1990, 1, 1)
LATEST = date(2100, 12, 31)
DATE_CACHE = 8192  # distinct date texts and timestamps remembered per kind


@cache
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for ``name``, cached."""
    return ZoneInfo(name)


def to_int(value: object) -> int | None:
    """A non-negative whole number (``"5748485"``, ``5748485``, ``"5748485.0"``) or None."""
    kind = type(value)
    number: int | float
    if kind is str:
        text = str(value)
        if not 0 < len(text) <= MAX_TEXT:
            return None
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                return None
    elif isinstance(value, int | float) and kind is not bool:
        number = value
    else:
        return None
    if isinstance(number, float):
        if not math.isfinite(number) or not number.is_integer():
            return None
        number = int(number)
    return number if 0 <= number < 2**63 else None


def to_float(value: object) -> float | None:
    """A finite, non-negative number (``"0.3643"``, ``456.4``) or None."""
    kind = type(value)
    if kind is float:
        result = cast(float, value)
    elif kind is str:
        text = str(value)
        if not 0 < len(text) <= MAX_TEXT:
            return None
        try:
            result = float(text)  # reads whole numbers too, rounded as int() then float() would
        except ValueError:
            return None
    elif isinstance(value, int | float) and kind is not bool:
        try:
            result = float(value)
        except OverflowError:
            return None
    else:
        return None
    if not math.isfinite(result) or result < 0:
        return None
    return result


def _in_range(day: date) -> date | None:
    return day if EARLIEST <= day <= LATEST else None


def rfc3339_date(value: object, tz: str) -> date | None:
    """The calendar date in zone ``tz`` of an RFC 3339 instant, or None."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TEXT:
        return None
    return _rfc3339_date(value, tz)


# Every symbol of a market repeats the same few hundred dates: remember them.
@lru_cache(maxsize=DATE_CACHE)
def _rfc3339_date(value: str, tz: str) -> date | None:
    try:
        instant = datetime.fromisoformat(value.replace("z", "Z"))
        if instant.tzinfo is None:
            return None  # a naive time could mean anything; refuse to guess
        # Near year 1 or 9999 the shift into the exchange's zone overflows.
        return _in_range(instant.astimezone(zone(tz)).date())
    except (ValueError, OverflowError):
        return None


def epoch_ms_date(value: object, tz: str) -> date | None:
    """The calendar date in zone ``tz`` of a millisecond epoch timestamp, or None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return _epoch_ms_date(value, tz)


@lru_cache(maxsize=DATE_CACHE)
def _epoch_ms_date(value: int, tz: str) -> date | None:
    try:
        instant = datetime.fromtimestamp(value / 1000, tz=UTC)
        return _in_range(instant.astimezone(zone(tz)).date())
    except (OverflowError, OSError, ValueError):
        return None


def epoch_s_date(value: object, tz: str) -> date | None:
    """The calendar date in zone ``tz`` of a unix-second timestamp (``"1778817600"``), or None."""
    if isinstance(value, str) and 0 < len(value) <= 12 and value.isdigit() and value.isascii():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return _epoch_ms_date(value * 1000, tz)


def iso_date(value: object) -> date | None:
    """A ``yyyy-MM-dd`` date, or None."""
    if not isinstance(value, str) or len(value) != 10:
        return None
    return _iso_date(value)


@lru_cache(maxsize=DATE_CACHE)
def _iso_date(value: str) -> date | None:
    try:
        return _in_range(date.fromisoformat(value))
    except ValueError:
        return None


#: ``date.isoformat``, remembered: the same few hundred days come back in every answer
iso_text = lru_cache(maxsize=DATE_CACHE)(date.isoformat)


#: The parser of each SQL type an endpoint's data column may have (its ``Column.type``).
PARSERS: dict[str, Callable[[object], int | float | None]] = {"INTEGER": to_int, "REAL": to_float}
