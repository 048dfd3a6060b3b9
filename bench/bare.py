"""The bare loop the ``overhead`` case measures the harvester against: fetch, parse, upsert.

``python -m bench.bare URL SYMBOLS_FILE CONCURRENCY --db PATH [--config F]``:
one aiohttp session, ``CONCURRENCY`` workers pulling from one list of every
(symbol, endpoint) request — the very URLs, query and headers the harvester
sends — each doing GET, read the body, and parse it into rows with the
harvester's own adapter (which runs ``orjson.loads``). The rows are upserted
with stdlib ``sqlite3``, synchronously on the loop thread, by the harvester's
own upsert statements into a file the harvester's ``Store`` created (its
schema, its PRAGMAs): one ``BEGIN ... COMMIT`` of ``executemany`` per batch,
a batch being every row that arrived since the last commit, committed every
``COMMIT_INTERVAL`` s and at the end (the bound the harvester's writer keeps).
Nothing else: no limiter, no retries, no task ledger, no writer task.

``--fetch-only`` (the old baseline, reported as information): GET, read the
body, ``orjson.loads``; no rows, no database.

Prints one JSON line: ``{"requests", "errors", "rows", "commits", "elapsed"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from yarl import URL

from bench.storage import stdlib_connection
from bench.targets import COMMIT_INTERVAL
from harvester.errors import FetchError
from harvester.model import Symbol
from harvester.settings.config import Settings, load_settings
from harvester.settings.symbols import read_symbols
from harvester.store.store import now
from harvester.store.upserts import Picker
from harvester.sweep.run import table_specs
from harvester.upstream.endpoints import ADAPTERS, Adapter

# The harvester's client sends these (see harvester/upstream/client.py); no token in the bench.
HEADERS = {"Accept": "application/json", "User-Agent": "harvester"}
TIMEOUT = 10.0
RUN_ID = "bench-bare"  # the run_id column of every row the bare loop writes


@dataclass(frozen=True, slots=True)
class Request:
    """One request of the sweep: its URL, and the adapter and symbol its answer is parsed for."""

    url: URL
    adapter: Adapter
    symbol: Symbol


# What a worker does with an answer: (request, status, content type, headers, body) -> good.
Handler = Callable[[Request, int, str, Mapping[str, str], bytes], bool]


def build_requests(base_url: str, symbols: Path, settings: Settings) -> list[Request]:
    """Every request of a sweep of ``symbols``, built the way the adapters build them."""
    base = base_url.rstrip("/")
    requests = []
    for line in read_symbols(symbols):
        if line.symbol is None or not line.symbol.supported:
            continue
        for endpoint in settings.endpoints:
            adapter = ADAPTERS[endpoint.name]
            spec = adapter.request(line.symbol, endpoint.path, endpoint.count)
            url = URL(base + spec.path, encoded=True).with_query(list(spec.query))
            requests.append(Request(url, adapter, line.symbol))
    return requests


class Batch:
    """The rows that arrived since the last commit, and the commit: one transaction.

    Rows are grouped by endpoint and market and narrowed as the harvester's
    store narrows them (harvester/store/store.py ``write_results``), so each group
    is one ``executemany`` of the very upsert the harvester runs.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._specs = table_specs()
        self._upserts: dict[tuple[str, str], tuple[str, Picker]] = {}
        self._pending: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        self.rows = 0  #: rows written
        self.commits = 0  #: transactions committed

    def __repr__(self) -> str:
        return f"<Batch pending={len(self._pending)} rows={self.rows} commits={self.commits}>"

    def add(self, endpoint: str, market: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """Keep an answer's rows for the next commit."""
        if rows:
            self._pending.setdefault((endpoint, market), []).extend(rows)

    def commit(self) -> None:
        """Upsert every row kept since the last commit in one transaction; nothing if none."""
        pending, self._pending = self._pending, {}
        if not pending:
            return
        suffix = (RUN_ID, now())
        # An error ends the process, and SQLite drops a transaction that never committed.
        self._conn.execute("BEGIN IMMEDIATE")
        for (endpoint, market), rows in pending.items():
            sql, pick = self._upsert(endpoint, market)
            self._conn.executemany(sql, [pick(row) + suffix for row in rows])
            self.rows += len(rows)
        self._conn.execute("COMMIT")
        self.commits += 1

    def _upsert(self, endpoint: str, market: str) -> tuple[str, Picker]:
        found = self._upserts.get((endpoint, market))
        if found is None:
            found = self._upserts[endpoint, market] = self._specs[endpoint].narrowing(market)
        return found


def storing(batch: Batch, retry_unknown: bool) -> Handler:
    """The storing handler: the adapter parses the answer into rows, kept for the next commit."""

    def handle(
        request: Request, status: int, content_type: str, headers: Mapping[str, str], body: bytes
    ) -> bool:
        try:
            parsed = request.adapter.parse(
                request.symbol, status, content_type, headers, body, retry_unknown=retry_unknown
            )
        except FetchError:
            return False
        batch.add(request.adapter.name, request.symbol.market, parsed.rows)
        return True

    return handle


def fetch_only(
    request: Request, status: int, content_type: str, headers: Mapping[str, str], body: bytes
) -> bool:
    """The fetch-only handler: decode the JSON and drop it."""
    orjson.loads(body)
    return status == 200


async def _flush_every(interval: float, flush: Callable[[], None]) -> None:
    while True:
        await asyncio.sleep(interval)
        flush()  # synchronous: the loop waits for the commit, as a bare script would


async def sweep(
    requests: Sequence[Request],
    concurrency: int,
    handle: Handler,
    *,
    flush: Callable[[], None] = lambda: None,
) -> tuple[int, int, float]:
    """Send every request with ``concurrency`` workers; (requests, errors, seconds).

    ``flush`` runs every ``COMMIT_INTERVAL`` seconds and once more at the end, inside
    the time measured.
    """
    pending: Iterator[Request] = iter(requests)
    done = errors = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done, errors
        for request in pending:  # one shared iterator: each request goes to exactly one worker
            async with session.get(request.url, allow_redirects=False) as answer:
                body = await answer.read()
                status, content_type, headers = answer.status, answer.content_type, answer.headers
            good = handle(request, status, content_type, headers, body)
            done += 1
            errors += not good

    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0)
    async with aiohttp.ClientSession(
        headers=HEADERS, connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT)
    ) as session:
        started = time.perf_counter()
        flusher = asyncio.create_task(_flush_every(COMMIT_INTERVAL, flush))
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(concurrency):
                    group.create_task(worker(session))
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher  # a commit that failed raises here
        flush()
        elapsed = time.perf_counter() - started
    return done, errors, elapsed


