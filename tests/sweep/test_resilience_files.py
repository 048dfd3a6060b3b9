"""The database file itself: a bad file is refused before any request, an old one migrated.

An unwritable folder, a file that is not SQLite or has a newer schema; the first released
schema migrated in place with its data, resumed, and left at its version if a step fails.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harvester.errors import StoreError
from harvester.model import RunStatus
from harvester.simulate import Gateway
from harvester.store.schema import SCHEMA_VERSION
from harvester.store.store import Store
from harvester.sweep.run import run_sweep

HERE = Path(__file__).resolve().parents[1]  # tests/, with its data/
Query = Callable[..., list[tuple[Any, ...]]]


@pytest.mark.parametrize("case", ["unwritable folder", "not sqlite", "newer schema"])
async def test_a_bad_database_file_is_refused_before_any_request(
    make_settings: Callable[..., Any], case: str
) -> None:
    async with Gateway() as gateway:
        settings = make_settings(gateway.url, "AAPL.US\n")
        db = Path(settings.sweep.db)
        if case == "unwritable folder":
            # /proc refuses new files even to root, for whom folder modes do not bind.
            settings = replace(settings, sweep=replace(settings.sweep, db="/proc/h.sqlite"))
        elif case == "not sqlite":
            db.write_bytes(b"PK\x03\x04 this is a zip file, not a database" * 100)
        else:
            with sqlite3.connect(db) as conn:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
            conn.close()
        with pytest.raises(StoreError) as refused:
            await run_sweep(settings)
        assert gateway.stats.total == 0
    message = str(refused.value)
    assert "\n" not in message
    expected = {
        "unwritable folder": "is the folder writable",
        "not sqlite": "not an SQLite database",
        "newer schema": "newer",
    }[case]
    assert expected in message


@pytest.fixture
def v1_database(query: Query) -> Callable[[Path], Path]:
    """``v1_database(path)``: a file of the first released schema, with its data."""

    def make(path: Path) -> Path:
        with sqlite3.connect(path) as conn:
            conn.executescript((HERE / "data" / "schema_v1.sql").read_text(encoding="utf-8"))
        conn.close()
        assert query(path, "PRAGMA user_version") == [(1,)]
        return path

    return make


async def test_the_first_released_schema_is_migrated_in_place(
    tmp_path: Path, v1_database: Callable[[Path], Path], query: Query
) -> None:
    db = v1_database(tmp_path / "old.sqlite")
    before = {
        table: query(db, f"SELECT * FROM {table} ORDER BY 1, 2")
        for table in ("short_trades", "short_interest", "tasks")
    }
    async with Store(db):
        pass
    assert query(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    for table, rows in before.items():
        width = len(rows[0])  # later migrations add columns at the end (first_seen_at)
        assert [row[:width] for row in query(db, f"SELECT * FROM {table} ORDER BY 1, 2")] == rows
    assert query(db, "SELECT run_id, status, stop_reason FROM runs ORDER BY 1") == [
        ("20260520T020000Z-aaaaaa", "completed", None),
        ("20260521T020000Z-bbbbbb", "interrupted", None),
    ]


async def test_a_migrated_file_resumes_its_unfinished_run(
    tmp_path: Path, v1_database: Callable[[Path], Path], make_settings: Callable[..., Any]
) -> None:
    db = v1_database(tmp_path / "h.sqlite")
    async with Gateway() as gateway:
        settings = make_settings(
            gateway.url, "AAPL.US\n", sweep={"db": str(db), "resume_max_age": 1e5}
        )
        summary = await run_sweep(settings, resume=True)
        assert gateway.stats.total == 1  # only the one pending task
    assert summary.run_id == "20260521T020000Z-bbbbbb" and summary.resumed
    assert summary.status is RunStatus.COMPLETED


async def test_a_failing_migration_leaves_the_file_at_its_old_version(
    tmp_path: Path,
    v1_database: Callable[[Path], Path],
    query: Query,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import harvester.store.database
    import harvester.store.schema

    db = v1_database(tmp_path / "old.sqlite")
    broken = (
        *harvester.store.schema.MIGRATIONS,
        (
            "ALTER TABLE runs ADD COLUMN extra TEXT",
            "THIS IS NOT SQL",
        ),
    )
    monkeypatch.setattr(harvester.store.database, "MIGRATIONS", broken)
    monkeypatch.setattr(harvester.store.database, "SCHEMA_VERSION", len(broken))
    with pytest.raises(StoreError):
        async with Store(db):
            pass
    assert query(db, "PRAGMA user_version") == [(1,)]
    columns = [row[1] for row in query(db, "PRAGMA table_info(runs)")]
    assert "stop_reason" not in columns and "extra" not in columns
