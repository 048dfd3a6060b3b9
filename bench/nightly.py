"""The ``nightly`` case: what nightly sweeps cost next to full sweeps on the same days.

One gateway process publishes on schedules (``--schedules``, restatements at
its default rate) from ``START``. A first ``--full`` sweep fills each of two
databases, N and F; then, ``DAYS`` times, the gateway steps one business day
(``POST /_sim/today``) and a nightly sweep goes into N and a ``--full`` sweep
into F. Quantity A is the requests (and response body bytes) the gateway
served the nightly sweeps over those days, B the same for the full sweeps,
both from ``/_stats`` around each sweep; the ratio is A / B in requests.
``bytes_ratio`` and ``rows_differing`` (rows of N and F that differ in
symbol, market, date or a data column at the end) have marks of their own.

Limits are unthrottled and the gateway answers at once: what is measured is
requests and bytes, not time.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bench import universe
from bench.options import Options
from bench.result import CaseResult, judged
from bench.sweeper import (
    ENDPOINTS,
    UNTHROTTLED,
    UNTHROTTLED_GATEWAY,
    Sweeper,
    sweeping,
    unthrottled_timeout,
)
from harvester.sweep.run import table_specs

log = logging.getLogger(__name__)

NIGHTLY_SYMBOLS, NIGHTLY_SYMBOLS_QUICK = 5_000, 300
START = "2026-05-04"  # a Monday: the 10 business days after it see all four pairs publish
DAYS = 10


@dataclass(slots=True)
class Cost:
    """Requests the gateway served and the body bytes of its answers."""

    requests: int = 0
    bytes: int = 0

    def add(self, other: Cost) -> None:
        """Count ``other`` in."""
        self.requests += other.requests
        self.bytes += other.bytes


def _sweep(sweeper: Sweeper, symbols: Path, db: Path, *extra: str, timeout: float) -> Cost:
    """One sweep to its end, and what the gateway served it."""
    stats = sweeper.run(symbols, db, *extra, timeout=timeout).stats
    return Cost(stats.total, stats.response_bytes)


def rows_differing(first: Path, second: Path) -> int:
    """Rows (symbol and date) whose symbol, market, date or data columns differ between two
    databases, one missing on either side included; ``run_id`` and ``fetched_at`` are left out."""
    total = 0
    with contextlib.closing(sqlite3.connect(first)) as conn:
        conn.execute("ATTACH DATABASE ? AS other", (str(second),))
        for spec in table_specs().values():
            columns = ", ".join(("symbol", "market", "trade_date", *spec.columns))
            ours = f"SELECT {columns} FROM main.{spec.table}"
            theirs = f"SELECT {columns} FROM other.{spec.table}"
            total += conn.execute(
                f"SELECT COUNT(*) FROM (SELECT symbol, trade_date FROM ({ours} EXCEPT {theirs}) "
                f"UNION SELECT symbol, trade_date FROM ({theirs} EXCEPT {ours}))"
            ).fetchone()[0]
    return total


DataKey = tuple[str, str, str]  # (table, symbol, trade_date)


def data_rows(db: Path) -> dict[DataKey, tuple[object, ...]]:
    """Every data row of a database: its market and data columns by table, symbol and date,
    without the columns about fetching (what ``rows_differing`` compares, row by row)."""
    data: dict[DataKey, tuple[object, ...]] = {}
    with contextlib.closing(sqlite3.connect(db)) as conn:
        for spec in table_specs().values():
            columns = ", ".join(("symbol", "trade_date", "market", *spec.columns))
            for symbol, day, *values in conn.execute(f"SELECT {columns} FROM {spec.table}"):
                data[spec.table, symbol, day] = tuple(values)
    return data


def _stored(db: Path) -> tuple[int, dict[str, int]]:
    """Rows in the database, and its tasks by status after its first run."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = sum(
            conn.execute(f"SELECT COUNT(*) FROM {spec.table}").fetchone()[0]
            for spec in table_specs().values()
        )
        statuses = dict(
            conn.execute(
                "SELECT status, COUNT(*) FROM tasks WHERE run_id != (SELECT MIN(run_id) FROM runs) "
                "GROUP BY status ORDER BY status"
            )
        )
    return rows, statuses


def nightly(options: Options) -> CaseResult:
    """Requests and bytes of 10 nightly sweeps over those of full sweeps on the same days."""
    size = options.pick(NIGHTLY_SYMBOLS, NIGHTLY_SYMBOLS_QUICK)
    timeout = unthrottled_timeout(size * len(ENDPOINTS))
    night, whole, by_day, today = Cost(), Cost(), [], START
    flags = [*UNTHROTTLED_GATEWAY, "--schedules", "--date", START]
    with sweeping("nightly", flags, UNTHROTTLED) as sweeper:
        folder = sweeper.folder
        symbols = universe.write(folder / "symbols.txt", size)
        n_db, f_db = folder / "nightly.sqlite", folder / "full.sqlite"
        for db in (n_db, f_db):
            _sweep(sweeper, symbols, db, "--full", timeout=timeout)
        for _ in range(DAYS):
            today = sweeper.gateway.call("POST", "/_sim/today", {"advance": 1})["today"]
            tonight = _sweep(sweeper, symbols, n_db, timeout=timeout)
            everything = _sweep(sweeper, symbols, f_db, "--full", timeout=timeout)
            log.info(
                "nightly: %s: nightly %d requests, %d bytes; full %d requests, %d bytes",
                today,
                tonight.requests,
                tonight.bytes,
                everything.requests,
                everything.bytes,
            )
            night.add(tonight)
            whole.add(everything)
            by_day.append(tonight.requests)
        differing = rows_differing(n_db, f_db)
        rows, statuses = _stored(n_db)
    bytes_ratio = night.bytes / whole.bytes
    figures = {
        "symbols": size,
        "days": DAYS,
        "first_day": START,
        "last_day": today,
        "nightly_requests": night.requests,
        "full_requests": whole.requests,
        "nightly_bytes": night.bytes,
        "full_bytes": whole.bytes,
        "bytes_ratio": round(bytes_ratio, 4),
        "rows_differing": differing,
        "rows": rows,
        "nightly_requests_by_day": by_day,
        "nightly_tasks": statuses,
    }
    # The table's ratio is the requests'; the figures with marks of their own go beside A.
    shown = (
        ("nightly_requests", "nightly_bytes", "bytes_ratio", "rows_differing"),
        ("full_requests", "full_bytes"),
    )
    return judged("nightly", figures, shown, night.requests / whole.requests)
