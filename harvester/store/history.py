"""Point-in-time reads: the data as it was known at a moment (``database.HISTORY_VERSION``).

Each data table has a ``<table>_versions`` view: every set of values a row has
had, with ``valid_from`` (when the harvester first stored those values) and
``valid_to`` (when a fetch replaced them; NULL for the current ones), and the
row's ``first_seen_at``. The values known at moment T are the versions with
``valid_from <= T`` and no ``valid_to`` at or before T; a row first stored
after T has none.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, date, datetime, time

from harvester.model import utc_text, utc_time

TABLES = ("short_trades", "short_interest")  #: the tables with versions
#: The condition that keeps the versions known at ``?`` (passed twice).
AS_OF = "valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)"
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
    if day is not None and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
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
