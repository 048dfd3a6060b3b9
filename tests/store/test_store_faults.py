"""A full disk at each step of a sweep: one line naming the file, a sound file, and a resume.

A fault-injecting connection: ``Store._sql`` (the one place the store's SQL
reaches SQLite) raises SQLite's own "database or disk is full" error for the
statement of one step. Whatever the step, the sweep ends with one StoreError
line naming the file (the CLI's exit 2), the file passes ``integrity_check``,
and once there is room a ``--resume`` finishes the run with every task done.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import closing
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from harvester.errors import StoreError
from harvester.settings.config import Settings, load_settings
from harvester.simulate import Gateway
from harvester.store.store import Store
from harvester.sweep.run import run_sweep

SYMBOLS = [f"F{i}.US" for i in range(30)] + ["700.HK", "5.HK"]

# (step, a fragment of the statement that step runs, what to set up first)
STEPS = [
    ("recording a new run", "INSERT INTO runs", None),
    ("recording its universe", "INSERT OR IGNORE INTO tasks", None),
    ("closing runs left by a crash", "WHERE status = 'running' AND run_id IS NOT", "crashed"),
    ("resuming a run", "resumes = resumes + ?", "stopped"),
    ("closing a run too old to resume", "UPDATE runs SET status = ?", "stale"),
    ("writing results", "INSERT INTO short_trades", None),
    ("setting task statuses", "UPDATE tasks SET status", None),
    ("closing the books", "requests = requests + ?", None),
]


def settings_for(tmp_path: Path, url: str) -> Settings:
    symbols = tmp_path / "symbols.txt"
    symbols.write_text("".join(f"{s}\n" for s in SYMBOLS), encoding="utf-8")
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    limits = {"rate": 1000.0, "concurrency": 8}
    return load_settings(
        empty,
        environ={},
        overrides={
            "sweep": {
                "symbols": str(symbols),
                "db": str(tmp_path / "h.sqlite"),
                "workers": 8,
                "backoff_base": 0.0,
            },
            "gateway": {"base_url": url},
            "endpoints.short_trades": limits,
            "endpoints.short_interest": limits,
        },
    )


async def prepare(kind: str | None, settings: Settings, db: Path) -> bool:
    """Leave the file as the step needs it; True when the sweep should ``--resume``."""
    if kind is None:
        return False
    stop = asyncio.Event()
    stop.set()  # stopped before it fetched anything: an unfinished run
    await run_sweep(settings, stop=stop)
    if kind == "crashed":
        with closing(sqlite3.connect(db)) as conn, conn:
            conn.execute("UPDATE runs SET status = 'running', finished_at = NULL")
        return False
    if kind == "stale":
        with closing(sqlite3.connect(db)) as conn, conn:
            conn.execute("UPDATE runs SET started_at = '2020-01-01T00:00:00.000Z'")
    return True


@pytest.mark.parametrize(("step", "fragment", "setup"), STEPS, ids=[s[0] for s in STEPS])
async def test_a_full_disk_at_each_step_is_one_line_and_resume_finishes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    query: Callable[..., list[tuple[Any, ...]]],
    step: str,
    fragment: str,
    setup: str | None,
) -> None:
    db = tmp_path / "h.sqlite"
    async with Gateway() as gateway:
        settings = settings_for(tmp_path, gateway.url)
        resume = await prepare(setup, settings, db)
        real = Store._sql
        hits = 0

        async def full_disk(
            self: Store, statement: str, params: Iterable[Any] = (), *, many: bool = False
        ) -> aiosqlite.Cursor:
            nonlocal hits
            if fragment in statement:
                hits += 1
                raise sqlite3.OperationalError("database or disk is full")
            return await real(self, statement, params, many=many)

        monkeypatch.setattr(Store, "_sql", full_disk)
        with pytest.raises(StoreError) as failed:
            await run_sweep(settings, resume=resume)
        monkeypatch.setattr(Store, "_sql", real)
        assert hits, f"{step}: the fault was never reached"
        message = str(failed.value)
        assert "\n" not in message and str(db) in message and "disk is full" in message
        assert "--resume" in message
        assert query(db, "PRAGMA integrity_check") == [("ok",)]

        done = await run_sweep(settings, resume=True)
    assert done.status.value == "completed", step
    assert query(db, "SELECT DISTINCT status FROM tasks WHERE run_id = ?", (done.run_id,)) == [
        ("ok",)
    ]
    assert query(db, "SELECT COUNT(*) FROM runs WHERE status = 'running'") == [(0,)]
