"""Reading the database for ``harvester status``: read-only, never blocking a sweep."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from harvester.database import connect_checked, translate
from harvester.errors import StoreError


def _open_read_only(path: Path) -> sqlite3.Connection:
    """Open the file read-only; a copy we cannot write beside is read as immutable.

    In WAL mode even a reader needs the ``-shm`` file, which it cannot create
    in a read-only folder. With no ``-wal`` file beside it, the database file
    is the whole database, so reading it as immutable is exact.
    """
    uri = path.resolve().as_uri()
    try:
        return connect_checked(f"{uri}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        if Path(f"{path}-wal").exists():
            raise translate(path, exc) from exc
    try:
        return connect_checked(f"{uri}?immutable=1", uri=True)
    except sqlite3.Error as exc:
        raise translate(path, exc) from exc


def read_status(path: Path, limit: int = 5) -> list[dict[str, Any]]:
    """Recent runs with their task counts by endpoint and status, read-only."""
    if not path.is_file():
        raise StoreError(f"database {path}: no such file")
    db = _open_read_only(path)
    try:
        db.row_factory = sqlite3.Row
        runs = [dict(row) for row in db.execute(
            "SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?", (limit,))]
        for run in runs:
            run["tasks"] = {}
            for endpoint, status, count in db.execute(
                "SELECT endpoint, status, COUNT(*) FROM tasks WHERE run_id = ? GROUP BY 1, 2",
                (run["run_id"],),
            ):
                run["tasks"].setdefault(endpoint, {})[status] = count
        return runs
    except sqlite3.Error as exc:
        raise translate(path, exc) from exc
    finally:
        db.close()

