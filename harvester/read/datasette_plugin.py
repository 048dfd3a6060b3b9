"""The harvester's Datasette plugin: units, readable amounts, symbols in any style, the chart.

Datasette finds it through the ``datasette`` entry point ``harvester`` (pyproject.toml)
wherever the harvester is installed beside it, and it acts only on a database whose
metadata names it (``plugins: {"harvester": ...}``, as ``harvester datasette-metadata``
writes), so any other file served alongside looks as it would without it:

- ``prepare_connection``: the SQL function ``harvester_symbol(text)``, the canonical
  form of a symbol in any style by the harvester's own parser, which the canned
  queries apply to their ``:symbol`` (``00700.HK`` finds ``700.HK``'s rows);
- ``render_cell``: a number in a column the harvester declares numeric with
  thousands separators and no ``.0`` (``738,996,000``); a symbol with a link to its chart;
- ``extra_body_script``: each numeric column's unit under its name in the table's
  header, and the list of column descriptions folded under one line;
- ``register_routes``: the chart page, ``/DATABASE/-/chart?symbol=...``, the picture
  ``harvester chart`` draws (``chart.render``) inline, and ``/DATABASE/-/chart.svg``.
"""

from __future__ import annotations

import argparse
import math
import re
import sqlite3
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from datasette import hookimpl
from datasette.utils.asgi import NotFound, Response
from markupsafe import Markup, escape

from harvester.arguments import day
from harvester.catalog import Column
from harvester.errors import UsageError
from harvester.read.chart import Chart, read_chart, render
from harvester.read.datasette_metadata import CANNED, CHART, PLUGIN, SYMBOL_FUNCTION, symbol_text
from harvester.read.query import canonical_symbols
from harvester.store.columns import RELATIONS

NUMERIC = ("INTEGER", "REAL")
#: A unit's header label where its first words say too little or too much.
_LABELS = {
    "fraction": "fraction, 0-1",
    "not documented upstream": "unit not documented",
    "as upstream sends it": "unit not documented",
}


def unit_label(column: Column) -> str:
    """A numeric column's unit in a word or two (``shares``, ``HKD``); "" for any other."""
    if column.type not in NUMERIC or not column.unit:
        return ""
    head = re.split(r"[,;(]", column.unit, maxsplit=1)[0].strip()
    return _LABELS.get(head, head)


def _agreed(key: Callable[[Column], object]) -> dict[str, Column]:
    """Columns by name, for a query's columns (no table): the names every relation agrees on.

    ``short_ratio`` is a fraction in ``short_trades`` and unsaid in ``short_positions``:
    a number both, so formatted as one, but with no unit unless its source is known.
    """
    kinds: dict[str, set[object]] = {}
    found: dict[str, Column] = {}
    for relation in RELATIONS.values():
        for column in relation.columns:
            kinds.setdefault(column.name, set()).add(key(column))
            found[column.name] = column
    return {name: found[name] for name, seen in kinds.items() if len(seen) == 1}


#: The table or view a canned query's columns come from, by the query's name.
SOURCES = {query.name: query.source for query in CANNED if query.source}
_SAME_TYPE = _agreed(lambda column: column.type)
_SAME_UNIT = _agreed(lambda column: (column.type, unit_label(column)))


def column_of(table: str | None, name: str, agreed: dict[str, Column]) -> Column | None:
    """The declaration of ``table``'s column ``name``; with no such table, ``agreed[name]``."""
    relation = RELATIONS.get(table or "")
    if relation is not None:
        return next((column for column in relation.columns if column.name == name), None)
    return agreed.get(name)


def amount(value: object) -> str | None:
    """A number with thousands separators, a whole float without its ``.0``; None if no number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value.is_integer() and abs(value) < 2**53:
            return f"{int(value):,}"
    return f"{value:,}"


def units(source: str | None, columns: list[str] | None) -> dict[str, str]:
    """The header labels of a page's columns, taken from ``source`` (a table or view, if
    known): every numeric column's unit."""
    relation = RELATIONS.get(source or "")
    names = columns or ([column.name for column in relation.columns] if relation else [])
    labels = {}
    for name in names:
        column = column_of(source, name, _SAME_UNIT)
        label = unit_label(column) if column is not None else ""
        if label:
            labels[name] = label
    return labels


# Ours or not --------------------------------------------------------------------------------

# Datasette merges its whole metadata on every lookup: once per database is enough (the
# metadata does not change while it runs), not once per cell.
_OURS: weakref.WeakKeyDictionary[Any, dict[str, bool]] = weakref.WeakKeyDictionary()


