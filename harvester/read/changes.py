"""``harvester changes``: the rows that arrived and the values revised in a window of time.

The window is one run's (``--run R``; by default the latest run: what last night
brought), or everything after a moment (``--since T``, any spelling of ``--as-of``, a
run id meaning after that run left the data), up to now or to ``--as-of``. So ``changes
--since A --as-of B`` is what differs between ``export --as-of A`` and ``export --as-of
B``. A row is new when it was first stored in the window (``first_seen_at``), listed
with its values at the window's end; a stored row is revised when a fetch in the window
replaced its values (``<table>_revisions``, ``superseded_at``), listed once per value
whose net change is not nil: the values it had when the window opened beside those it
had when it closed (the next revision's, else the row's own). A row revised twice in
the window shows one step, from first to last; a value revised and revised back, none.

CSV and JSON hold one record per value (``RECORD``): the same few columns for every
data set, whatever columns it has, and a revised row's unchanged values left out. A
table shows each data set's new rows as rows, a table per market in the columns it fills,
then its revised values one a line.
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from harvester.arguments import AS_OF_HELP, as_of, run_ref
from harvester.catalog import ROW_HEAD
from harvester.errors import UsageError
from harvester.model import SUPPORTED_MARKETS
from harvester.read.asof import Run, find_run, latest_run, resolve, time_of
from harvester.read.commands import (
    ALL,
    ENDPOINT_NAMES,
    add_format,
    add_market,
    columns_of,
    command_parser,
    db_path,
    endpoints_in,
    quote,
)
from harvester.read.output import FORMATS, emit, table_text, table_width, write_rows
from harvester.store.database import HISTORY_VERSION, added_in, reading, snapshot

#: One changed value: a new row's (``old`` NULL) or a revised row's.
RECORD = ("endpoint", "change", "symbol", "trade_date", "column", "old", "new")
NEW, REVISED = "new", "revised"
_NOT_DATA = (*ROW_HEAD, "run_id", "fetched_at", "first_seen_at")


@dataclass(frozen=True)
class Window:
    """The changes made at ``start`` or after (just after, unless ``inclusive``), up to
    ``end`` (None: now); ``title`` says which, over a table."""

    start: str
    inclusive: bool
    end: str | None
    title: str

    def after(self, column: str) -> str:
        """The condition that ``column`` (a time) is past the window's start (``:start``)."""
        return f"{column} {'>=' if self.inclusive else '>'} :start"

    def holds(self, column: str) -> str:
        """The condition that ``column`` (a time) falls in the window (``:start``, ``:end``)."""
        return self.after(column) + ("" if self.end is None else f" AND {column} <= :end")


def _run_window(run: Run, end: str | None, what: str) -> Window:
    """The window of one run, cut at ``end`` if given: the changes it made."""
    ends = [] if run.running else [run.ended]
    last = min([*ends, *([end] if end else [])], default=None)
    title = f"changes by {what} {run.run_id}: {run.started} to {last or 'now'}"
    return Window(run.started, True, last, title)


def window(db: sqlite3.Connection, args: argparse.Namespace) -> Window:
    """The window ``--run``, ``--since`` and ``--as-of`` name; by default the latest run."""
    if args.run_id is not None:
        if args.as_of is not None:
            raise UsageError("--run and --as-of exclude each other: a run's changes end with it")
        return _run_window(find_run(db, args.run_id, "--run"), None, "run")
    end = resolve(db, args.as_of, "--as-of")
    if args.since is not None:
        start = time_of(db, args.since, "--since")
        return Window(start, False, end, f"changes after {start} to {end or 'now'}")
    run = latest_run(db, end)
    if run is None:
        return Window("", True, end, f"changes up to {end or 'now'} (no run yet)")
    return _run_window(run, end, "the latest run,")