def build_parser() -> argparse.ArgumentParser:
    """The bare loop's command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.bare", description=__doc__.split("\n")[0]
    )
    parser.add_argument("url", help="gateway root URL")
    parser.add_argument("symbols", type=Path, help="symbols file")
    parser.add_argument("concurrency", type=int, help="requests in flight at once")
    parser.add_argument(
        "--config", type=Path, help="harvester config giving the endpoints' paths and counts"
    )
    parser.add_argument("--db", type=Path, help="the database file to create and fill")
    parser.add_argument(
        "--fetch-only",
        action="store_true",
        help="only GET, read and orjson.loads each answer: no rows, no --db",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bare loop and print its figures as one JSON line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.db is None) != args.fetch_only:
        parser.error("give --db PATH, or --fetch-only (and no --db)")
    settings = load_settings(args.config, environ={})
    requests = build_requests(args.url, args.symbols, settings)
    batch = None
    if args.fetch_only:
        done, errors, elapsed = asyncio.run(sweep(requests, args.concurrency, fetch_only))
    else:
        conn = stdlib_connection(args.db)
        try:
            batch = Batch(conn)
            handle = storing(batch, settings.sweep.retry_unknown)
            done, errors, elapsed = asyncio.run(
                sweep(requests, args.concurrency, handle, flush=batch.commit)
            )
        finally:
            conn.close()
    sys.stdout.write(
        orjson.dumps(
            {
                "requests": done,
                "errors": errors,
                "rows": batch.rows if batch else 0,
                "commits": batch.commits if batch else 0,
                "elapsed": round(elapsed, 4),
            }
        ).decode()
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
