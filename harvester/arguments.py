"""The types of the command line's values: each refuses a bad value with one line (exit 2).

argparse turns the ``ArgumentTypeError`` into ``harvester: error: argument --flag: ...``.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, date, datetime, time

from harvester.model import utc_text, utc_time

LARGEST_COUNT = 2**63 - 1  #: SQLite's largest INTEGER: a larger LIMIT overflows
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  #: the one spelling of a date on the command line


def positive_count(text: str) -> int:
    """``--last``, ``--top``: a count in ASCII digits, from 1 to SQLite's largest INTEGER."""
    # str.isdigit takes "²", which int() refuses; a larger count overflows SQLite's LIMIT,
    # and int() refuses more than 4,300 digits, so a long one is too large before int() runs.
    largest, digits = LARGEST_COUNT, text.lstrip("0")
    if not re.fullmatch(r"[0-9]+", text) or not digits:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    if len(digits) > len(str(largest)) or int(digits) > largest:
        raise argparse.ArgumentTypeError(f"too large: {text} (at most {largest})")
    return int(digits)


def day(text: str) -> str:
    """``--since``: a date written YYYY-MM-DD, the one spelling the file's ``trade_date`` has."""
    try:
        if DAY.fullmatch(text):
            return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"not a date: {text!r} (write YYYY-MM-DD)")


def port(text: str) -> int:
    """``--port``: 1 to 65535."""
    return _port(text, lowest=1)


def port_or_any(text: str) -> int:
    """``simulate --port``: 0 (any free port) to 65535."""
    return _port(text, lowest=0)


def _port(text: str, *, lowest: int) -> int:
    number = int(text) if re.fullmatch(r"[0-9]{1,5}", text) else -1
    if not lowest <= number <= 65535:
        raise argparse.ArgumentTypeError(f"not a port: {text!r} ({lowest} to 65535)")
    return number


#: The spellings ``--as-of`` takes, as its help gives them.
AS_OF_HELP = (
    "YYYY-MM-DD (the end of that day, UTC) or an ISO 8601 time (UTC unless it names a zone)"
)


def moment(text: str) -> str:
    """``--as-of``: a date (its end, UTC) or an ISO 8601 time, as the file writes times.

    Two spellings are accepted: a date as YYYY-MM-DD, meaning the end of that day in UTC
    (``2026-05-19`` is ``2026-05-19T23:59:59.999Z``), and an ISO 8601 date and time
    (``2026-05-19T08:30:00Z``, ``2026-05-19 16:30+08:00``; UTC when it names no zone). A
    date in any other spelling (``20260519``, ``2026-W21-2``) is refused with the
    YYYY-MM-DD form to write: read as a time it would mean the day's start, 24 hours before
    what the same day means as YYYY-MM-DD. A time that leaves the years 1 to 9999 once moved
    to UTC is refused too. The result compares as text with ``first_seen_at``,
    ``fetched_at`` and ``superseded_at``.
    """
    day = _date_only(text)
    if day is not None and not DAY.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is a date written another way: write it as {day.isoformat()} (its end, "
            f"UTC), or give a time ({day.isoformat()}T08:30:00Z)"
        )
    try:
        when = datetime.combine(day, time.max, tzinfo=UTC) if day else utc_time(text)
        return utc_text(when)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date or a time: {text!r} (write 2026-05-19, or 2026-05-19T08:30:00Z)"
        ) from None
    except OverflowError:  # a time within a zone's offset of year 1's start or 9999's end
        raise argparse.ArgumentTypeError(
            f"out of range: {text!r} falls outside the years 0001 to 9999 in UTC"
        ) from None


def _date_only(text: str) -> date | None:
    """The day ``text`` names when it is a date without a time, in any ISO 8601 spelling."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
