"""write_results stores rows and task statuses together, in one transaction, as upserts.

A failed write rolls back both and is one StoreError naming the file; each market's row binds
only the columns that market fills. Read back through a separate connection.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harvester.errors import StoreError
from harvester.model import Symbol, TaskStatus
from harvester.store.store import Store, Written

AAPL = Symbol("AAPL", "US")

Query = Callable[..., list[tuple[Any, ...]]]


# Writing results -------------------------------------------------------------------------


async def test_write_results_stores_rows_and_task_statuses_together(
    run: Any, query: Query, db_path: Path
) -> None:
    async with Store(db_path) as store:
        await run.start(store, ["AAPL.US", "700.HK"])
        written = await store.write_results(
            run.id,
            [
                run.result(
                    AAPL,
                    "short_trades",
                    rows=(
                        run.trade_row(AAPL, "2026-05-14", 1.0),
                        run.trade_row(AAPL, "2026-05-15", 2.0),
                    ),
                    warnings=3,
                ),
                run.result(Symbol("700", "HK"), "short_interest", TaskStatus.NO_DATA),
                run.result(
                    AAPL,
                    "short_interest",
                    TaskStatus.FAILED,
                    error_code="-5",
                    error_message="internal_error: boom (after 5 attempts)",
                ),
            ],
            run.tables,
        )
    assert written == Written(rows=2, new=2, revised=0, unchanged=0)
    assert query(
        db_path, "SELECT symbol, trade_date, close, run_id FROM short_trades ORDER BY trade_date"
    ) == [("AAPL.US", "2026-05-14", 1.0, run.id), ("AAPL.US", "2026-05-15", 2.0, run.id)]
    assert run.statuses() == {
        ("AAPL.US", "short_trades"): "ok",
        ("AAPL.US", "short_interest"): "failed",
        ("700.HK", "short_trades"): "pending",
        ("700.HK", "short_interest"): "no_data",
    }
    assert query(
        db_path,
        "SELECT rows, warnings, attempts FROM tasks "
        "WHERE symbol = 'AAPL.US' AND endpoint = 'short_trades'",
    ) == [(2, 3, 1)]
    assert query(
        db_path,
        "SELECT error_code, error_message FROM tasks WHERE symbol = 'AAPL.US' "
        "AND endpoint = 'short_interest'",
    ) == [("-5", "internal_error: boom (after 5 attempts)")]
    assert query(
        db_path, "SELECT rows_written, rows_new, rows_revised, rows_unchanged, warnings FROM runs"
    ) == [(2, 2, 0, 0, 3)]


async def test_writing_the_same_day_twice_upserts_one_row_with_the_new_values(
    run: Any,
    query: Query,
    db_path: Path,
) -> None:
    async with Store(db_path) as store:
        await run.start(store, ["AAPL.US"])
        await store.write_results(run.id, [run.traded(AAPL)], run.tables)
        newer = ("AAPL.US", "US", "2026-05-15", 7, 8, 9, None, None, None, 0.5, 2.0)
        await store.write_results(
            run.id, [run.result(AAPL, "short_trades", rows=(newer,))], run.tables
        )
    rows = query(db_path, "SELECT * FROM short_trades")
    assert len(rows) == 1
    assert rows[0][:11] == newer
    assert rows[0][11] == run.id


async def test_rows_and_statuses_roll_back_together_when_one_write_fails(
    run: Any,
    query: Query,
    db_path: Path,
) -> None:
    async with Store(db_path) as store:
        await run.start(store, ["AAPL.US"], endpoints=(*run.endpoints, "bogus"))
        results = [
            run.traded(AAPL),
            run.result(AAPL, "short_interest", TaskStatus.NO_DATA),
            run.traded(AAPL, endpoint="bogus"),
        ]
        with pytest.raises(StoreError):
            await store.write_results(run.id, results, run.broken)
        # The store is still usable: no transaction was left open.
        await store.write_results(run.id, results[:1], run.tables)
        assert not store.db.in_transaction
    assert query(db_path, "SELECT COUNT(*) FROM short_trades") == [(1,)]
    assert run.statuses() == {
        ("AAPL.US", "short_trades"): "ok",
        ("AAPL.US", "short_interest"): "pending",
        ("AAPL.US", "bogus"): "pending",
    }
    assert query(db_path, "SELECT rows_written FROM runs") == [(1,)]


async def test_nothing_from_a_failed_write_is_committed(
    run: Any, query: Query, db_path: Path
) -> None:
    async with Store(db_path) as store:
        await run.start(store, ["AAPL.US"], endpoints=(*run.endpoints, "bogus"))
        with pytest.raises(StoreError):
            await store.write_results(
                run.id, [run.traded(AAPL), run.traded(AAPL, endpoint="bogus")], run.broken
            )
    assert query(db_path, "SELECT COUNT(*) FROM short_trades") == [(0,)]
    assert set(run.statuses().values()) == {"pending"}
    assert query(db_path, "SELECT rows_written FROM runs") == [(0,)]


async def test_a_failed_write_is_a_store_error_naming_the_file(run: Any, db_path: Path) -> None:
    async with Store(db_path) as store:
        await run.start(store, ["AAPL.US"], endpoints=("bogus",))
        with pytest.raises(StoreError) as info:
            await store.write_results(run.id, [run.traded(AAPL, endpoint="bogus")], run.broken)
    assert str(db_path) in str(info.value)
    assert "no_such_table" in str(info.value)


# Rows of each market bind only the columns that market fills -----------------------------


async def test_each_market_stores_exactly_its_row_with_the_sweeps_table_specs(
    run: Any,
    query: Query,
    db_path: Path,
) -> None:
    from harvester.sweep.run import table_specs

    tencent = Symbol("700", "HK")
    us_row = run.trade_row(AAPL, "2026-05-15", 1.5)
    hk_row = ("700.HK", "HK", "2026-05-15", None, None, None, 3.5e8, 9.3e10, 1.4e9, 0.25, 411.2)
    async with Store(db_path) as store:
        await run.start(store, ["AAPL.US", "700.HK"], ("short_trades",))
        await store.write_results(
            run.id,
            [
                run.result(AAPL, "short_trades", rows=(us_row,)),
                run.result(tencent, "short_trades", rows=(hk_row,)),
            ],
            table_specs(),
        )
        # Upsert again with new values: the row is replaced, the other market's columns stay NULL.
        newer = (*us_row[:-1], 2.5)
        await store.write_results(
            run.id, [run.result(AAPL, "short_trades", rows=(newer,))], table_specs()
        )
    stored = query(
        db_path,
        "SELECT symbol, market, trade_date, nasdaq_short_volume, "
        "nyse_short_volume, total_volume, short_turnover, short_balance, "
        "total_turnover, short_ratio, close FROM short_trades ORDER BY symbol",
    )
    assert stored == [hk_row, newer]
    specs = table_specs()["short_trades"]
    assert "short_turnover" not in specs.narrowing("US")[0].split("DO UPDATE")[0]
    assert "nasdaq_short_volume" not in specs.narrowing("HK")[0].split("DO UPDATE")[0]
