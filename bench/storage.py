"""The ``store`` case: rows/s through the harvester's store against stdlib ``executemany``.

The harvester's side is its real path: a ``Store`` on a fresh file, the run and
its tasks recorded as a sweep records them, then a ``BatchWriter`` committing
every task result (rows and task status together) in batches. The baseline is
the stdlib driver on another fresh file of the same schema and PRAGMAs, one
``executemany`` per table of the same rows with the same upsert, in one
transaction.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench import universe
from bench.options import Options
from bench.procs import BenchError
from bench.result import CaseResult, judged, median
from bench.sweeper import ENDPOINTS
from bench.targets import COMMIT_INTERVAL
from harvester.model import Symbol, TaskResult, TaskStatus
from harvester.store.store import Store, now
from harvester.sweep.ledger import record_universe
from harvester.sweep.run import table_specs
from harvester.sweep.writer import BatchWriter
from harvester.upstream.endpoints import ADAPTERS

log = logging.getLogger(__name__)

STORE_TASKS, STORE_TASKS_QUICK = 4_000, 800  # half per endpoint
ROWS_PER_TASK = 25
COMMIT_TASKS = 500
STORE_TIMEOUT = 300.0  # seconds for the harvester's side of one run
RUN_ID = "20260518T000000Z-bench0"
ANCHOR = dt.date(2026, 5, 18)
# Connection settings the baseline copies from an open Store (journal_mode lives in the file).
MIRRORED_PRAGMAS = (
    "busy_timeout",
    "synchronous",
    "foreign_keys",
    "cache_size",
    "temp_store",
    "mmap_size",
    "locking_mode",
)


def _weekdays(count: int) -> list[dt.date]:
    days: list[dt.date] = []
    day = ANCHOR
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= dt.timedelta(days=1)
    return days


def _report_dates(market: str, count: int) -> list[dt.date]:
    """US reports twice a month (the 15th and the month's end), HK weekly (Fridays)."""
    if market == "HK":
        friday = ANCHOR - dt.timedelta(days=(ANCHOR.weekday() - 4) % 7)
        return [friday - dt.timedelta(weeks=i) for i in range(count)]
    dates: list[dt.date] = []
    month = ANCHOR.replace(day=1)
    while len(dates) < count:
        end = (month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        dates += [day for day in (end, month.replace(day=15)) if day <= ANCHOR]
        month = (month - dt.timedelta(days=1)).replace(day=1)
    return dates[:count]


def _trade_values(market: str, rng: random.Random, price: float) -> dict[str, Any]:
    close = round(price * rng.uniform(0.97, 1.03), 2 if market == "US" else 3)
    if market == "US":
        volume = rng.randint(2_000_000, 80_000_000)
        nasdaq = int(volume * rng.uniform(0.2, 0.5))
        nyse = rng.choice((0, int(volume * rng.uniform(0.01, 0.1))))
        return {
            "nasdaq_short_volume": nasdaq,
            "nyse_short_volume": nyse,
            "total_volume": volume,
            "short_ratio": round((nasdaq + nyse) / volume, 4),
            "close": close,
        }
    turnover = round(rng.uniform(5e7, 5e9), 2)
    short = round(turnover * rng.uniform(0.03, 0.3), 2)
    return {
        "short_turnover": short,
        "short_balance": round(rng.uniform(1e8, 5e9), 2),
        "total_turnover": turnover,
        "short_ratio": round(short / turnover, 4),
        "close": close,
    }


def _interest_values(market: str, rng: random.Random, price: float) -> dict[str, Any]:
    shares = rng.randint(1_000_000, 200_000_000)
    values: dict[str, Any] = {
        "short_shares": shares,
        "short_percent": round(rng.uniform(0.1, 15), 2),
        "avg_daily_short_volume": rng.randint(100_000, 20_000_000),
        "close_price": round(price * rng.uniform(0.97, 1.03), 2),
        "last_close_price": round(price * rng.uniform(0.97, 1.03), 2),
    }
    if market == "US":
        values["avg_daily_share_volume"] = rng.randint(1_000_000, 80_000_000)
        values["days_to_cover"] = round(rng.uniform(0.5, 12), 2)
    else:
        values["avg_cost"] = round(price * rng.uniform(0.9, 1.1), 3)
    return values


def task_rows(symbol: Symbol, endpoint: str, rng: random.Random) -> tuple[tuple[Any, ...], ...]:
    """Rows as the endpoint's adapter maps them: key columns, then its columns in order."""
    price = rng.uniform(5, 900)
    columns = [column.name for column in ADAPTERS[endpoint].columns]
    if endpoint == "short_trades":
        dates, make = _weekdays(ROWS_PER_TASK), _trade_values
    else:
        dates, make = _report_dates(symbol.market, ROWS_PER_TASK), _interest_values
    rows = []
    for day in dates:
        values = make(symbol.market, rng, price)
        rows.append(
            (
                symbol.canonical,
                symbol.market,
                day.isoformat(),
                *(values.get(name) for name in columns),
            )
        )
    return tuple(rows)


def build_results(tasks: int) -> list[TaskResult]:
    """``tasks`` successful task results, both endpoints of ``tasks / 2`` securities."""
    rng = random.Random(f"bench-store:{tasks}")
    return [
        TaskResult(symbol, endpoint, TaskStatus.OK, 1, rows=task_rows(symbol, endpoint, rng))
        for symbol in universe.securities(tasks // len(ENDPOINTS))
        for endpoint in ENDPOINTS
    ]


async def _through_store(path: Path, symbols: Path, results: Sequence[TaskResult]) -> float:
    """Seconds from the first submit to the writer's close; checks every row arrived."""
    async with Store(path) as store:
        await record_universe(store, RUN_ID, symbols, list(ENDPOINTS), strict=False)
        writer = BatchWriter(
            store, RUN_ID, table_specs(), interval=COMMIT_INTERVAL, max_tasks=COMMIT_TASKS
        )
        async with writer:
            started = time.perf_counter()
            for result in results:
                await writer.submit(result)
        elapsed = time.perf_counter() - started
    expected = sum(len(result.rows) for result in results)
    if writer.rows != expected or writer.tasks != len(results):
        raise BenchError(
            f"the store wrote {writer.rows} rows of {writer.tasks} tasks, "
            f"expected {expected} of {len(results)}"
        )
    return elapsed


async def _store_pragmas(path: Path) -> dict[str, Any]:
    """Create the schema by opening a Store on ``path``; return its connection's PRAGMAs."""
    pragmas: dict[str, Any] = {}
    async with Store(path) as store:
        for name in MIRRORED_PRAGMAS:
            async with store.db.execute(f"PRAGMA {name}") as cursor:
                row = await cursor.fetchone()
            if row is not None:
                pragmas[name] = row[0]
    return pragmas


def stdlib_connection(path: Path) -> sqlite3.Connection:
    """A stdlib connection (autocommit) to a file the harvester's Store created, on its PRAGMAs.

    The Store makes the file: its schema, its migrations, WAL. Its connection's
    settings are read back and set here, so a baseline never drifts from them.
    """
    pragmas = asyncio.run(_store_pragmas(path))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for name, value in pragmas.items():
            conn.execute(f"PRAGMA {name} = {value}")
    except BaseException:
        conn.close()
        raise
    return conn


def _baseline(path: Path, results: Sequence[TaskResult]) -> float:
    """Seconds for stdlib ``executemany`` of the same rows in one transaction."""
    specs = table_specs()
    suffix = (RUN_ID, now())
    by_table = {
        name: [row + suffix for result in results if result.endpoint == name for row in result.rows]
        for name in ENDPOINTS
    }
    conn = stdlib_connection(path)
    try:
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        for name, rows in by_table.items():
            conn.executemany(specs[name].upsert_sql(), rows)
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        written = sum(
            conn.execute(f"SELECT COUNT(*) FROM {specs[name].table}").fetchone()[0]
            for name in ENDPOINTS
        )
    finally:
        conn.close()
    expected = sum(len(rows) for rows in by_table.values())
    if written != expected:
        raise BenchError(f"the baseline wrote {written} rows, expected {expected}")
    return elapsed


def _runs(options: Options, results: list[TaskResult]) -> Iterator[tuple[float, float]]:
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        folder = Path(tmp)
        symbols = universe.write(folder / "symbols.txt", len(results) // len(ENDPOINTS))
        for i in range(options.runs):
            harvester = asyncio.run(
                asyncio.wait_for(
                    _through_store(folder / f"store{i}.sqlite", symbols, results), STORE_TIMEOUT
                )
            )
            baseline = _baseline(folder / f"baseline{i}.sqlite", results)
            yield harvester, baseline


def store(options: Options) -> CaseResult:
    """Rows/s of the store's batched writes over rows/s of one stdlib ``executemany``."""
    results = build_results(options.pick(STORE_TASKS, STORE_TASKS_QUICK))
    rows = sum(len(result.rows) for result in results)
    timings = []
    for i, (harvester, baseline) in enumerate(_runs(options, results)):
        log.info(
            "store: run %d/%d: %d rows, store %.3fs, executemany %.3fs",
            i + 1,
            options.runs,
            rows,
            harvester,
            baseline,
        )
        timings.append((harvester, baseline))
    harvester_rps = median([rows / harvester for harvester, _ in timings])
    baseline_rps = median([rows / baseline for _, baseline in timings])
    figures = {
        "rows": rows,
        "tasks": len(results),
        "store_rows_per_s": round(harvester_rps),
        "executemany_rows_per_s": round(baseline_rps),
        "store_s": round(median([harvester for harvester, _ in timings]), 4),
        "executemany_s": round(median([baseline for _, baseline in timings]), 4),
        "commit_tasks": COMMIT_TASKS,
        "runs": options.runs,
    }
    return judged(
        "store",
        figures,
        (("store_rows_per_s",), ("executemany_rows_per_s",)),
        harvester_rps / baseline_rps,
    )
