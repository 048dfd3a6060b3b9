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


def moment(text: str) -> str:
    """``--as-of``: a date (its end, UTC) or an ISO 8601 time, as the file writes times.

    A time without a zone is UTC. The result compares as text with
    ``first_seen_at``, ``fetched_at`` and ``superseded_at``.
    """
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            when = datetime.combine(date.fromisoformat(text), time.max, tzinfo=UTC)
        else:
            when = utc_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date or a time: {text!r} (write 2026-05-19, or 2026-05-19T08:30:00Z)"
        ) from None
    return utc_text(when)
