"""``harvester show | latest``: symbols' series and the newest day of each, in any format.

``show`` prints symbols' time series, ``latest`` the cross-section on each symbol's
newest day, as stored now or as known at a moment (``--as-of``, ``read.asof``). Both open
the file read-only (they never block a sweep), read the views of schema version 3, and
put user text into SQL only as a parameter or as a name first found in the file itself.
Their exit codes are declared in ``harvester.exits`` (``READ``), and ``-h`` shows them;
``export`` and ``changes`` have modules of their own.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, BinaryIO

from harvester.arguments import AS_OF_HELP, as_of, day, positive_count
from harvester.errors import UsageError
from harvester.exits import Exit
from harvester.model import SUPPORTED_MARKETS, symbol_from_canonical
from harvester.read.asof import latest_known_at, resolve
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
from harvester.read.output import FORMATS, chunked, emit, table_text, table_width, write_rows
from harvester.settings.symbols import SymbolSyntaxError, parse_symbol
from harvester.store.columns import SIDE_BY_SIDE
from harvester.store.database import HISTORY_VERSION, VIEWS_VERSION, added_in, reading
from harvester.store.history import AS_OF

PROVENANCE = ("run_id", "fetched_at")  # left out of show and latest; export has them
#: ``latest``'s default ``--by``: each data set's headline figure, one both markets fill.
#: For short_positions that is ``short_ratio`` (upstream ``rate``; the other is ``close``),
#: whose unit the vendor leaves unsaid: compare it within one market (``--market``).
DEFAULT_BY = {
    "short_trades": "short_ratio",
    "short_interest": "short_percent",
    "short_positions": "short_ratio",
}


# show -------------------------------------------------------------------------------------


def canonical_symbols(texts: Sequence[str]) -> list[str]:
    """The canonical forms of symbols in any accepted style, duplicates dropped, in order."""
    found: dict[str, None] = {}
    for text in texts:
        try:
            symbol = parse_symbol(text)
        except SymbolSyntaxError as exc:
            hint = (
                ""
                if "did you mean" in str(exc)
                else ("; write it as 700.HK, 00700.HK, HK.00700, AAPL.US or US.AAPL")
            )
            raise UsageError(f"{exc}{hint}") from exc
        if symbol.market not in SUPPORTED_MARKETS:
            raise UsageError(
                f"{text.strip()}: market {symbol.market} is not one the harvester "
                f"fetches ({', '.join(SUPPORTED_MARKETS)})"
            )
        found.setdefault(symbol.canonical, None)
    return list(found)


def _market_view(endpoint: str, symbol: str) -> str:
    return f"{symbol_from_canonical(symbol).market.lower()}_{endpoint}"


def _shown(db: sqlite3.Connection, endpoint: str, symbols: Sequence[str]) -> list[str]:
    """The columns the symbols' markets fill, in the table's order, without provenance."""
    filled = {name for symbol in symbols for name in columns_of(db, _market_view(endpoint, symbol))}
    return [name for name in columns_of(db, endpoint) if name in filled and name not in PROVENANCE]


def _series(
    db: sqlite3.Connection,
    endpoint: str,
    symbol: str,
    names: Sequence[str],
    args: argparse.Namespace,
    sources: Mapping[str, str] | None = None,
) -> sqlite3.Cursor:
    """One symbol's rows of one endpoint, newest first, in the columns ``names``.

    ``sources`` maps a name to the endpoint's column it shows (default: each name its own
    column); a name it lacks, or whose column the market's view lacks, is NULL.
    ``endpoint`` is the endpoint's name.
    """
    view = _market_view(endpoint, symbol)
    own = set(columns_of(db, view))
    taken = {name: name for name in names} if sources is None else sources

    def column(name: str) -> str:
        if name == "endpoint":
            return "? AS endpoint"
        source = taken.get(name)
        if source is None or source not in own:
            return f"NULL AS {quote(name)}"
        return quote(source) if source == name else f"{quote(source)} AS {quote(name)}"

    select = ", ".join(map(column, names))
    params: list[Any] = [endpoint] if "endpoint" in names else []
    source = f"{endpoint}_versions" if args.as_of else view
    sql = f"SELECT {select} FROM {quote(source)} WHERE symbol = ?"
    params.append(symbol)
    if args.as_of:
        sql += f" AND {AS_OF}"
        params += [args.as_of, args.as_of]
    if args.since:
        sql += " AND trade_date >= ?"
        params.append(args.since)
    sql += " ORDER BY trade_date DESC"
    if args.last:
        sql += " LIMIT ?"
        params.append(args.last)
    return db.execute(sql, params)


def _missing_line(
    db: sqlite3.Connection,
    symbol: str,
    endpoints: Sequence[str],
    since: str | None,
    as_of: str | None = None,
) -> str:
    """The one line saying a symbol has no rows, and what the latest run says about it."""
    # The latest run only: its (run_id, symbol) prefix of the primary key finds the task
    # at once, where a search over every run's tasks would scan them all.
    latest = "(SELECT run_id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1)"
    marks = ", ".join("?" * len(endpoints))
    last = db.execute(
        f"SELECT status FROM tasks WHERE run_id = {latest} AND symbol = ? AND endpoint IN "
        f"({marks}) ORDER BY status = 'ok' LIMIT 1",
        (symbol, *endpoints),
    ).fetchone()
    named = " or ".join(endpoints)
    if last is None:
        # A data set the run's dialect does not serve (short_positions through the quote
        # gateway) has no task at all: not this symbol's absence from the run.
        fetched = db.execute(
            f"SELECT 1 FROM tasks WHERE run_id = {latest} AND endpoint IN ({marks}) LIMIT 1",
            endpoints,
        ).fetchone()
        why = " (not in the latest run)" if fetched else f" (the latest run fetched no {named})"
    else:
        why = "" if last[0] == "ok" else f" (latest run: {last[0]})"
    after = f" since {since}" if since else ""
    when = f" known at {as_of}" if as_of else ""
    return f"harvester: {symbol}: no {named} rows stored{after}{when}{why}\n"


class _Show:
    """What ``show`` prints, counting each symbol's rows as they go out."""

    def __init__(
        self, db: sqlite3.Connection, symbols: Sequence[str], args: argparse.Namespace
    ) -> None:
        self.db, self.symbols, self.args = db, symbols, args
        self.endpoints = endpoints_in(db, args.endpoint)
        self.counts = dict.fromkeys(symbols, 0)

    def _chunks(
        self, endpoint: str, names: Sequence[str], sources: Mapping[str, str] | None = None
    ) -> Iterator[list[Any]]:
        for symbol in self.symbols:
            cursor = _series(self.db, endpoint, symbol, names, self.args, sources)
            for chunk in chunked(cursor):
                self.counts[symbol] += len(chunk)
                yield chunk

    def _sources(self, endpoint: str) -> dict[str, str]:
        """The endpoint's shown columns by the name each takes beside the other endpoints'."""
        renamed = SIDE_BY_SIDE[endpoint]
        return {renamed.get(name, name): name for name in _shown(self.db, endpoint, self.symbols)}

    def _tables(self, out: BinaryIO) -> None:
        """A table per endpoint with rows, titled when there are several, a blank line between."""
        gap = ""
        for endpoint in self.endpoints:
            names = _shown(self.db, endpoint, self.symbols)
            rows = [row for chunk in self._chunks(endpoint, names) for row in chunk]
            if rows:
                title = "" if len(self.endpoints) == 1 else f"{endpoint}\n"
                out.write((gap + title + table_text(names, rows, width=table_width())).encode())
                gap = "\n"

    def write(self, out: BinaryIO) -> None:
        """Everything, in ``--format``.

        Several endpoints in one CSV or JSON get an ``endpoint`` field, and each column
        the name it takes beside the others' (``SIDE_BY_SIDE``): one column never holds
        two data sets' figures of different meaning.
        """
        if self.args.format == "table":
            self._tables(out)
            return
        if len(self.endpoints) == 1:
            names = _shown(self.db, self.endpoints[0], self.symbols)
            chunks = self._chunks(self.endpoints[0], names)
        else:
            sources = {endpoint: self._sources(endpoint) for endpoint in self.endpoints}
            names = ["endpoint", *dict.fromkeys(name for own in sources.values() for name in own)]
            chunks = (
                chunk
                for endpoint in self.endpoints
                for chunk in self._chunks(endpoint, names, sources[endpoint])
            )
        write_rows(out, self.args.format, names, chunks)