def _ours(datasette: Any, database: str | None) -> bool:
    """Whether the metadata names ``database`` as the harvester's (see the module's docstring)."""
    if database is None:
        return False
    known = _OURS.setdefault(datasette, {})
    if database not in known:
        config = datasette.plugin_config(PLUGIN, database=database, fallback=False)
        known[database] = config is not None
    return known[database]


def _chart_url(datasette: Any, database: str, symbols: list[str], **more: str) -> str:
    query = urlencode([("symbol", symbol) for symbol in symbols] + list(more.items()))
    return f"{datasette.urls.database(database)}/{CHART}?{query}"


# Hooks ----------------------------------------------------------------------------------------


@hookimpl
def prepare_connection(conn: sqlite3.Connection) -> None:
    """``harvester_symbol(text)`` on every connection: harmless on a file that is not ours."""
    conn.create_function(SYMBOL_FUNCTION, 1, symbol_text, deterministic=True)


@hookimpl
def render_cell(value: Any, column: str, table: str | None, database: str, datasette: Any) -> Any:
    """Amounts readable, symbols linked to their chart; None leaves a cell to Datasette."""
    if not _ours(datasette, database):
        return None
    if column == "symbol" and isinstance(value, str) and value:
        url = _chart_url(datasette, database, [value])
        return Markup(
            f'<span style="white-space: nowrap">{escape(value)} <a class="harvester-chart-link" '
            f'href="{escape(url)}" title="chart of {escape(value)}" style="font-size: 0.8em">'
            "chart</a></span>"
        )
    declared = column_of(table, column, _SAME_TYPE)
    if declared is None or declared.type not in NUMERIC:
        return None
    return amount(value)


_SCRIPT = """\
(() => {
  const units = __UNITS__;
  for (const th of document.querySelectorAll("table.rows-and-columns thead th")) {
    const unit = units[th.dataset.column || th.textContent.trim()];
    if (!unit || th.querySelector(".harvester-unit")) continue;
    const label = document.createElement("span");
    label.className = "harvester-unit";
    label.textContent = unit;
    label.style.cssText = "display: block; font-weight: normal; font-size: 0.8em; color: #555";
    th.append(label);
  }
  for (const list of document.querySelectorAll("dl.column-descriptions")) {
    const fold = document.createElement("details");
    fold.className = "harvester-columns";
    const line = document.createElement("summary");
    const count = list.querySelectorAll("dt").length;
    line.textContent = `The ${count} columns: what each holds, its unit, where it comes from`;
    list.replaceWith(fold);
    fold.append(line, list);
  }
  const none = document.querySelector("p.zero-results");
  const asked = document.querySelector("input[name=symbol]");
  if (none && asked && asked.value.trim()) {
    const hint = document.createElement("span");
    hint.className = "harvester-hint";
    hint.append(`: nothing stored for ${asked.value.trim()} (any style is fine: 700.HK, `
      + "00700.HK, HK.00700, AAPL.US). Every stored symbol is listed on ");
    const link = document.createElement("a");
    link.href = __CHART__;
    link.textContent = "the chart page";
    hint.append(link, ".");
    none.append(hint);
  }
})();
"""


@hookimpl
def extra_body_script(
    database: str | None,
    table: str | None,
    columns: list[str] | None,
    request: Any,
    datasette: Any,
) -> str | None:
    """Units under the column names, the column descriptions folded (on our pages only)."""
    if not _ours(datasette, database):
        return None
    if table is None and request is not None:  # a canned query's page names it as a table's
        table = SOURCES.get(request.url_vars.get("table", ""))
    labels = units(table, columns)
    chart = f"{datasette.urls.database(database)}/{CHART}"
    return _SCRIPT.replace("__UNITS__", _literal(labels)).replace("__CHART__", _literal(chart))


def _literal(value: object) -> str:
    """A JavaScript literal for a script element: JSON, and no "</" to end it early."""
    return orjson.dumps(value).decode().replace("</", "<\\/")


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    """The chart page and its SVG."""
    return [(r"^/(?P<database>[^/]+)/-/chart(?P<svg>\.svg)?$", chart_page)]


# The chart page -----------------------------------------------------------------------------

