"""short_positions (migration 6): a table of its own, upserted, restated and read like the others.

No sweep fills it yet in these tests (the simulated gateway speaks the gateway dialect, which
does not serve it): rows go in through ``Store.write_results`` with the table's spec made
from the catalog, as an OpenAPI adapter's rows would, and are read back with a separate
``sqlite3`` connection. The store's clock is pinned so that as-of moments fall between
two fetches.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from harvester import catalog
from harvester.model import TaskResult, TaskStatus, symbol_from_canonical
from harvester.store import store as store_module
from harvester.store.history import AS_OF
from harvester.store.schema import SCHEMA_VERSION
from harvester.store.store import Store
from harvester.store.upserts import TableSpec, table_spec

Query = Callable[..., list[tuple[Any, ...]]]
DATA = Path(__file__).resolve().parent / "data"
POSITIONS = catalog.SHORT_POSITIONS
#: Every data table's spec, as the writer takes them.
TABLES = {endpoint.name: table_spec(endpoint) for endpoint in catalog.ENDPOINTS}
NAMES = tuple(column.name for column in POSITIONS.columns)
US_FILLS = ("short_shares", "avg_daily_share_volume", "days_to_cover", "short_ratio", "close")
HK_FILLS = ("short_amount", "short_balance", "cost", "short_ratio", "close")
T1, BETWEEN, T2 = "2026-05-16T01:00:00.000Z", "2026-05-16T12:00:00.000Z", "2026-05-17T01:00:00.000Z"


def row(symbol: str, day: str, **values: Any) -> tuple[Any, ...]:
    """A full-width row as an adapter makes it: every data column, NULL unless given."""
    market = symbol.rsplit(".", 1)[1]
    return (symbol, market, day, *(values.get(name) for name in NAMES))


def us(symbol: str, day: str, shares: int, ratio: float = 0.02) -> tuple[Any, ...]:
    """A US row: shares short, volume, days to cover, ratio and close."""
    return row(
        symbol,
        day,
        short_shares=shares,
        avg_daily_share_volume=shares // 4,
        days_to_cover=4.0,
        short_ratio=ratio,
        close=100.5,
    )


def hk(symbol: str, day: str, amount: float, cost: float = 87.25) -> tuple[Any, ...]:
    """An HK row: amount, balance, cost, ratio and close."""
    return row(
        symbol,
        day,
        short_amount=amount,
        short_balance=1.5e8,
        cost=cost,
        short_ratio=0.05,
        close=640.0,
    )


async def write(
    store: Store,
    run_id: str,
    rows: list[tuple[Any, ...]],
    endpoint: str = POSITIONS.name,
    tables: dict[str, TableSpec] = TABLES,
) -> int:
    """One ok task per symbol carrying its rows, written in one transaction."""
    by_symbol: dict[str, list[tuple[Any, ...]]] = {}
    for r in rows:
        by_symbol.setdefault(r[0], []).append(r)
    results = [
        TaskResult(symbol_from_canonical(symbol), endpoint, TaskStatus.OK, 1, tuple(mine))
        for symbol, mine in by_symbol.items()
    ]
    return (await store.write_results(run_id, results, tables)).rows


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """``clock(stamp)``: the store's ``now()`` says ``stamp`` from here on."""

    def set_to(stamp: str) -> None:
        monkeypatch.setattr(store_module, "now", lambda: stamp)

    return set_to


def data(query: Query, db: Path, where: str = "") -> dict[tuple[str, str], tuple[Any, ...]]:
    """(symbol, trade_date) -> the stored data columns of short_positions."""
    rows = query(db, f"SELECT symbol, trade_date, {', '.join(NAMES)} FROM short_positions {where}")
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


# Migration 6 on a file of the previous release ----------------------------------------------


