"""A new file gets the schema, its version and WAL; a file the store cannot use is refused.

Each test opens a fresh file in ``tmp_path`` and reads it back with its own connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from harvester.catalog import ENDPOINTS
from harvester.errors import StoreError
from harvester.store.schema import SCHEMA_VERSION
from harvester.store.store import Store

Query = Callable[..., list[tuple[Any, ...]]]


# Schema ----------------------------------------------------------------------------------


async def test_a_new_file_gets_the_schema_version_and_wal(query: Query, db_path: Path) -> None:
    async with Store(db_path) as store, store.db.execute("PRAGMA journal_mode") as cursor:
        assert (await cursor.fetchone()) == ("wal",)
    assert query(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert query(db_path, "PRAGMA journal_mode") == [("wal",)]


async def test_opening_twice_keeps_the_version_and_the_data(
    run: Any, query: Query, db_path: Path
) -> None:
    async with Store(db_path) as store:
        await run.start(store, ["AAPL.US"])
    async with Store(db_path) as store:
        assert (await store.latest_unfinished_run()).run_id == run.id  # type: ignore[union-attr]
    assert query(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert query(db_path, "SELECT COUNT(*) FROM tasks") == [(2,)]


def table_info(query: Query, path: Path, table: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The table's column names in order, and its primary key columns in key order."""
    info = query(path, f"PRAGMA table_info({table})")
    names = tuple(row[1] for row in info)
    key = tuple(row[1] for row in sorted(info, key=lambda row: row[5]) if row[5])
    return names, key


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda endpoint: endpoint.name)
async def test_data_tables_have_the_catalogs_columns_in_order(
    query: Query, db_path: Path, endpoint: Any
) -> None:
    async with Store(db_path):
        pass
    names, key = table_info(query, db_path, endpoint.name)
    assert names == (
        "symbol",
        "market",
        "trade_date",
        *[c.name for c in endpoint.columns],
        "run_id",
        "fetched_at",
        "first_seen_at",
    )
    assert key == ("symbol", "trade_date")
    declared = {row[1]: row[2] for row in query(db_path, f"PRAGMA table_info({endpoint.name})")}
    assert {c.name: c.type for c in endpoint.columns}.items() <= declared.items()


async def test_runs_and_tasks_tables_have_the_documented_columns(
    query: Query, db_path: Path
) -> None:
    async with Store(db_path):
        pass
    assert table_info(query, db_path, "runs") == (
        (
            "run_id",
            "started_at",
            "finished_at",
            "status",
            "symbols_file",
            "symbols",
            "duplicates",
            "malformed_lines",
            "requests",
            "rows_written",
            "warnings",
            "resumes",
            "stop_reason",
            "kind",
            "refused",
            "rows_new",
            "rows_revised",
            "rows_unchanged",
            "served_day",
        ),
        ("run_id",),
    )
    assert table_info(query, db_path, "tasks") == (
        (
            "run_id",
            "symbol",
            "endpoint",
            "status",
            "attempts",
            "rows",
            "warnings",
            "error_code",
            "error_message",
            "updated_at",
        ),
        ("run_id", "symbol", "endpoint"),
    )


# Refusing files ----------------------------------------------------------------------------


async def test_a_file_from_a_newer_harvester_is_refused(query: Query, db_path: Path) -> None:
    with closing(sqlite3.connect(db_path)) as db:
        db.execute("PRAGMA user_version = 99")
        db.commit()
    with pytest.raises(StoreError) as info:
        async with Store(db_path):
            pass
    message = str(info.value)
    assert "99" in message
    assert "version" in message
    assert str(db_path) in message
    assert query(db_path, "PRAGMA user_version") == [(99,)]


async def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(db_path: Path) -> None:
    content = b"symbol,date,volume\nAAPL.US,2026-05-15,100\n" * 50
    db_path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        async with Store(db_path):
            pass
    assert "not an SQLite database" in str(info.value)
    assert str(db_path) in str(info.value)
    assert db_path.read_bytes() == content


async def test_a_folder_that_does_not_exist_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open"):
        async with Store(tmp_path / "missing" / "harvest.sqlite"):
            pass