class _Changes:
    """One data set's changes in a window, read from the file as records or as rows."""

    def __init__(self, db: sqlite3.Connection, endpoint: str, window: Window, market: str | None):
        self.db, self.endpoint, self.window = db, endpoint, window
        self.data = [name for name in columns_of(db, endpoint) if name not in _NOT_DATA]
        self.filled = {
            m: [name for name in columns_of(db, f"{m.lower()}_{endpoint}") if name in self.data]
            for m in SUPPORTED_MARKETS
        }
        self.params = {"start": window.start, "end": window.end, "market": market}
        self.market = " AND t.market = :market" if market else ""

    def _at_end(self) -> tuple[str, str]:
        """A join and the data columns of a row as they were at the window's end."""
        if self.window.end is None:
            return "", ", ".join(f"t.{quote(name)}" for name in self.data)
        revisions = quote(f"{self.endpoint}_revisions")
        join = (
            f" LEFT JOIN {revisions} AS e ON e.rowid = (SELECT x.rowid FROM {revisions} AS x "
            "WHERE x.symbol = t.symbol AND x.trade_date = t.trade_date AND x.superseded_at > :end "
            "ORDER BY x.superseded_at, x.rowid LIMIT 1)"
        )
        values = ", ".join(
            f"CASE WHEN e.rowid IS NULL THEN t.{quote(n)} ELSE e.{quote(n)} END" for n in self.data
        )
        return join, values

    def new_rows(self) -> sqlite3.Cursor:
        """(symbol, market, trade_date, *data) of the rows first stored in the window."""
        join, values = self._at_end()
        return self.db.execute(
            f"SELECT t.symbol, t.market, t.trade_date, {values} FROM {quote(self.endpoint)} "
            f"AS t{join} WHERE {self.window.holds('t.first_seen_at')}{self.market} "
            "ORDER BY t.symbol, t.trade_date",
            self.params,
        )

    def revised_rows(self) -> Iterator[tuple[str, str, list[tuple[str, Any, Any]]]]:
        """(symbol, trade_date, [(column, old, new)]) of each stored row revised in the window."""
        join, values = self._at_end()
        revisions, table = quote(f"{self.endpoint}_revisions"), quote(self.endpoint)
        olds = ", ".join(f"o.{quote(name)}" for name in self.data)
        touched = (
            f"SELECT symbol, trade_date FROM {revisions} AS x "
            f"WHERE {self.window.holds('x.superseded_at')} GROUP BY symbol, trade_date"
        )
        # The values the row had when the window opened: the first revision in it kept them.
        opened = (
            f"SELECT x.rowid FROM {revisions} AS x WHERE x.symbol = k.symbol AND x.trade_date "
            f"= k.trade_date AND {self.window.after('x.superseded_at')} "
            "ORDER BY x.superseded_at, x.rowid LIMIT 1"
        )
        cursor = self.db.execute(
            f"SELECT t.symbol, t.trade_date, {olds}, {values} FROM ({touched}) AS k "
            f"JOIN {table} AS t ON t.symbol = k.symbol AND t.trade_date = k.trade_date "
            f"JOIN {revisions} AS o ON o.rowid = ({opened}){join} "
            f"WHERE (t.first_seen_at IS NULL OR NOT ({self.window.after('t.first_seen_at')}))"
            f"{self.market} ORDER BY t.symbol, t.trade_date",
            self.params,
        )
        width = len(self.data)
        for symbol, trade_date, *values_ in cursor:
            old, new = values_[:width], values_[width:]
            changed = [
                (name, was, now)
                for name, was, now in zip(self.data, old, new, strict=True)
                if was != now
            ]
            if changed:  # revised and revised back: no net change
                yield symbol, trade_date, changed

    def records(self) -> Iterator[tuple[Any, ...]]:
        """Every changed value as a ``RECORD``: the new rows', then the revised ones'."""
        for symbol, market, trade_date, *values in self.new_rows():
            by_name = dict(zip(self.data, values, strict=True))
            for name in self.filled[market]:
                yield (self.endpoint, NEW, symbol, trade_date, name, None, by_name[name])
        for symbol, trade_date, changed in self.revised_rows():
            for name, old, new in changed:
                yield (self.endpoint, REVISED, symbol, trade_date, name, old, new)

    def table(self) -> str:
        """The data set's section of the table: its new rows, then its revised values."""
        new = self.new_rows().fetchall()
        revised = list(self.revised_rows())
        if not new and not revised:
            return f"{self.endpoint}: nothing new or revised\n"
        parts = []
        for market in SUPPORTED_MARKETS:  # each in the columns its market fills
            shown = self.filled[market]
            at = [self.data.index(name) + 3 for name in shown]
            rows = [(row[0], row[2], *(row[i] for i in at)) for row in new if row[1] == market]
            if rows:
                title = f"{self.endpoint}, {market}: {_count(len(rows), 'new row')}"
                parts.append(_titled(title, rows, shown))
        if revised:
            values = [(s, d, *change) for s, d, changed in revised for change in changed]
            title = f"{self.endpoint}: {_count(len(revised), 'revised row')}"
            parts.append(_titled(f"{title}, {_count(len(values), 'value')}", values, RECORD[4:]))
        return "\n".join(parts)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _titled(title: str, rows: Sequence[Sequence[Any]], names: Sequence[str]) -> str:
    return title + "\n" + table_text(["symbol", "trade_date", *names], rows, width=table_width())


