"""Shared fixtures: settings and files in tmp_path, the database read back, processes, deadlines.

Tests take what they need as arguments; no test module imports from here. The fixtures
for processes (the CLI, sweeps, the simulated gateway) are in fixtures_processes.py. Every wait
has a deadline and fails with a message naming what did not happen, and every
process started here is ended by its own pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = (  # fixtures kept in their own modules, for every folder
    "fixtures_processes",
    "fixtures_swept",
    "fixtures_outside",
    "fixtures_mocked",
    "fixtures_positions",
)

DATA = Path(__file__).resolve().parent / "data"
HARVESTER = [sys.executable, "-m", "harvester"]
RUN_TIMEOUT = 60.0  # seconds a command run to its end may take
OK_TIMEOUT = 30.0  # seconds a started sweep may take to commit the tasks a test waits for
POLL = 0.02  # seconds between two looks at a condition

Rows = list[tuple[Any, ...]]


# Plain functions behind the fixtures ------------------------------------------------------


def _query(db: Path, sql: str, params: tuple[Any, ...] = ()) -> Rows:
    """Run one query on the database file with the stdlib driver; the connection is closed."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql, params).fetchall()


def _ok_tasks(db: Path, endpoint: str | None = None) -> int:
    """Tasks with status ok (of one endpoint, if given); 0 before the file or schema exists."""
    if not db.exists():  # connecting would create it under the sweep's feet
        return 0
    where = "status = 'ok'" + (" AND endpoint = ?" if endpoint else "")
    try:
        return int(
            _query(
                db, f"SELECT COUNT(*) FROM tasks WHERE {where}", (endpoint,) if endpoint else ()
            )[0][0]
        )
    except sqlite3.OperationalError:  # the schema is not committed yet
        return 0


def _wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Return as soon as ``condition()`` is true; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(POLL)


