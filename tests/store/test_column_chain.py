"""Each column is declared once, and the chain from upstream field to docs holds.

The chain: an adapter's fields (each dialect's adapter of each data set it serves) fill the
columns ``harvester.catalog`` declares;
those columns are in the schema ``Store`` creates, with the declared type's
affinity; every column of that schema is described (with a unit where it is a
number, a date or a time) in ``store/columns.py``, which takes the endpoints'
columns from the catalog itself; and the docs (docs/database.md's tables, the Datasette
metadata) are written from those descriptions.
"""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from datetime import UTC, date, datetime

import pytest

from harvester import catalog
from harvester.catalog import APIS, GATEWAY, OPENAPI, ROW_HEAD, Column, Endpoint, served_by
from harvester.model import MARKET_TZ, SUPPORTED_MARKETS
from harvester.read.explore import metadata
from harvester.store.columns import RELATIONS, describe
from harvester.store.doc import table_markdown
from harvester.store.store import Store
from harvester.upstream.endpoints import adapters
from harvester.upstream.endpoints.values import PARSERS

ENDPOINTS = {endpoint.name: endpoint for endpoint in catalog.ENDPOINTS}
#: (dialect, data set) for every data set a dialect serves.
SERVED = [(api, endpoint.name) for api in APIS for endpoint in served_by(api)]
# One record per dialect and data set whose date fields all agree, in both markets' zones.
_NOON = datetime(2026, 5, 15, 12, tzinfo=UTC).timestamp()
DATED = {
    (GATEWAY, "short_trades"): {"timestamp": "2026-05-15T12:00:00Z"},
    (GATEWAY, "short_interest"): {"timestamp_str": "2026-05-15", "timestamp": int(_NOON * 1000)},
    (OPENAPI, "short_trades"): {"timestamp": str(int(_NOON))},
    (OPENAPI, "short_positions"): {"timestamp": str(int(_NOON))},
}


def _declared(endpoint: Endpoint) -> tuple[Column, ...]:
    """The columns the catalog declares for an endpoint's table: its date and its data."""
    return (endpoint.date, *endpoint.columns)


def affinity(declared: str) -> str:
    """SQLite's type affinity of a declared column type (its rules, in their order)."""
    kind = declared.upper()
    if "INT" in kind:
        return "INTEGER"
    if any(word in kind for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in kind or not kind:
        return "BLOB"
    if any(word in kind for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """Every table and view of a file ``Store`` creates: column name to declared type."""
    path = tmp_path_factory.mktemp("chain") / "fresh.sqlite"

    async def create() -> None:
        async with Store(path):
            pass

    asyncio.run(create())
    with closing(sqlite3.connect(path)) as db:
        names = [
            name
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            name: {row[1]: row[2] for row in db.execute(f"PRAGMA table_info({name})")}
            for name in names
        }


# Adapter fields -> declared columns ---------------------------------------------------------


def test_every_data_set_a_dialect_serves_has_its_adapter_bound_to_its_catalog_entry() -> None:
    assert {name for _, name in SERVED} == set(ENDPOINTS)  # no data set without a dialect
    for api in APIS:
        served = {endpoint.name for endpoint in served_by(api)}
        assert set(adapters(api)) == served, api
        for name, adapter in adapters(api).items():
            assert adapter.endpoint is ENDPOINTS[name]
            assert adapter.table == name
            assert adapter.columns == ENDPOINTS[name].columns


@pytest.mark.parametrize(("api", "name"), SERVED)
def test_every_adapter_field_fills_a_declared_column_from_its_declared_source(
    api: str, name: str
) -> None:
    adapter, endpoint = adapters(api)[name], ENDPOINTS[name]
    declared = {column.name: column for column in endpoint.columns}
    assert set(adapter.fields) == set(SUPPORTED_MARKETS)
    for market, fields in adapter.fields.items():
        for field in fields:
            assert field.column in declared, (market, field)
            column = declared[field.column]
            assert field.source == column.source(market), (market, field)
            assert field.parse is PARSERS[column.type], (market, field)
        filled = [field.column for field in fields]
        expected = [c.name for c in endpoint.columns if c.fills(market)]
        assert sorted(filled) == sorted(expected), market  # each filled column once


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_every_declared_column_names_its_upstream_field_or_null_per_market(name: str) -> None:
    endpoint = ENDPOINTS[name]
    for column in _declared(endpoint):
        assert column.type in ("TEXT", *PARSERS), column
        for market in SUPPORTED_MARKETS:
            assert column.source(market) != "", (column.name, market)  # a field, or None
    for market in SUPPORTED_MARKETS:
        assert endpoint.date.source(market), market  # every row has a date
        assert any(column.fills(market) for column in endpoint.columns), market


@pytest.mark.parametrize(("api", "name"), SERVED)
@pytest.mark.parametrize("market", SUPPORTED_MARKETS)
def test_the_date_comes_from_the_field_the_catalog_names(api: str, name: str, market: str) -> None:
    adapter, source = adapters(api)[name], ENDPOINTS[name].date.source(market)
    tz = MARKET_TZ[market]
    assert adapter.record_dates([DATED[api, name]], tz) == ([date(2026, 5, 15)], 0)
    without = {key: value for key, value in DATED[api, name].items() if key != source}
    days, warnings = adapter.record_dates([without], tz)
    assert days == [None] or warnings, (name, market, source)


# Declared columns -> the schema Store creates -------------------------------------------


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_every_declared_column_is_in_the_schema_with_its_type_affinity(
    schema: dict[str, dict[str, str]], name: str
) -> None:
    table = schema[name]
    assert list(table)[: len(ROW_HEAD)] == list(ROW_HEAD)  # the rows' head, as adapters make it
    for column in _declared(ENDPOINTS[name]):
        assert column.name in table, column.name
        assert affinity(table[column.name]) == affinity(column.type), column.name


# The schema -> descriptions -> docs -----------------------------------------------------


def test_every_column_of_the_schema_is_described_with_a_unit_where_it_has_one(
    schema: dict[str, dict[str, str]],
) -> None:
    assert set(schema) == set(RELATIONS)
    for name, columns in schema.items():
        for column_name in columns:
            column = RELATIONS[name].column(column_name)
            assert column.meaning, (name, column_name)
            if column.type in ("INTEGER", "REAL") or column_name.endswith(("_date", "_at")):
                assert column.unit, (name, column_name)


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_the_endpoint_tables_describe_the_catalogs_own_columns(name: str) -> None:
    relation = RELATIONS[name]
    for column in _declared(ENDPOINTS[name]):
        assert relation.column(column.name) is column  # not a copy that could drift


def test_the_docs_and_the_datasette_metadata_come_from_the_descriptions(
    schema: dict[str, dict[str, str]],
) -> None:
    tables = metadata("harvester")["databases"]["harvester"]["tables"]
    for name, columns in schema.items():
        assert list(tables[name]["columns"]) == list(columns), name
        for column_name, text in tables[name]["columns"].items():
            assert text == describe(name, column_name)
    for name in ENDPOINTS:
        markdown = table_markdown(RELATIONS[name])
        for column in _declared(ENDPOINTS[name]):
            assert f"`{column.name}`" in markdown
            assert column.meaning in markdown and column.unit in markdown, column.name
