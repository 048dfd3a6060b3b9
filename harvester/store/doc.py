"""The database's tables, views and columns in Markdown, written from ``store.columns``.

``python -m harvester.docs`` writes ``database_doc()`` into docs/database.md, and its
``--check`` in CI fails when the page is stale: after changing a table, a view or a
column's description, run it again.
"""

from __future__ import annotations

from harvester.store.columns import TABLES, VIEWS, Relation
from harvester.store.database import HISTORY_VERSION, POSITIONS_VERSION, VIEWS_VERSION


def _cells(*cells: str) -> str:
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def _source(value: str | None) -> str:
    """A market's cell: the upstream field as code, NULL where it leaves the column empty."""
    if value is None:
        return "NULL"
    return f"`{value}`" if value else ""


def table_markdown(table: Relation) -> str:
    """A table's description and its columns as a Markdown table, as docs/database.md holds them."""
    by_market = any(column.us or column.hk for column in table.columns)
    head = ("column", "type", "unit", "meaning", *(("US", "HK") if by_market else ()))
    lines = [
        f"**`{table.name}`**: {table.description}",
        "",
        _cells(*head),
        "|" + "---|" * len(head),
    ]
    for c in table.columns:
        markets = (_source(c.us), _source(c.hk)) if by_market else ()
        lines.append(_cells(f"`{c.name}`", c.type, c.unit, c.meaning, *markets))
    return "\n".join(lines) + "\n"


def _view_columns(view: Relation) -> str:
    for table in TABLES:
        if view.columns == table.columns:
            return f"every column of `{table.name}`"
    return ", ".join(f"`{column.name}`" for column in view.columns)


def views_markdown() -> str:
    """The views as a Markdown table, then each view's example query."""
    lines = [
        f"**Views** (schema version {VIEWS_VERSION}; the `_versions` views "
        f"{HISTORY_VERSION}; those of `short_positions` {POSITIONS_VERSION}) read like tables "
        "and answer the everyday questions without hand-written SQL:",
        "",
        _cells("view", "what it holds", "columns"),
        "|---|---|---|",
    ]
    lines += [_cells(f"`{v.name}`", v.description, _view_columns(v)) for v in VIEWS]
    for view in VIEWS:
        if view.example:
            title, sql = view.example
            lines += ["", f"{title} (`{view.name}`):", "", "```sql", sql, "```"]
    return "\n".join(lines) + "\n"


def database_doc() -> str:
    """docs/database.md's generated part: every table's columns, then the views."""
    return "\n".join([*map(table_markdown, TABLES), views_markdown()])