def _show(args: argparse.Namespace) -> int:
    symbols = canonical_symbols(args.show_symbols)
    need = HISTORY_VERSION if args.as_of else VIEWS_VERSION
    if args.endpoint != ALL:
        need = max(need, added_in(args.endpoint))
    with reading(db_path(args), at_least=need) as db:
        args.as_of = resolve(db, args.as_of, "--as-of")  # a run id: when it finished
        show = _Show(db, symbols, args)
        code = emit(None, show.write)
        if code:  # stdout closed early: the counts are not the whole story
            return code
        for symbol in (symbol for symbol, count in show.counts.items() if not count):
            sys.stderr.write(_missing_line(db, symbol, show.endpoints, args.since, args.as_of))
    return Exit.OK if any(show.counts.values()) else Exit.NO_ROWS


# latest -----------------------------------------------------------------------------------


def _latest(args: argparse.Namespace) -> int:
    view = f"latest_{args.endpoint}"
    need = max(HISTORY_VERSION if args.as_of else VIEWS_VERSION, added_in(args.endpoint))
    with reading(db_path(args), at_least=need) as db:
        every = columns_of(db, view)
        by = args.by or DEFAULT_BY[args.endpoint]
        if by not in every:
            raise UsageError(
                f"--by {by}: not a column of {view}; choose one of: {', '.join(every)}"
            )
        source = f"{args.market.lower()}_{args.endpoint}" if args.market else view
        names = [name for name in columns_of(db, source) if name not in PROVENANCE]
        when = resolve(db, args.as_of, "--as-of")
        # As of T: each symbol's newest day among the values known then, in the same columns.
        rows, params = (
            (quote(view), [])
            if when is None
            else (f"({latest_known_at(args.endpoint)})", [when, when])
        )
        sql = f"SELECT {', '.join(map(quote, names))} FROM {rows}"
        if args.market:
            sql += " WHERE market = ?"
            params.append(args.market)
        sql += f" ORDER BY {quote(by)} IS NULL, {quote(by)} DESC, symbol"
        if args.top:
            sql += " LIMIT ?"
            params.append(args.top)
        cursor = db.execute(sql, params)
        return emit(None, lambda out: write_rows(out, args.format, names, chunked(cursor)))


