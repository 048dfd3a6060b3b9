"""Datasette over the database: metadata made from ``columns``, and ``harvester explore``.

``harvester datasette-metadata`` writes the metadata file Datasette 0.65 reads
(``datasette harvest.sqlite -m FILE``): a title, an index page that links every
table, view, canned query and the chart, every table's, view's and column's
description with its unit (a table's first sentence shown, the rest folded), and
canned queries for the everyday questions. It also names the database for the
harvester's Datasette plugin (``datasette_plugin``: units, formats, symbols in any
style, the chart), which acts on no other. ``harvester explore`` serves the file
with that metadata on 127.0.0.1 only, through Datasette (the ``explore`` extra)
in a child process.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from harvester import catalog
from harvester.arguments import port
from harvester.errors import UsageError
from harvester.settings.config import command_settings
from harvester.settings.symbols import SymbolSyntaxError, parse_symbol
from harvester.store.columns import RELATIONS, TABLES, VIEWS, Relation, describe, plain
from harvester.store.database import reading
from harvester.store.schema import SCHEMA_VERSION

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8001  # Datasette's own
NOT_INSTALLED = (
    "harvester explore needs Datasette: pip install 'harvester[explore]' "
    "(in a checkout: pip install -e '.[explore]')"
)
#: The Datasette plugin's name (its entry point in pyproject.toml) and its key in the
#: metadata's ``plugins``: the databases it acts on are those whose metadata has the key.
PLUGIN = "harvester"
#: The SQL function the plugin registers: a symbol in any style, canonical (``symbol_text``).
SYMBOL_FUNCTION = "harvester_symbol"
CHART = "-/chart"  #: the chart page's path under a database's (the plugin's route)
_SYMBOL_STYLES = "any style the command line takes: 700.HK, 00700.HK, HK.00700, AAPL.US, US.AAPL"


def symbol_text(text: str | None) -> str | None:
    """A symbol in any style in canonical form, else the text as given (it matches nothing)."""
    if text is None:
        return None
    try:
        return parse_symbol(text).canonical
    except SymbolSyntaxError:
        return text


@dataclass(frozen=True)
class Query:
    """A canned query: its URL name, title, what to know before running it, and its SQL."""

    name: str
    title: str
    description: str
    sql: str
    source: str | None = None  #: the table or view its columns come from (their units)


_LAST_20_DAYS = f"""\
SELECT symbol, trade_date, short_ratio, nasdaq_short_volume, nyse_short_volume, total_volume,
       short_turnover, short_balance, total_turnover, close
FROM short_trades
WHERE symbol = {SYMBOL_FUNCTION}(:symbol)
ORDER BY trade_date DESC
LIMIT 20"""

# Every column a market may fill, in the table's order: one query for a symbol of either.
_SYMBOL_POSITIONS = f"""\
SELECT symbol, trade_date, {", ".join(column.name for column in catalog.SHORT_POSITIONS.columns)}
FROM short_positions
WHERE symbol = {SYMBOL_FUNCTION}(:symbol)
ORDER BY trade_date DESC
LIMIT 20"""

# The latest run as run_problems picks it; 'yes' when it completed without a failed task.
_HEALTH = """\
SELECT run_id, status, started_at, finished_at, failed_tasks, pending_tasks,
       CASE WHEN status = 'completed' AND failed_tasks = 0 THEN 'yes' ELSE 'no' END AS healthy,
       ROUND((julianday('now') - julianday(finished_at)) * 24, 2) AS hours_since_finished
FROM (
    SELECT r.run_id, r.status, r.started_at, r.finished_at,
           (SELECT COUNT(*) FROM tasks AS t
            WHERE t.run_id = r.run_id AND t.status = 'failed') AS failed_tasks,
           (SELECT COUNT(*) FROM tasks AS t
            WHERE t.run_id = r.run_id AND t.status = 'pending') AS pending_tasks
    FROM runs AS r
    ORDER BY r.started_at DESC, r.rowid DESC
    LIMIT 1
)"""


def _view_query(name: str, view: str, description: str) -> Query:
    """A canned query that is a view's documented example: its title and SQL, said once."""
    example = RELATIONS[view].example
    if example is None:
        raise KeyError(f"{view} has no example")
    title, sql = example
    return Query(name, title, description, sql.rstrip(";"), view)


