"""Shared fixtures: settings for a temp folder, and the database read back as plain rows."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

from harvester.config import Settings, load_settings


def make_settings(
    tmp_path: Path,
    base_url: str,
    symbols: str,
    *,
    sweep: dict[str, Any] | None = None,
    endpoints: dict[str, Any] | None = None,
    gateway: dict[str, Any] | None = None,
) -> Settings:
    """Settings for a sweep in ``tmp_path``: fast, no backoff waits, unless told otherwise."""
    (tmp_path / "symbols.txt").write_text(symbols, encoding="utf-8")
    overrides = {
        "sweep": {"symbols": str(tmp_path / "symbols.txt"), "db": str(tmp_path / "h.sqlite"),
                  "backoff_base": 0.0, "workers": 8, **(sweep or {})},
        "gateway": {"base_url": base_url, "timeout": 5.0, **(gateway or {})},
    }
    for name in ("short_trades", "short_interest"):
        overrides[f"endpoints.{name}"] = {"rate": 1000.0, "concurrency": 8, **(endpoints or {})}
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    settings = load_settings(empty, overrides=overrides, environ={})
    return replace(settings, source="test")


def query(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one query on the database file with the stdlib driver."""
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def task_map(db: Path) -> dict[tuple[str, str], tuple[Any, ...]]:
    """``{(symbol, endpoint): (status, attempts, rows, warnings, error_code)}``."""
    return {
        (symbol, endpoint): tuple(rest)
        for symbol, endpoint, *rest in query(
            db, "SELECT symbol, endpoint, status, attempts, rows, warnings, error_code FROM tasks"
        )
    }
