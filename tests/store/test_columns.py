"""columns.py describes every table, view and column of a freshly migrated file, in order.

docs/database.md's column tables and view list are the ones columns.py renders, each view's
example query answers on a swept database, and the units said hold on its data. That
every column has a unit, and the chain from the adapters' fields to the docs, are held
by tests/store/test_column_chain.py.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from fixtures_swept import Swept

from harvester.store.columns import RELATIONS, TABLES, VIEWS, describe
from harvester.store.database import open_database
from harvester.store.doc import database_doc, table_markdown
from harvester.store.schema import SCHEMA_VERSION

DATABASE_PAGE = Path(__file__).resolve().parents[2] / "docs" / "database.md"


@pytest.fixture
async def fresh(tmp_path: Path) -> Path:
    """A database file made by the harvester's own migrations, empty."""
    path = tmp_path / "fresh.sqlite"
    db = await open_database(path, busy_timeout=1.0)
    await db.close()
    return path


def _schema(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Every table and view of the file: its columns' names and declared types, in order."""
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        names = [
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            name: [(row[1], row[2]) for row in db.execute(f"PRAGMA table_info({name})")]
            for name in names
        }


def test_every_table_and_view_of_the_file_is_described(fresh: Path) -> None:
    assert set(_schema(fresh)) == set(RELATIONS)
    assert all(relation.description for relation in RELATIONS.values())


def test_every_column_is_described_with_its_type_in_order(fresh: Path) -> None:
    for name, columns in _schema(fresh).items():
        relation = RELATIONS[name]
        assert [c.name for c in relation.columns] == [column for column, _ in columns], name
        for column, declared in columns:
            # A view's column reached through a UNION has no declared type of its own.
            if declared:
                assert relation.column(column).type == declared, (name, column)
            assert relation.column(column).meaning, (name, column)
            assert describe(name, column), (name, column)


def test_units_the_issue_asks_for_are_said() -> None:
    trades, interest = RELATIONS["short_trades"], RELATIONS["short_interest"]
    assert "fraction, 0 to 1" in trades.column("short_ratio").unit
    assert "percent, 0 to 100" in interest.column("short_percent").unit
    assert "not documented upstream" in trades.column("short_balance").unit
    assert trades.column("total_turnover").unit == "HKD"
    assert "report" in interest.column("trade_date").meaning
    assert RELATIONS["tasks"].column("attempts").meaning.startswith("requests sent")


def test_a_market_view_describes_only_its_market() -> None:
    assert describe("short_trades", "nasdaq_short_volume") == (
        "NASDAQ short-sale volume of the day. Unit: shares. "
        "From upstream: US nus_amount; NULL for HK."
    )
    assert describe("us_short_trades", "nasdaq_short_volume") == (
        "NASDAQ short-sale volume of the day. Unit: shares. From upstream: US nus_amount."
    )
    assert "HK" not in describe("us_short_trades", "short_ratio").split("From upstream")[1]


def test_the_database_page_shows_the_tables_and_views_columns_renders() -> None:
    text = DATABASE_PAGE.read_text(encoding="utf-8")
    assert text.count(database_doc()) == 1
    assert f"(now {SCHEMA_VERSION})" in text


def test_rendered_tables_have_as_many_cells_in_every_row() -> None:
    for table in TABLES:
        rows = [line for line in table_markdown(table).splitlines() if line.startswith("|")]
        assert len({row.count("|") for row in rows}) == 1, table.name


def test_each_view_example_answers_on_a_swept_database(positioned: Swept) -> None:
    for view in VIEWS:
        assert view.example is not None, view.name
        assert positioned.rows(view.example[1]), view.name


def test_short_positions_say_their_own_units_and_where_they_fill() -> None:
    positions = RELATIONS["short_positions"]
    assert "whether a fraction or a percent" in positions.column("short_ratio").unit
    assert positions.column("short_amount").unit == "HKD"
    assert "OpenAPI" in positions.description and "short_interest" in positions.description
    assert describe("hk_short_positions", "short_amount").endswith("From upstream: HK amount.")
    # Beside the other data sets its columns take their own names, with the same description.
    assert describe("snapshot", "positions_short_ratio") == describe(
        "short_positions", "short_ratio"
    )
    assert describe("snapshot", "short_ratio") == describe("short_trades", "short_ratio")
    for name in ("short_trades", "short_interest", "short_positions"):
        assert name in describe("tasks", "endpoint")


def test_the_short_ratio_is_the_fraction_said_on_swept_data(swept: Swept) -> None:
    rows = swept.rows(
        "SELECT market, short_ratio, COALESCE(nasdaq_short_volume + nyse_short_volume, "
        "short_turnover), COALESCE(total_volume, total_turnover) FROM short_trades"
    )
    assert {row[0] for row in rows} == {"US", "HK"}
    for market, short_ratio, short, total in rows:
        assert 0 <= short_ratio <= 1, (market, short_ratio)
        assert short_ratio == pytest.approx(short / total, abs=0.00005), market