def _everything(query: Query, db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's and view's rows, sorted, by name."""
    names = [
        r[0] for r in query(db, "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
    ]
    return {name: sorted(query(db, f"SELECT * FROM {name}"), key=repr) for name in names}


async def test_a_schema_5_file_made_by_the_previous_release_gets_short_positions_in_place(
    tmp_path: Path, query: Query, run: Any, clock: Callable[[str], None]
) -> None:
    db = tmp_path / "v5.sqlite"
    with closing(sqlite3.connect(db)) as conn:
        conn.executescript((DATA / "schema_v5.sql").read_text(encoding="utf-8"))
    assert query(db, "PRAGMA user_version") == [(5,)]
    before = _everything(query, db)
    assert before["short_trades_revisions"], "the dump holds a restatement"
    assert not {"short_positions", "latest_short_positions"} & set(before)
    old_snapshot = [r[1] for r in query(db, "PRAGMA table_info(snapshot)")]

    async with Store(db):
        pass
    assert query(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    after = _everything(query, db)
    # Every table and view of the old file holds what it held, the snapshot included: its
    # old columns first, in their order, and the short positions' after them, empty.
    snapshot = [r[1] for r in query(db, "PRAGMA table_info(snapshot)")]
    assert snapshot[: len(old_snapshot)] == old_snapshot
    assert snapshot[len(old_snapshot)] == "short_positions_date"
    width = len(old_snapshot)
    assert sorted((r[:width] for r in after["snapshot"]), key=repr) == before["snapshot"]
    assert all(set(r[width:]) == {None} for r in after["snapshot"])
    for name, rows in before.items():
        if name == "runs":
            # The runs gained, last, a kind and a count of refusals, then (version 8) their
            # rows by kind and a served day: every run before them was a sweep, refused
            # nothing that was counted, and wrote rows never told apart.
            width = len(rows[0])
            assert [r[:width] for r in after[name]] == rows
            assert {r[width:] for r in after[name]} == {("sweep", 0, None, None, None, None)}
        elif name != "snapshot":
            assert after[name] == rows, name
    assert {n for n in after if "short_positions" in n} == {
        "short_positions",
        "short_positions_revisions",
        "short_positions_versions",
        "latest_short_positions",
        "us_short_positions",
        "hk_short_positions",
    }
    assert query(db, "SELECT COUNT(*) FROM short_positions") == [(0,)]
    assert query(
        db,
        "SELECT type, name FROM sqlite_master WHERE tbl_name = 'short_positions' "
        "AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY 1",
    ) == [("index", "short_positions_by_date"), ("trigger", "short_positions_revised")]

    # The new table takes a run's rows, and the views show them beside the old data.
    clock(T1)
    async with Store(db) as store:
        await run.start(store, ["700.HK"], endpoints=(POSITIONS.name,), run_id="openapi-1")
        assert await write(store, "openapi-1", [hk("700.HK", "2026-05-15", 7.5e8)]) == 1
    assert query(db, "SELECT symbol, short_amount, first_seen_at FROM latest_short_positions") == [
        ("700.HK", 7.5e8, T1)
    ]
    got = query(
        db,
        "SELECT short_trades_date, short_positions_date, positions_short_amount FROM snapshot "
        "WHERE symbol = '700.HK'",
    )
    assert got == [("2026-05-19", "2026-05-15", 7.5e8)]
    assert query(db, "SELECT status FROM tasks WHERE run_id = 'openapi-1'") == [("ok",)]
    assert _everything(query, db)["short_trades"] == before["short_trades"]


# Upserts ----------------------------------------------------------------------------------


async def test_positions_are_stored_with_only_the_columns_each_market_fills(
    db_path: Path, query: Query, run: Any, clock: Callable[[str], None]
) -> None:
    clock(T1)
    rows = [us("AAPL.US", "2026-04-30", 1_000_000), hk("700.HK", "2026-05-08", 7.5e8)]
    # A value of the other market in a full-width row is never stored: its upsert leaves it out.
    rows[0] = (*rows[0][:6], 123.0, *rows[0][7:])  # short_amount on a US row
    async with Store(db_path) as store:
        await run.start(store, ["AAPL.US", "700.HK"], endpoints=(POSITIONS.name,))
        assert await write(store, run.id, rows) == 2
    stored = data(query, db_path)
    for (symbol, _), values in stored.items():
        fills = US_FILLS if symbol.endswith(".US") else HK_FILLS
        filled = {name for name, value in zip(NAMES, values, strict=True) if value is not None}
        assert filled == set(fills), symbol
    assert stored["AAPL.US", "2026-04-30"][0] == 1_000_000
    assert query(db_path, "SELECT typeof(short_shares) FROM us_short_positions") == [("integer",)]
    assert query(
        db_path, "SELECT DISTINCT run_id, fetched_at, first_seen_at FROM short_positions"
    ) == [(run.id, T1, T1)]
    assert run.statuses() == {("AAPL.US", POSITIONS.name): "ok", ("700.HK", POSITIONS.name): "ok"}


async def test_a_value_that_did_not_parse_never_erases_a_stored_position(
    db_path: Path, query: Query, run: Any, clock: Callable[[str], None]
) -> None:
    clock(T1)
    async with Store(db_path) as store:
        await run.start(store, ["700.HK"], endpoints=(POSITIONS.name,))
        await write(store, run.id, [hk("700.HK", "2026-05-08", 7.5e8)])
        clock(T2)
        await write(store, run.id, [row("700.HK", "2026-05-08", short_ratio=0.05, close=640.0)])
    stored = "SELECT short_amount, short_balance, cost, fetched_at, first_seen_at"
    assert query(db_path, f"{stored} FROM short_positions") == [(7.5e8, 1.5e8, 87.25, T2, T1)]
    assert query(db_path, "SELECT COUNT(*) FROM short_positions_revisions") == [(0,)]


# History ----------------------------------------------------------------------------------


async def test_a_restated_position_is_kept_and_as_of_reads_what_was_known(
    db_path: Path, query: Query, run: Any, clock: Callable[[str], None]
) -> None:
    clock(T1)
    first = [hk("700.HK", "2026-05-08", 7.5e8), us("AAPL.US", "2026-04-30", 1_000_000)]
    async with Store(db_path) as store:
        await run.start(store, ["700.HK", "AAPL.US"], endpoints=(POSITIONS.name,))
        await write(store, run.id, first)
        known_then = data(query, db_path)
        clock(T2)
        # 700.HK's cost restated; AAPL.US fetched again unchanged; a new day for AAPL.US.
        again = [
            hk("700.HK", "2026-05-08", 7.5e8, cost=90.0),
            first[1],
            us("AAPL.US", "2026-05-15", 1_200_000),
        ]
        await write(store, "run-2", again)
    kept = query(db_path, "SELECT * FROM short_positions_revisions")
    assert len(kept) == 1
    (old,) = kept
    assert old[:3] == ("700.HK", "HK", "2026-05-08")
    assert old[3 : 3 + len(NAMES)] == known_then["700.HK", "2026-05-08"]
    assert old[-4:] == (run.id, T1, T2, "run-2")  # who fetched it, when, and what replaced it
    assert data(query, db_path)["700.HK", "2026-05-08"][NAMES.index("cost")] == 90.0
    assert query(
        db_path,
        "SELECT DISTINCT first_seen_at FROM short_positions WHERE trade_date < '2026-05-15'",
    ) == [(T1,)]

    def as_of(moment: str) -> dict[tuple[str, str], tuple[Any, ...]]:
        rows = query(
            db_path,
            f"SELECT symbol, trade_date, {', '.join(NAMES)} FROM short_positions_versions "
            f"WHERE {AS_OF}",
            (moment, moment),
        )
        return {(r[0], r[1]): tuple(r[2:]) for r in rows}

    assert as_of(BETWEEN) == known_then
    assert as_of(T2) == data(query, db_path)
    assert as_of("2026-05-01T00:00:00.000Z") == {}


# Views ------------------------------------------------------------------------------------


async def test_the_views_show_the_newest_positions_per_symbol_and_market(
    db_path: Path, query: Query, run: Any, clock: Callable[[str], None]
) -> None:
    clock(T1)
    positions = [
        us("AAPL.US", "2026-04-30", 1_000_000),
        us("AAPL.US", "2026-05-15", 1_100_000, ratio=0.03),
        us("TSLA.US", "2026-05-15", 9_000_000),  # in short_positions only
        hk("700.HK", "2026-05-01", 7.0e8),
        hk("700.HK", "2026-05-08", 7.5e8),
    ]
    trades = [
        ("AAPL.US", "US", "2026-05-14", 100, 0, 400, None, None, None, 0.25, 1.0),
        ("5.HK", "HK", "2026-05-14", None, None, None, 10.0, 20.0, 40.0, 0.25, 82.0),
    ]
    async with Store(db_path) as store:
        symbols = ["AAPL.US", "TSLA.US", "700.HK", "5.HK"]
        await run.start(store, symbols, endpoints=("short_trades", POSITIONS.name))
        await write(store, run.id, positions)
        await write(store, run.id, trades, endpoint="short_trades")
    latest = query(
        db_path,
        "SELECT symbol, trade_date, short_shares, short_amount FROM latest_short_positions "
        "ORDER BY symbol",
    )
    assert latest == [
        ("700.HK", "2026-05-08", None, 7.5e8),
        ("AAPL.US", "2026-05-15", 1_100_000, None),
        ("TSLA.US", "2026-05-15", 9_000_000, None),
    ]
    for market, fills in (("US", US_FILLS), ("HK", HK_FILLS)):
        view = f"{market.lower()}_short_positions"
        assert [r[1] for r in query(db_path, f"PRAGMA table_info({view})")] == [
            "symbol",
            "trade_date",
            *fills,
            "run_id",
            "fetched_at",
        ]
        assert sorted(query(db_path, f"SELECT symbol, trade_date FROM {view}")) == sorted(
            (r[0], r[2]) for r in positions if r[1] == market
        )

    snapshot = {
        r[0]: r[1:]
        for r in query(
            db_path,
            "SELECT symbol, short_trades_date, short_ratio, short_positions_date, "
            "positions_short_ratio, positions_short_shares, positions_short_amount, "
            "short_shares FROM snapshot",
        )
    }
    # Each data set's figures in its own columns: short_ratio is short_trades', always.
    assert snapshot == {
        "AAPL.US": ("2026-05-14", 0.25, "2026-05-15", 0.03, 1_100_000, None, None),
        "TSLA.US": (None, None, "2026-05-15", 0.02, 9_000_000, None, None),
        "700.HK": (None, None, "2026-05-08", 0.05, None, 7.5e8, None),
        "5.HK": ("2026-05-14", 0.25, None, None, None, None, None),
    }
