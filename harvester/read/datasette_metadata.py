"""Datasette's metadata for the file: descriptions with units, links, canned queries.

``harvester datasette-metadata`` writes it and ``harvester explore`` serves with it
(``explore``): a title; an index page that links every table, view and canned query
and the chart; every table's, view's and column's description with its unit, a
table's first sentence shown and the rest folded; and canned queries for the everyday
questions. Everything is made from ``store.columns``. It also names the database for
the harvester's Datasette plugin (``datasette_plugin``: units, amounts, symbols in any
style, the chart), which acts on no other, and declares what the two share: the
plugin's name, its SQL function and the chart page's path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import quote

from harvester import catalog
from harvester.settings.symbols import SymbolSyntaxError, parse_symbol
from harvester.store.columns import RELATIONS, TABLES, VIEWS, Relation, describe, plain
from harvester.store.schema import SCHEMA_VERSION

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
