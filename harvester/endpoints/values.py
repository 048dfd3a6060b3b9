"""Turn upstream values into typed column values; anything unparseable becomes None.

Callers count a warning for every None that stands for a value that was
expected but unusable. Share counts and money are never negative, and no
value is a boolean, NaN or infinite.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from functools import cache
from zoneinfo import ZoneInfo

MAX_TEXT = 64  # a longer "number" is junk, not worth parsing
EARLIEST = date(1990, 1, 1)
LATEST = date(2100, 12, 31)


@cache
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for ``name``, cached."""
    return ZoneInfo(name)


def _number(value: object) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and 0 < len(value) <= MAX_TEXT:
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            return None
    return None


def to_int(value: object) -> int | None:
    """A non-negative whole number (``"5748485"``, ``5748485``, ``"5748485.0"``) or None."""
    number = _number(value)
    if isinstance(number, float):
        if not math.isfinite(number) or not number.is_integer():
            return None
        number = int(number)
    if number is None or number < 0 or number >= 2**63:
        return None
    return number


def to_float(value: object) -> float | None:
    """A finite, non-negative number (``"0.3643"``, ``456.4``) or None."""
    number = _number(value)
    if number is None:
        return None
    try:
        result = float(number)
    except OverflowError:
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
    try:
        instant = datetime.fromtimestamp(value / 1000, tz=UTC)
        return _in_range(instant.astimezone(zone(tz)).date())
    except (OverflowError, OSError, ValueError):
        return None


def iso_date(value: object) -> date | None:
    """A ``yyyy-MM-dd`` date, or None."""
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return _in_range(date.fromisoformat(value))
    except ValueError:
        return None
