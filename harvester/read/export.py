"""``harvester export``: any table or view streamed as a table, CSV, JSON or JSON lines.

Every row and column of what it names, read in chunks, so memory stays flat; ``-o``
writes a file whole or not at all (``output.emit``). A data table (``short_trades``,
``short_interest``, ``short_positions``) exports in one column set whether read as it is
now or ``--as-of`` a moment (``DATA_COLUMNS``), so two exports diff line by line.
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harvester.arguments import AS_OF_HELP, as_of, day
from harvester.errors import UsageError
from harvester.read.asof import known_at, resolve
from harvester.read.commands import (
    add_format,
    add_market,
    columns_of,
    command_parser,
    db_path,
    one_of,
    quote,
)
from harvester.read.output import FORMATS, chunked, emit, write_rows
from harvester.store.columns import RELATIONS
from harvester.store.database import HISTORY_VERSION, VIEWS_VERSION, readable_version, reading
from harvester.store.history import TABLES as HISTORY_TABLES
from harvester.store.lock import own_file

#: What a data table's export has after the row's head and data, plain or ``--as-of``:
#: when the row was first stored, when its values were and until when they held (NULL:
#: still), and its last fetch. As of a past moment the last fetch may have come after it,
#: so ``run_id`` and ``fetched_at`` are NULL there; in a file older than the history
#: (schema version 5) so are the first three.
DATA_COLUMNS = ("first_seen_at", "valid_from", "valid_to", "run_id", "fetched_at")


def _now(name: str, column: str, history: bool) -> str:
    """The expression of one of ``DATA_COLUMNS`` for a row of ``name`` as it is now."""
    if column in ("run_id", "fetched_at"):
        return f"t.{column}"
    if not history or column == "valid_to":
        return "NULL"
    if column == "first_seen_at":
        return "t.first_seen_at"
    # The versions view's valid_from of the current values (store.schema._history), read
    # here row by row through the revisions' index: joined with the view, the export
    # would no longer stream.
    return (
        f"COALESCE((SELECT MAX(r.superseded_at) FROM {quote(name + '_revisions')} AS r "
        "WHERE r.symbol = t.symbol AND r.trade_date = t.trade_date), t.first_seen_at)"
    )


def _data_table(db: sqlite3.Connection, name: str, when: str | None) -> tuple[str, list[Any]]:
    """A data table as a query in ``DATA_COLUMNS``: now, or as known at ``when``."""
    own = columns_of(db, name)
    head = [quote(column) for column in own if column not in DATA_COLUMNS]
    if when is not None:
        known = ", ".join([*head, *map(quote, DATA_COLUMNS[:3])])
        sql = f"SELECT {known}, NULL AS run_id, NULL AS fetched_at FROM ({known_at(name)})"
        return sql, [when, when]
    history = "first_seen_at" in own
    rest = [f"{_now(name, column, history)} AS {column}" for column in DATA_COLUMNS]
    return f"SELECT {', '.join([*(f't.{c}' for c in head), *rest])} FROM {quote(name)} AS t", []


def _export_filter(
    name: str, names: Sequence[str], args: argparse.Namespace
) -> tuple[str, list[Any]]:
    """The WHERE clause of ``--market`` and ``--since``, refused where their column is absent."""
    clauses, params = [], []
    for flag, column, value, op in (
        ("--market", "market", args.market, "="),
        ("--since", "trade_date", args.since, ">="),
    ):
        if value is None:
            continue
        if column not in names:
            raise UsageError(
                f"{flag}: {name} has no {column} column; leave {flag} out, or "
                f"export a table or view that has one"
            )
        clauses.append(f"{column} {op} ?")
        params.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _older(name: str, version: int) -> str:
    """Why a file of schema ``version`` may lack ``name``: a sweep would add it."""
    if version < VIEWS_VERSION:
        return (
            f"; its schema version {version} predates the views: run a sweep on it once to add them"
        )
    if name in RELATIONS:  # a table or view of a later schema
        return f"; {name} came after its schema version {version}: run a sweep on it once to add it"
    return ""


def _named(db: sqlite3.Connection, path: Path, wanted: str) -> str:
    """The table or view ``wanted`` names, as the file spells it; else a UsageError."""
    known = [
        row[0]
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
            r"AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY type, name"
        )
    ]
    name = {known_name.lower(): known_name for known_name in known}.get(wanted.lower())
    if name is None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        raise UsageError(
            f"database {path}: no table or view named {wanted!r}; choose "
            f"one of: {', '.join(known)}{_older(wanted.lower(), version)}"
        )
    return name


def _source(
    db: sqlite3.Connection, path: Path, name: str, args: argparse.Namespace
) -> tuple[str, list[Any]]:
    """What to export, as a query and its parameters, before ``--market`` and ``--since``."""
    if args.as_of is not None:
        if name not in HISTORY_TABLES:
            raise UsageError(
                f"--as-of: {name} keeps no history; choose one of: {', '.join(HISTORY_TABLES)}"
            )
        readable_version(db, path, at_least=HISTORY_VERSION)
        return _data_table(db, name, resolve(db, args.as_of, "--as-of"))
    if name in HISTORY_TABLES:
        return _data_table(db, name, None)
    return f"SELECT * FROM {quote(name)}", []


def _export(args: argparse.Namespace) -> int:
    path = db_path(args)
    own = None if args.output in (None, "-") else own_file(Path(args.output), path)
    if own is not None:
        raise UsageError(f"-o {args.output}: that is {own}; name another file")
    with reading(path) as db:
        name = _named(db, path, args.name)
        source, params = _source(db, path, name, args)
        empty = db.execute(f"SELECT * FROM ({source}) LIMIT 0", params)
        names = [column[0] for column in empty.description]
        where, more = _export_filter(name, names, args)
        cursor = db.execute(f"SELECT * FROM ({source}){where}", [*params, *more])
        return emit(args.output, lambda out: write_rows(out, args.format, names, chunked(cursor)))


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``export`` to ``commands`` (argparse subparsers)."""
    export = command_parser(
        commands,
        common,
        "export",
        "stream a table or view as CSV, JSON, JSON lines or a table",
        "  harvester export short_trades --market HK --since 2026-01-01 -o hk.csv\n"
        "  harvester export short_trades --as-of yesterday -o known.csv\n"
        "  harvester export run_problems --format table\n",
    )
    export.add_argument("name", metavar="TABLE_OR_VIEW", help="e.g. short_trades, snapshot")
    add_market(export, "one market's rows (where there is a market column)")
    export.add_argument(
        "--since",
        type=day,
        metavar="DATE",
        help="rows from DATE on (where there is a trade_date column)",
    )
    export.add_argument(
        "--as-of",
        type=as_of,
        metavar="T",
        help=f"{one_of(HISTORY_TABLES)} as known at T: {AS_OF_HELP}",
    )
    export.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write FILE whole or not at all (default, or -: stdout)",
    )
    add_format(export, (*FORMATS[1:], FORMATS[0]), "csv")
    export.set_defaults(run=_export)