def _in_file(db: sqlite3.Connection, endpoint: str) -> bool:
    """True if the data set has rows: a quote-gateway file never fills short_positions."""
    return db.execute(f"SELECT 1 FROM {quote(endpoint)} LIMIT 1").fetchone() is not None


def _sets(db: sqlite3.Connection, args: argparse.Namespace, chosen: Window) -> list[_Changes]:
    """The data sets to list: the one named, else every one the file has rows of."""
    endpoints = endpoints_in(db, args.endpoint)
    if args.endpoint == ALL:
        endpoints = tuple(endpoint for endpoint in endpoints if _in_file(db, endpoint))
    return [_Changes(db, endpoint, chosen, args.market) for endpoint in endpoints]


def _write(out: BinaryIO, fmt: str, chosen: Window, sets: Sequence[_Changes]) -> None:
    if fmt == "table":
        out.write("\n".join([chosen.title + "\n", *(one.table() for one in sets)]).encode())
        return
    write_rows(out, fmt, RECORD, _chunks(record for one in sets for record in one.records()))


def _chunks(records: Iterator[tuple[Any, ...]], size: int = 1000) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _changes(args: argparse.Namespace) -> int:
    need = max(HISTORY_VERSION, 1 if args.endpoint == ALL else added_in(args.endpoint))
    with reading(db_path(args), at_least=need) as db:

        def read(db: sqlite3.Connection) -> int:
            chosen = window(db, args)
            sets = _sets(db, args, chosen)
            return emit(None, lambda out: _write(out, args.format, chosen, sets))

        # One read transaction: a sweep committing meanwhile changes nothing listed.
        return snapshot(db, read)


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``changes`` to ``commands`` (argparse subparsers)."""
    changes = command_parser(
        commands,
        common,
        "changes",
        "the rows new and the values revised by the latest run, a run, or since a moment",
        "  harvester changes                              # what last night brought\n"
        "  harvester changes short_trades --since 2d --format csv\n"
        "  harvester changes --run 20261206T214224Z-7bea59 --format json\n",
    )
    changes.add_argument(
        "endpoint",
        nargs="?",
        choices=(*ENDPOINT_NAMES, ALL),
        default=ALL,
        metavar="DATA_SET",
        help=f"{', '.join(ENDPOINT_NAMES)} (default: every one the file holds)",
    )
    window_ = changes.add_mutually_exclusive_group()
    window_.add_argument(
        "--since",
        type=as_of,
        metavar="T",
        help=f"the changes after T, what differs from export --as-of T: {AS_OF_HELP}",
    )
    window_.add_argument(
        "--run",
        dest="run_id",
        type=run_ref,
        metavar="RUN",
        help="the changes that run made (default: the latest run's)",
    )
    changes.add_argument(
        "--as-of",
        type=as_of,
        metavar="T",
        help="the window's end (default now): what the changes were as of T; not with --run",
    )
    add_market(changes, "one market's rows")
    add_format(changes, FORMATS, "table")
    changes.set_defaults(run=_changes)
