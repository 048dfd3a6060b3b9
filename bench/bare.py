"""The bare loop the ``overhead`` case measures the harvester against.

``python -m bench.bare URL SYMBOLS_FILE CONCURRENCY [--config F]``: one aiohttp
session, ``CONCURRENCY`` workers pulling from one list of every (symbol,
endpoint) URL — the very URLs, query and headers the harvester sends — each
doing GET, read the body, ``orjson.loads``, and nothing else: no limiter,
no retries, no parsing into rows, no database. Prints one JSON line:
``{"requests": N, "errors": N, "elapsed": S}``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import aiohttp
import orjson
from yarl import URL

from harvester.config import load_settings
from harvester.endpoints import ADAPTERS
from harvester.symbols import read_symbols

# The harvester's client sends these (see harvester/client.py); no token in the bench.
HEADERS = {"Accept": "application/json", "User-Agent": "harvester"}
TIMEOUT = 10.0


def build_urls(base_url: str, symbols: Path, config: Path | None) -> list[URL]:
    """Every request of a sweep of ``symbols``, built the way the adapters build them."""
    settings = load_settings(config, environ={})
    base = base_url.rstrip("/")
    urls = []
    for line in read_symbols(symbols):
        if line.symbol is None or not line.symbol.supported:
            continue
        for endpoint in settings.endpoints:
            spec = ADAPTERS[endpoint.name].request(line.symbol, endpoint)
            urls.append(URL(base + spec.path, encoded=True).with_query(list(spec.query)))
    return urls


async def sweep(urls: Sequence[URL], concurrency: int) -> tuple[int, int, float]:
    """Fetch every URL with ``concurrency`` workers; (requests, errors, seconds)."""
    pending: Iterator[URL] = iter(urls)
    done = errors = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done, errors
        for url in pending:  # one shared iterator: each URL goes to exactly one worker
            async with session.get(url, allow_redirects=False) as answer:
                body = await answer.read()
                status = answer.status
            orjson.loads(body)
            done += 1
            errors += status != 200

    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0)
    async with aiohttp.ClientSession(headers=HEADERS, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session:
        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(worker(session))
        elapsed = time.perf_counter() - started
    return done, errors, elapsed


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bare loop and print its figures as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.bare",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("url", help="gateway root URL")
    parser.add_argument("symbols", type=Path, help="symbols file")
    parser.add_argument("concurrency", type=int, help="requests in flight at once")
    parser.add_argument("--config", type=Path,
                        help="harvester config giving the endpoints' paths and counts")
    args = parser.parse_args(argv)
    urls = build_urls(args.url, args.symbols, args.config)
    done, errors, elapsed = asyncio.run(sweep(urls, args.concurrency))
    sys.stdout.write(orjson.dumps({"requests": done, "errors": errors,
                                   "elapsed": round(elapsed, 4)}).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
