"""The types of the command line's values: each refuses a bad value with one line (exit 2).

argparse turns the ``ArgumentTypeError`` into ``harvester: error: argument --flag: ...``.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

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


@dataclass(frozen=True)
class Spelling:
    """One way to write a moment on the command line: its form, an example, what it means."""

    form: str
    example: str
    meaning: str


#: Every way to write a moment (``--as-of``, ``changes --since``): their help texts and the
#: error for a bad value are made from this table, and docs/reading.md lists it.
SPELLINGS = (
    Spelling("YYYY-MM-DD", "2026-05-19", "the end of that day, UTC"),
    Spelling("an ISO 8601 time", "2026-05-19T08:30:00Z", "UTC unless it names a zone"),
    Spelling("today or yesterday", "yesterday", "the end of that day, UTC"),
    Spelling(
        "a count of minutes, hours, days or weeks", "36h", "that long ago: 90min, 36h, 2d, 1w"
    ),
    Spelling(
        "a run id",
        "20261206T214224Z-7bea59",
        "the data as that run left it: when it finished, or now while it runs",
    ),
)
#: The spellings as ``-h`` gives them.
AS_OF_HELP = "; ".join(f"{s.form} ({s.meaning})" for s in SPELLINGS)
#: What the error for a value no spelling reads says after the value.
ACCEPTED = (
    "write "
    + ", ".join(s.example for s in SPELLINGS[:-1])
    + f", or a run id such as {SPELLINGS[-1].example} (harvester status lists them)"
)
#: A run id as ``sweep.ledger.new_run_id`` makes them.
RUN_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}")
#: ``36h``, ``2d``: a count and its unit, the time that long before now.
AGO = re.compile(r"([0-9]{1,7})(min|h|d|w)")
_UNITS = {"min": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DAYS_BACK = {"today": 0, "yesterday": 1}


@dataclass(frozen=True)
class RunRef:
    """A run named on the command line; the read side looks up when it finished."""

    run_id: str

    def __str__(self) -> str:
        return self.run_id


def as_of(text: str) -> str | RunRef:
    """``--as-of``, ``changes --since``: a run id, or a moment (``moment``) as the file's text."""
    if RUN_ID.fullmatch(text.strip()):
        return RunRef(text.strip())
    return moment(text)


def run_ref(text: str) -> RunRef:
    """``changes --run``: a run id, as ``harvester status`` lists them."""
    if RUN_ID.fullmatch(text.strip()):
        return RunRef(text.strip())
    raise argparse.ArgumentTypeError(
        f"not a run id: {text!r} (write it as harvester status lists it: {SPELLINGS[-1].example})"
    )


def moment(text: str, now: datetime | None = None) -> str:
    """A moment in any spelling of ``SPELLINGS`` but a run id, as the file writes times.

    A date as YYYY-MM-DD means the end of that day in UTC (``2026-05-19`` is
    ``2026-05-19T23:59:59.999Z``), and so do ``today`` and ``yesterday`` (UTC days); an ISO
    8601 date and time (``2026-05-19T08:30:00Z``, ``2026-05-19 16:30+08:00``) is UTC when
    it names no zone; ``36h``, ``2d`` are that long before ``now`` (default: the clock). A
    date in any other spelling (``20260519``, ``2026-W21-2``) is refused with the YYYY-MM-DD
    form to write: read as a time it would mean the day's start, 24 hours before what the
    same day means as YYYY-MM-DD. A time that leaves the years 1 to 9999 once moved to UTC
    is refused too. The result compares as text with ``first_seen_at``, ``fetched_at`` and
    ``superseded_at``.
    """
    now = now or datetime.now(UTC)
    word = text.strip().lower()
    ago = AGO.fullmatch(word)
    day = _date_only(text)
    if day is not None and not DAY.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is a date written another way: write it as {day.isoformat()} (its end, "
            f"UTC), or give a time ({day.isoformat()}T08:30:00Z)"
        )
    try:
        if word in _DAYS_BACK:
            day = now.astimezone(UTC).date() - timedelta(days=_DAYS_BACK[word])
        if ago is not None:
            when = now - timedelta(**{_UNITS[ago[2]]: int(ago[1])})
        else:
            when = datetime.combine(day, time.max, tzinfo=UTC) if day else utc_time(text)
        return utc_text(when)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time: {text!r}; {ACCEPTED}") from None
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