async def _until(condition: Callable[[], object], timeout: float, what: str) -> None:
    """:func:`_wait_until` for a coroutine: the loop runs while it waits."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        await asyncio.sleep(POLL)


def _sweep_args(config: Path, symbols: Path, db: Path, *extra: str) -> list[str]:
    """``harvester`` arguments for a sweep with these files."""
    return ["sweep", "--config", str(config), "--symbols", str(symbols), "--db", str(db), *extra]


def _write_config(
    path: Path,
    port: int,
    rate: float,
    *,
    concurrency: int = 4,
    timeout: float = 2.0,
    **sweep: object,
) -> Path:
    """Settings for a sweep against a gateway on ``port``: both endpoints at ``rate``."""
    lines = [
        f'[gateway]\nbase_url = "http://127.0.0.1:{port}"\ntimeout = {timeout}\n',
        "[sweep]\n",
        "backoff_base = 0.05\n",
        *(f"{k} = {v}\n" for k, v in sweep.items()),
    ]
    for name in ("short_trades", "short_interest"):
        lines.append(f"[endpoints.{name}]\nrate = {rate}\nconcurrency = {concurrency}\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


# Settings and the database ----------------------------------------------------------------


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Any]:
    """``make_settings(base_url, symbols, *, sweep=, endpoints=, gateway=)``: Settings in tmp_path.

    Fast and without backoff waits unless told otherwise; ``symbols`` is the file's text.
    """
    from harvester.settings.config import load_settings

    def make(
        base_url: str,
        symbols: str,
        *,
        sweep: dict[str, Any] | None = None,
        endpoints: dict[str, Any] | None = None,
        gateway: dict[str, Any] | None = None,
    ) -> Any:
        (tmp_path / "symbols.txt").write_text(symbols, encoding="utf-8")
        overrides = {
            "sweep": {
                "symbols": str(tmp_path / "symbols.txt"),
                "db": str(tmp_path / "h.sqlite"),
                "backoff_base": 0.0,
                "workers": 8,
                **(sweep or {}),
            },
            "gateway": {"base_url": base_url, "timeout": 5.0, **(gateway or {})},
        }
        for name in ("short_trades", "short_interest", "short_positions"):
            overrides[f"endpoints.{name}"] = {"rate": 1000.0, "concurrency": 8, **(endpoints or {})}
        empty = tmp_path / "empty.toml"
        empty.write_text("", encoding="utf-8")
        return replace(load_settings(empty, overrides=overrides, environ={}), source="test")

    return make


@dataclass(frozen=True)
class Swept:
    """What a sweep against the in-process simulated gateway left: its summary, the gateway's
    counters, the settings it ran with and its database file."""

    summary: Any
    stats: dict[str, Any]
    settings: Any
    db: Path


@pytest.fixture
def sweep_simulated(make_settings: Callable[..., Any]) -> Callable[..., Awaitable[Swept]]:
    """``await sweep_simulated(symbols, gateway_settings=None, *, token=None, **settings)``.

    One ``run_sweep`` against a fresh simulated gateway on loopback; ``settings`` go to
    ``make_settings``.
    """
    from harvester.simulate import Gateway, GatewaySettings
    from harvester.sweep.run import run_sweep
    from harvester.upstream.auth import credentials

    async def sweep(
        symbols: str, gateway_settings: Any = None, *, token: str | None = None, **settings: Any
    ) -> Swept:
        async with Gateway(gateway_settings or GatewaySettings()) as gateway:
            ran = make_settings(gateway.url, symbols, **settings)
            environ = {ran.gateway.token_env: token} if token else {}
            auth = credentials(ran.dialect, ran.gateway.token_env, environ)
            summary = await run_sweep(ran, auth=auth)
            stats = gateway.stats.as_dict()
        return Swept(summary, stats, ran, Path(ran.sweep.db))

    return sweep


@pytest.fixture(scope="session")
def query() -> Callable[..., Rows]:
    """``query(db, sql, params=())``: the rows of one query, read with the stdlib driver."""
    return _query


@pytest.fixture(scope="session")
def task_map() -> Callable[[Path], dict[tuple[str, str], tuple[Any, ...]]]:
    """``task_map(db)``: ``{(symbol, endpoint): (status, attempts, rows, warnings, code)}``."""

    def tasks(db: Path) -> dict[tuple[str, str], tuple[Any, ...]]:
        rows = _query(
            db, "SELECT symbol, endpoint, status, attempts, rows, warnings, error_code FROM tasks"
        )
        return {(symbol, endpoint): tuple(rest) for symbol, endpoint, *rest in rows}

    return tasks


@pytest.fixture(scope="session")
def ok_tasks() -> Callable[..., int]:
    """``ok_tasks(db, endpoint=None)``: tasks ok so far; 0 before the file or schema exists."""
    return _ok_tasks


# Waiting with a deadline ------------------------------------------------------------------


@pytest.fixture(scope="session")
def wait_until() -> Callable[[Callable[[], object], float, str], None]:
    """``wait_until(condition, timeout, what)``: poll until true; fail naming ``what``."""
    return _wait_until


@pytest.fixture(scope="session")
def until() -> Callable[[Callable[[], object], float, str], Awaitable[None]]:
    """``await until(condition, timeout, what)``: as ``wait_until``, letting the loop run."""
    return _until


# Files ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def write_file() -> Callable[[Path, str], Path]:
    """``write_file(path, text)``: write UTF-8 text and return the path."""

    def write(path: Path, text: str) -> Path:
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def universe(tmp_path: Path) -> Callable[..., Path]:
    """``universe(count, prefix="Z")``: a symbols file of ``{prefix}0.US`` .. in tmp_path."""

    def write(count: int, prefix: str = "Z") -> Path:
        path = tmp_path / "symbols.txt"
        path.write_text("".join(f"{prefix}{i}.US\n" for i in range(count)), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def fast_toml() -> str:
    """Settings text for quick CLI sweeps against ``--simulate`` (tests/data/fast.toml)."""
    return (DATA / "fast.toml").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def write_config() -> Callable[..., Path]:
    """``write_config(path, port, rate, *, concurrency=4, timeout=2.0, **sweep)``.

    Settings for a CLI sweep against a gateway process on ``port``.
    """
    return _write_config


@pytest.fixture(scope="session")
def sweep_args() -> Callable[..., list[str]]:
    """``sweep_args(config, symbols, db, *extra)``: the ``harvester`` arguments of a sweep."""
    return _sweep_args


@dataclass(frozen=True)
class SweepFiles:
    """A CLI sweep's files in tmp_path, for a gateway process on ``port``."""

    port: int
    config: Path
    symbols: Path
    db: Path

    def args(self, *extra: str, config: Path | None = None, db: Path | None = None) -> list[str]:
        """The sweep's ``harvester`` arguments; ``config`` or ``db`` in place of its own."""
        return _sweep_args(config or self.config, self.symbols, db or self.db, *extra)


@pytest.fixture
def sweep_files(
    tmp_path: Path, universe: Callable[..., Path], free_port: Callable[[], int]
) -> Callable[..., SweepFiles]:
    """``sweep_files(count, rate, **sweep)``: a free port, ``count`` symbols, a config and a db."""

    def make(count: int, rate: float, **sweep: object) -> SweepFiles:
        port = free_port()
        config = _write_config(tmp_path / "c.toml", port, rate, **sweep)
        return SweepFiles(port, config, universe(count), tmp_path / "h.sqlite")

    return make


class Watch:
    """A ``show`` for ``run_sweep`` that keeps the sweep's counts for the test to look at."""

    def __init__(self) -> None:
        self.counts: Any = None  #: the sweep's SweepCounts, once it has started

    async def __call__(self, counts: Any) -> None:
        self.counts = counts
        await asyncio.Event().wait()  # until the sweep ends and cancels it

    @property
    def done(self) -> int:
        """Tasks the sweep has finished so far (0 before it started)."""
        return self.counts.done if self.counts is not None else 0


@pytest.fixture
def watch() -> Watch:
    """``watch``: pass as ``run_sweep(..., show=watch)``; ``watch.done``, ``watch.counts``."""
    return Watch()