CANNED: tuple[Query, ...] = (
    _view_query(
        "top_us_short_ratio",
        "latest_short_trades",
        "From latest_short_trades: each US symbol's newest trading day (its trade_date).",
    ),
    Query(
        "symbol_last_20_days",
        "One symbol's last 20 trading days",
        f"symbol in {_SYMBOL_STYLES}.",
        _LAST_20_DAYS,
        "short_trades",
    ),
    _view_query(
        "largest_hk_short_positions",
        "latest_short_positions",
        "From latest_short_positions: each HK symbol's newest date (its trade_date). Empty "
        "unless a sweep used the OpenAPI, the one dialect that serves short positions.",
    ),
    Query(
        "symbol_short_positions",
        "One symbol's short positions, newest first",
        "symbol in any style, as for symbol_last_20_days. US rows fill short_shares, "
        "days_to_cover and avg_daily_share_volume, HK rows short_amount, short_balance and "
        "cost; both short_ratio and close.",
        _SYMBOL_POSITIONS,
        "short_positions",
    ),
    _view_query(
        "short_interest_beside_short_ratio",
        "snapshot",
        "From snapshot: each side has its own date; NULL where a symbol has none.",
    ),
    _view_query(
        "latest_run_problems",
        "run_problems",
        "From run_problems: every task of the latest run whose status is not ok.",
    ),
    Query(
        "latest_run_health",
        "Is the latest run complete and healthy?",
        "healthy is yes when the run completed with no failed task; judge its age by "
        "hours_since_finished (harvester check does both, with exit codes).",
        _HEALTH,
    ),
)


_DESCRIPTION = (
    "Short selling data swept from the vendor's quote gateway or its OpenAPI, one table per "
    "data set ("
    + ", ".join(endpoint.name for endpoint in catalog.ENDPOINTS)
    + "; a table the sweeps' dialect does not serve stays empty), with the sweeps' own records "
    "(runs, tasks). Every column's description gives its unit."
)


def _html(text: str) -> str:
    """Markdown-ish text as HTML: its `code` marks as ``<code>``, everything escaped."""
    parts = text.split("`")
    return "".join(f"<code>{escape(p)}</code>" if i % 2 else escape(p) for i, p in enumerate(parts))


def _folded(relation: Relation) -> str:
    """A table's description: its first sentence, the rest folded, so rows show on one screen."""
    head, *rest = re.split(r"(?<=[.)])\s+(?=[A-Z])", relation.description, maxsplit=1)
    more = "".join(
        f"<details><summary>More about {relation.name}</summary><p>{_html(text)}</p></details>"
        for text in rest
    )
    return f"<p>{_html(head)}</p>{more}"


def _links(database: str, pairs: Sequence[tuple[str, str]]) -> str:
    """Links to pages under the database's, relative: right from the index and its own page."""
    return ", ".join(
        f'<a href="{quote(database)}/{path}">{escape(text)}</a>' for path, text in pairs
    )


def _chart_line(database: str) -> str:
    chart = _links(database, [(CHART, "short ratio, short volume and short interest of symbols")])
    return f"<p><strong>Chart</strong>: {chart}</p>"


def _index(database: str) -> str:
    """The index page's text: what the file holds, then a link to everything in it.

    Datasette 0.65 lists at most five tables of a database on its index page (the
    most rows first), and views only while fewer tables than that are listed: with
    our nine tables, never a view.
    """
    groups = (
        ("Questions", [(query.name, query.title) for query in CANNED]),
        ("Tables", [(table.name, table.name) for table in TABLES]),
        ("Views", [(view.name, view.name) for view in VIEWS]),
    )
    return f"<p>{_html(_DESCRIPTION)}</p>{_chart_line(database)}" + "".join(
        f"<p><strong>{name}</strong>: {_links(database, pairs)}</p>" for name, pairs in groups
    )


def metadata(database: str) -> dict[str, Any]:
    """Datasette 0.65 metadata for a database Datasette names ``database`` (the file's stem)."""
    tables = {
        relation.name: {
            "description": plain(relation.description),
            "description_html": _folded(relation),
            "columns": {
                column.name: describe(relation.name, column.name) for column in relation.columns
            },
        }
        for relation in RELATIONS.values()
    }
    queries = {
        query.name: {"title": query.title, "description": query.description, "sql": query.sql}
        for query in CANNED
    }
    return {
        "title": "harvester: short selling of US and HK stocks",
        "description": _DESCRIPTION,
        "description_html": _index(database),
        "databases": {
            database: {
                "description": f"Schema version {SCHEMA_VERSION}.",
                "description_html": f"<p>Schema version {SCHEMA_VERSION}.</p>"
                + _chart_line(database),
                "plugins": {PLUGIN: {"schema_version": SCHEMA_VERSION}},
                "tables": tables,
                "queries": queries,
            }
        },
    }