_PAGE = """\
{% extends "base.html" %}
{% block title %}{{ title }}{% endblock %}
{% block crumbs %}{{ crumbs.nav(request=request, database=database) }}{% endblock %}
{% block content %}
<h1>{{ title }}</h1>
<form class="harvester-chart-form" action="{{ action }}" method="get">
  <p><label for="harvester-symbols" style="width: auto">Symbols, any style, up to eight</label>
  <input id="harvester-symbols" type="search" name="symbols" value="{{ typed }}"
    placeholder="00700.HK AAPL.US" style="width: 20em">
  <label for="harvester-since" style="width: auto">from</label>
  <input id="harvester-since" type="date" name="since" value="{{ since }}">
  <input type="submit" value="Draw"></p>
</form>
{% if error %}<p class="message-error">{{ error }}</p>{% endif %}
{% if svg %}
<div class="harvester-chart-figure" style="overflow-x: auto">{{ svg }}</div>
<p>The rows drawn: {% for symbol, links in rows %}{{ symbol }} ({% for name, url in links
  %}<a href="{{ url }}">{{ name }}</a>{% if not loop.last %}, {% endif %}{% endfor
  %}){% if not loop.last %}; {% endif %}{% endfor %}.
  <a href="{{ svg_url }}">This chart as an SVG file</a>; from a terminal:
  <code>harvester chart {{ symbols|join(" ") }}</code>.</p>
{% endif %}
<p>Every symbol stored: {% for symbol, url in stored %}<a href="{{ url }}">{{ symbol
  }}</a>{% if not loop.last %}, {% endif %}{% endfor %}</p>
{% endblock %}
"""
_TEMPLATES: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_STORED = "SELECT symbol FROM short_trades UNION SELECT symbol FROM short_interest ORDER BY 1"


def _asked(request: Any) -> tuple[list[str], str]:
    """The symbols asked for, as typed (``symbol=`` repeated, or ``symbols=`` in one field)."""
    typed = request.args.getlist("symbol") + request.args.get("symbols", "").replace(
        ",", " "
    ).split(" ")
    typed = [text for text in typed if text.strip()]
    return typed, " ".join(typed)


def _read(request: Any) -> tuple[list[str], str | None, str | None]:
    """Canonical symbols and ``since``, or the line that says what is wrong with them."""
    typed, _ = _asked(request)
    since = request.args.get("since") or None
    try:
        symbols = canonical_symbols(typed) if typed else []
        if since is not None:
            since = day(since)
    except (UsageError, argparse.ArgumentTypeError) as exc:
        return [], since, str(exc)
    return symbols, since, None


async def chart_page(datasette: Any, request: Any) -> Response:
    """``/DATABASE/-/chart``: the form, the chart of the symbols asked for, links to their rows."""
    database = request.url_vars["database"]
    if database not in datasette.databases or not _ours(datasette, database):
        raise NotFound(f"{database}: not a harvester database")
    await datasette.ensure_permissions(
        request.actor, [("view-database", database), "view-instance"]
    )
    db = datasette.get_database(database)
    symbols, since, error = _read(request)
    chart = Chart((), ())
    if symbols:
        try:
            chart = await db.execute_fn(lambda conn: read_chart(conn, symbols, since=since))
        except UsageError as exc:
            error = str(exc)
        if not error and not chart.panels:
            error = f"No rows stored for {', '.join(symbols)}: nothing to draw."
    status = 400 if error and not chart.panels else 200
    source = Path(db.path).name if db.path else database
    picture = render(chart, f"From {source}.") if chart.panels else ""
    if request.url_vars.get("svg"):
        if not picture:
            return Response.text(error or "name symbols with ?symbol=", status=400)
        return Response(picture, content_type="image/svg+xml; charset=utf-8")
    return Response.html(
        await _page(datasette, request, database, symbols, since, error, picture), status=status
    )


async def _page(
    datasette: Any,
    request: Any,
    database: str,
    symbols: list[str],
    since: str | None,
    error: str | None,
    picture: str,
) -> str:
    template = _TEMPLATES.get(datasette)
    if template is None:
        template = _TEMPLATES[datasette] = datasette.jinja_env.from_string(_PAGE)
    base = datasette.urls.database(database)
    stored = [row[0] for row in (await datasette.get_database(database).execute(_STORED)).rows]
    rows = [
        (
            symbol,
            [
                (
                    table,
                    f"{base}/{table}?{urlencode({'symbol': symbol, '_sort_desc': 'trade_date'})}",
                )
                for table in ("short_trades", "short_interest")
            ],
        )
        for symbol in symbols
    ]
    context = {
        "title": "Chart: " + ", ".join(symbols) if symbols else "Chart",
        "database": database,
        "action": f"{base}/{CHART}",
        "typed": _asked(request)[1],
        "since": since or "",
        "error": error,
        "svg": Markup(picture),
        "symbols": symbols,
        "rows": rows,
        "svg_url": _chart_url(
            datasette, database, symbols, **({"since": since} if since else {})
        ).replace(f"/{CHART}?", f"/{CHART}.svg?"),
        "stored": [(symbol, _chart_url(datasette, database, [symbol])) for symbol in stored],
    }
    return await datasette.render_template(template, context, request=request)
