"""Moments read against the file: a run's times, and the values known at a moment.

The command line parses every spelling of a moment (``harvester.arguments.SPELLINGS``);
all but a run id become a time there. A run id becomes one here, once the file is
open: the data as that run left it is the data as of its ``finished_at``, or as of now
while it still runs. The values known at T are those of ``<table>_versions`` that held
at T (``harvester.store.history.AS_OF``); ``latest`` keeps each symbol's newest day of
them, as the ``latest_<table>`` views keep it of the current values.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from harvester.arguments import RunRef
from harvester.errors import UsageError
from harvester.model import utc_text
from harvester.read.commands import quote
from harvester.store.history import AS_OF


def now_text() -> str:
    """Now, as the file writes times."""
    return utc_text(datetime.now(UTC))


@dataclass(frozen=True)
class Run:
    """A run as a window of time: it started at ``started``, and its data stood at ``ended``."""

    run_id: str
    started: str
    ended: str  #: its ``finished_at``, or now while it runs
    running: bool


_RUN_SQL = "SELECT run_id, started_at, finished_at FROM runs"


def _run(row: tuple[str, str, str | None]) -> Run:
    run_id, started, finished = row
    return Run(run_id, started, finished or now_text(), finished is None)


def find_run(db: sqlite3.Connection, ref: RunRef, flag: str) -> Run:
    """The run ``ref`` names; a UsageError naming the flag when the file has no such run."""
    row = db.execute(f"{_RUN_SQL} WHERE run_id = ?", (ref.run_id,)).fetchone()
    if row is None:
        raise UsageError(
            f"{flag} {ref.run_id}: no run with that id in the database; "
            "harvester status lists the runs"
        )
    return _run(row)


def latest_run(db: sqlite3.Connection, by: str | None = None) -> Run | None:
    """The run started last (at or before ``by``, if given); None if there is none."""
    where, params = ("WHERE started_at <= ?", (by,)) if by else ("", ())
    row = db.execute(
        f"{_RUN_SQL} {where} ORDER BY started_at DESC, rowid DESC LIMIT 1", params
    ).fetchone()
    return None if row is None else _run(row)


def time_of(db: sqlite3.Connection, value: str | RunRef, flag: str) -> str:
    """A moment as the file writes times: a run id becomes the time its data stood at."""
    return find_run(db, value, flag).ended if isinstance(value, RunRef) else value


def resolve(db: sqlite3.Connection, value: str | RunRef | None, flag: str) -> str | None:
    """``time_of`` a flag's value, or None for a flag left out."""
    return None if value is None else time_of(db, value, flag)


def known_at(table: str) -> str:
    """A query of ``table``'s versions known at ``?`` (passed twice), in the view's columns."""
    return f"SELECT * FROM {quote(table + '_versions')} WHERE {AS_OF}"


def latest_known_at(table: str) -> str:
    """``latest_<table>`` as known at ``?`` (passed twice): each symbol's newest day then."""
    return (
        "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY symbol "
        f"ORDER BY trade_date DESC) AS newest FROM ({known_at(table)})) WHERE newest = 1"
    )