def require_views(path: Path) -> None:
    """Fail with one line unless ``path`` is a database at this harvester's schema version."""
    with reading(path, at_least=SCHEMA_VERSION):
        pass


def _database(args: argparse.Namespace) -> Path:
    path = Path(command_settings(args).sweep.db)
    require_views(path)
    return path


def _metadata_json(path: Path) -> bytes:
    return orjson.dumps(metadata(path.stem), option=orjson.OPT_INDENT_2) + b"\n"


def _write_metadata(args: argparse.Namespace) -> int:
    text = _metadata_json(_database(args))
    if args.output is None:
        sys.stdout.buffer.write(text)
        return 0
    try:
        args.output.write_bytes(text)
    except OSError as exc:
        raise UsageError(f"-o {args.output}: cannot write it ({exc.strerror})") from exc
    return 0


def _explore(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("datasette") is None:
        raise UsageError(NOT_INSTALLED)
    path = _database(args)
    _check_port(args.port)
    with tempfile.TemporaryDirectory(prefix="harvester-explore-") as folder:
        meta = Path(folder) / "metadata.json"
        meta.write_bytes(_metadata_json(path))
        sys.stdout.write(
            f"serving {path} with Datasette on http://{LOOPBACK}:{args.port}/ (Ctrl-C stops it)\n"
        )
        sys.stdout.flush()
        return _serve(
            [
                sys.executable,
                "-m",
                "datasette",
                "serve",
                str(path),
                "--metadata",
                str(meta),
                "--host",
                LOOPBACK,
                "--port",
                str(args.port),
            ]
        )


def _check_port(port: int) -> None:
    """One clear line for a port already taken, rather than Datasette's log and exit code."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((LOOPBACK, port))
        except OSError as exc:
            raise UsageError(
                f"--port {port}: cannot listen on {LOOPBACK}:{port} "
                f"({exc.strerror}); choose another port"
            ) from exc


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _end_with_parent(parent: int) -> None:
    """In the child, before exec: on Linux, a SIGTERM when its parent dies, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _serve(command: list[str]) -> int:
    """Run Datasette until it ends; a stop signal to us is passed on to it once.

    It runs in a session of its own, so Ctrl-C in the terminal reaches it only
    through us: exactly one stop request, whichever way ours came (SIGINT,
    SIGTERM, SIGHUP). On Linux it also ends if we are killed outright, so a
    server is never left listening on its own.
    """
    parent = os.getpid()
    child = subprocess.Popen(
        command, start_new_session=True, preexec_fn=lambda: _end_with_parent(parent)
    )
    stopped: list[int] = []

    def stop(signum: int, frame: object) -> None:
        stopped.append(signum)
        if child.poll() is None:
            child.send_signal(signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    names = ("SIGINT", "SIGTERM", "SIGHUP")
    handled = [getattr(signal, name) for name in names if hasattr(signal, name)]
    previous = {signum: signal.signal(signum, stop) for signum in handled}
    try:
        code = child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if child.poll() is None:
            child.kill()
            child.wait()
    if stopped and (code == 0 or -code in handled):
        return 0  # stopped as asked, as `harvester simulate` is
    return 128 - code if code < 0 else code


_METADATA_EXAMPLE = """\
examples:
  harvester datasette-metadata -o metadata.json
  datasette harvest.sqlite -m metadata.json -h 127.0.0.1
"""
_EXPLORE_EXAMPLE = """\
examples:
  harvester explore                      # http://127.0.0.1:8001/
  harvester explore --db shorts.sqlite --port 8080
"""


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``datasette-metadata`` and ``explore`` to ``commands``, with the ``common`` flags."""
    meta = commands.add_parser(
        "datasette-metadata",
        parents=[common],
        help="write Datasette metadata: descriptions, units, queries",
        description="Write Datasette metadata for the database: a description of every table, "
        "view and column (with units) and canned queries, keyed by the database file's name.",
        epilog=_METADATA_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    meta.add_argument("-o", "--output", type=Path, help="write here (default: stdout)")
    meta.set_defaults(run=_write_metadata)

    explore = commands.add_parser(
        "explore",
        parents=[common],
        help="serve the database with Datasette on 127.0.0.1",
        description="Serve the database with Datasette and its metadata, on "
        f"{LOOPBACK} only, until Ctrl-C. Needs pip install 'harvester[explore]'.",
        epilog=_EXPLORE_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    explore.add_argument(
        "--port",
        type=port,
        default=DEFAULT_PORT,
        help=f"port on {LOOPBACK} (default {DEFAULT_PORT})",
    )
    explore.set_defaults(run=_explore)