# the command line -------------------------------------------------------------------------


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``show`` and ``latest`` to ``commands`` (argparse subparsers)."""
    show = command_parser(
        commands,
        common,
        "show",
        "symbols' stored time series, newest first",
        "  harvester show 00700.HK --last 20 --format csv\n"
        "  harvester show AAPL.US HK.09988 --endpoint all --since 2026-01-01\n",
    )
    # Not ``symbols``: that is the --symbols flag's name (settings.config.FLAGS).
    show.add_argument(
        "show_symbols",
        nargs="+",
        metavar="SYMBOL",
        help="in any accepted style: 700.HK, 00700.HK, HK.00700, AAPL.US, US.AAPL",
    )
    show.add_argument(
        "--endpoint",
        choices=(*ENDPOINT_NAMES, ALL),
        default="short_trades",
        help="which data (default short_trades; all: each, one after the other)",
    )
    window = show.add_mutually_exclusive_group()
    window.add_argument(
        "--last", type=positive_count, metavar="N", help="each symbol's N newest days"
    )
    window.add_argument("--since", type=day, metavar="DATE", help="from DATE on (YYYY-MM-DD)")
    show.add_argument(
        "--as-of", type=as_of, metavar="T", help=f"the values known at T: {AS_OF_HELP}"
    )
    add_format(show, FORMATS, "table")
    show.set_defaults(run=_show)

    latest = command_parser(
        commands,
        common,
        "latest",
        "every symbol on its newest stored day, sorted",
        "  harvester latest --market US --top 10\n"
        "  harvester latest --endpoint short_interest --by days_to_cover --top 5\n"
        "  harvester latest --market US --top 3 --as-of yesterday\n",
    )
    latest.add_argument(
        "--endpoint",
        choices=ENDPOINT_NAMES,
        default="short_trades",
        help="which data (default short_trades)",
    )
    add_market(latest, "one market's symbols, with the columns it fills")
    latest.add_argument(
        "--by",
        metavar="COLUMN",
        help="sort by this column, largest first, NULL last (default: "
        + ", ".join(f"{by} for {endpoint}" for endpoint, by in DEFAULT_BY.items())
        + ")",
    )
    latest.add_argument("--top", type=positive_count, metavar="N", help="only the first N")
    latest.add_argument(
        "--as-of",
        type=as_of,
        metavar="T",
        help=f"each symbol's newest day among the values known at T: {AS_OF_HELP}",
    )
    add_format(latest, FORMATS, "table")
    latest.set_defaults(run=_latest)
