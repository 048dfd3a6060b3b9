"""From outside: a value that does not parse never erases a good one already stored.

Three sweeps against an upstream whose close reads "N/A" in the second: the row is updated
but keeps its good close, and the warning is counted. Three processes: a slow test (the
store's and the adapters' own tests check the same in process).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

RunAsync = Callable[..., Awaitable[subprocess.CompletedProcess[str]]]
Query = Callable[..., list[tuple[Any, ...]]]
Write = Callable[[Path, str], Path]
Upstreams = Callable[..., contextlib.AbstractAsyncContextManager[Any]]


@pytest.mark.slow
async def test_a_value_that_does_not_parse_never_erases_a_stored_one(
    tmp_path: Path,
    run_async: RunAsync,
    write_file: Write,
    upstream: Upstreams,
    query: Query,
    no_data: dict[str, Any],
) -> None:
    good = {
        "timestamp": "2026-05-15T04:00:00Z",
        "nus_amount": "5748485",
        "ny_amount": "0",
        "total_amount": "15778974",
        "rate": "0.3643",
        "close": "300.230",
    }
    answers = [good, {**good, "nus_amount": "5748999", "close": "N/A"}, {**good, "close": "301.5"}]
    serving: dict[str, Any] = {}

    async def answer(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/short-trades"):
            return web.json_response({"code": 0, "message": "success", "data": [serving["now"]]})
        return web.json_response(no_data)

    config = write_file(tmp_path / "c.toml", "[sweep]\nbackoff_base = 0.0\n")
    symbols = write_file(tmp_path / "s.txt", "AAPL.US\n")
    db = tmp_path / "h.sqlite"
    stored, summaries = [], []
    async with upstream(answer) as seen:
        for record in answers:
            serving["now"] = record
            result = await run_async(
                "sweep",
                "--base-url",
                seen.url,
                "--config",
                str(config),
                "--symbols",
                str(symbols),
                "--db",
                str(db),
                "--json",
            )
            assert result.returncode == 0, result.stderr
            summaries.append(json.loads(result.stdout))
            stored.append(
                query(db, "SELECT trade_date, nasdaq_short_volume, close, run_id FROM short_trades")
            )
    runs = [summary["run_id"] for summary in summaries]
    assert stored == [
        [("2026-05-15", 5748485, 300.23, runs[0])],
        # Sweep 2 did update the row (its volume, its run), but kept the good close.
        [("2026-05-15", 5748999, 300.23, runs[1])],
        [("2026-05-15", 5748485, 301.5, runs[2])],
    ]
    assert [summary["warnings"] for summary in summaries] == [0, 1, 0]
    assert (
        query(db, "SELECT status FROM tasks WHERE endpoint = 'short_interest'")
        == [("no_data",)] * 3
    )
