"""Integration: run_sweep against the simulated gateway on loopback, real SQLite in tmp_path."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from harvester.model import RunStatus
from harvester.simulate import Gateway, GatewaySettings, GatewayStats
from harvester.simulate.app import make_app
from harvester.simulate.service import Service
from harvester.sweep.run import run_sweep

BOTH = ("short_trades", "short_interest")
Sweep = Callable[..., Awaitable[Any]]
Query = Callable[..., list[tuple[Any, ...]]]
Tasks = Callable[[Path], dict[tuple[str, str], tuple[Any, ...]]]


async def test_both_styles_and_duplicates_are_fetched_once(
    sweep_simulated: Sweep, query: Query, task_map: Tasks
) -> None:
    symbols = "AAPL.US\nus.aapl\n700.HK\n00700.HK\n HK.00700 \n# comment\n\nBRK.B.US\nUS.BRK.B\n"
    swept = await sweep_simulated(symbols)
    assert swept.summary.status is RunStatus.COMPLETED
    assert swept.summary.duplicates == 4
    assert swept.stats["by_endpoint"] == {"short_trades": 3, "short_interest": 3}
    db = swept.db
    assert {row[0] for row in query(db, "SELECT DISTINCT symbol FROM short_trades")} == {
        "AAPL.US",
        "700.HK",
        "BRK.B.US",
    }
    assert query(db, "SELECT COUNT(*) FROM short_trades WHERE symbol = '700.HK'") == [(20,)]
    assert query(db, "SELECT COUNT(*) FROM short_interest WHERE symbol = '700.HK'") == [(30,)]
    statuses = {status for status, *_ in task_map(db).values()}
    assert statuses == {"ok"}


async def test_rows_have_market_types_and_null_columns_of_the_other_market(
    sweep_simulated: Sweep, query: Query
) -> None:
    db = (await sweep_simulated("TSLA.US\n700.HK\n")).db
    us = query(
        db,
        "SELECT market, typeof(nasdaq_short_volume), typeof(total_volume), "
        "typeof(short_turnover), typeof(short_ratio), typeof(close) "
        "FROM short_trades WHERE symbol = 'TSLA.US' LIMIT 1",
    )
    assert us == [("US", "integer", "integer", "null", "real", "real")]
    hk = query(
        db,
        "SELECT market, typeof(nasdaq_short_volume), typeof(short_turnover), "
        "typeof(short_balance), typeof(total_turnover) "
        "FROM short_trades WHERE symbol = '700.HK' LIMIT 1",
    )
    assert hk == [("HK", "null", "real", "real", "real")]
    interest = query(
        db,
        "SELECT typeof(short_shares), typeof(short_percent), "
        "typeof(avg_cost), typeof(days_to_cover) "
        "FROM short_interest WHERE symbol = '700.HK' LIMIT 1",
    )
    assert interest == [("integer", "real", "real", "null")]
    # The gateway's newest HK trading day is a Monday: the UTC timestamp falls on Sunday.
    assert query(db, "SELECT MAX(trade_date) FROM short_trades WHERE symbol = '700.HK'") == [
        ("2026-05-18",)
    ]


async def test_minus_five_twice_then_success_takes_three_requests(
    sweep_simulated: Sweep, task_map: Tasks
) -> None:
    gw = GatewaySettings(scripted={"FLAKY.US": ("internal_error", "internal_error")})
    swept = await sweep_simulated("FLAKY.US\n", gw)
    assert swept.stats["by_endpoint"] == {"short_trades": 3, "short_interest": 3}
    tasks = task_map(swept.db)
    for endpoint in BOTH:
        status, attempts, rows, _, _ = tasks[("FLAKY.US", endpoint)]
        assert (status, attempts) == ("ok", 3)
        assert rows > 0
    assert swept.summary.failed == 0


# ~2 s: a cluster of -5s slows the pacer; test_fetch_retries.py fails a task after
# max_attempts in process, quickly.
@pytest.mark.slow
async def test_minus_five_forever_fails_after_max_attempts_others_unaffected(
    sweep_simulated: Sweep, task_map: Tasks
) -> None:
    gw = GatewaySettings(scripted={"DOWN.US": ("internal_error", "*")})
    swept = await sweep_simulated("AAPL.US\nDOWN.US\n700.HK\n", gw, sweep={"max_attempts": 4})
    summary = swept.summary
    assert swept.stats["by_endpoint"] == {"short_trades": 4 + 2, "short_interest": 4 + 2}
    tasks = task_map(swept.db)
    for endpoint in BOTH:
        assert tasks[("DOWN.US", endpoint)][:2] == ("failed", 4)
        assert tasks[("DOWN.US", endpoint)][4] == "-5"
        assert tasks[("AAPL.US", endpoint)][0] == "ok"
        assert tasks[("700.HK", endpoint)][0] == "ok"
    assert summary.failed == 2
    assert summary.status is RunStatus.COMPLETED  # all tasks final, some failed: exit code 3


async def test_permanent_codes_take_one_request_each(
    sweep_simulated: Sweep, task_map: Tasks
) -> None:
    gw = GatewaySettings(
        no_data=("NODATA.US",), unsupported=("UNSUP.US",), invalid_symbol=("BOGUS.US",)
    )
    swept = await sweep_simulated("NODATA.US\nUNSUP.US\nBOGUS.US\n", gw)
    summary = swept.summary
    assert swept.stats["by_endpoint"] == {"short_trades": 3, "short_interest": 3}
    tasks = task_map(swept.db)
    for endpoint in BOTH:
        assert tasks[("NODATA.US", endpoint)][:2] == ("no_data", 1)
        assert tasks[("UNSUP.US", endpoint)][:2] == ("unsupported", 1)
        assert tasks[("BOGUS.US", endpoint)][:2] == ("invalid", 1)
        assert tasks[("BOGUS.US", endpoint)][4] == "-7"
    assert summary.failed == 0


async def test_other_markets_are_unsupported_without_a_request(
    sweep_simulated: Sweep, task_map: Tasks
) -> None:
    swept = await sweep_simulated("600519.SH\nD05.SG\n")
    summary = swept.summary
    assert swept.stats["total"] == 0
    tasks = task_map(swept.db)
    assert {key: value[:2] for key, value in tasks.items()} == {
        (symbol, endpoint): ("unsupported", 0)
        for symbol in ("600519.SH", "D05.SG")
        for endpoint in BOTH
    }
    assert summary.status is RunStatus.COMPLETED


async def test_transport_faults_are_retried(sweep_simulated: Sweep, task_map: Tasks) -> None:
    gw = GatewaySettings(
        scripted={
            "RATE.US": ("http_429",),
            "PAGE.US": ("http_502_html", "http_502_html"),
            "CUT.US": ("truncated",),
            "HTML.US": ("html_200",),
            "RESET.US": ("reset",),
        }
    )
    swept = await sweep_simulated(
        "RATE.US\nPAGE.US\nCUT.US\nHTML.US\nRESET.US\n", gw, sweep={"retry_after_max": 0.01}
    )
    tasks = task_map(swept.db)
    expected = {"RATE.US": 2, "PAGE.US": 3, "CUT.US": 2, "HTML.US": 2, "RESET.US": 2}
    for symbol, attempts in expected.items():
        for endpoint in BOTH:
            assert tasks[(symbol, endpoint)][:2] == ("ok", attempts), (symbol, endpoint)
    assert swept.summary.failed == 0


async def test_html_502_forever_is_failed_with_its_code(
    sweep_simulated: Sweep, query: Query, task_map: Tasks
) -> None:
    gw = GatewaySettings(scripted={"PAGE.US": ("http_502_html", "*")})
    db = (await sweep_simulated("PAGE.US\n", gw, sweep={"max_attempts": 2})).db
    status, attempts, _, _, code = task_map(db)[("PAGE.US", "short_trades")]
    assert (status, attempts, code) == ("failed", 2, "http_502")
    message = query(db, "SELECT error_message FROM tasks LIMIT 1")[0][0]
    assert "502" in message


async def test_http_400_and_unknown_code_are_not_retried(
    sweep_simulated: Sweep, task_map: Tasks
) -> None:
    gw = GatewaySettings(scripted={"BAD.US": ("http_400", "*"), "ODD.US": ("unknown_code", "*")})
    tasks = task_map((await sweep_simulated("BAD.US\nODD.US\n", gw)).db)
    assert tasks[("BAD.US", "short_trades")][:2] == ("invalid", 1)
    assert tasks[("ODD.US", "short_trades")][:2] == ("failed", 1)
    assert tasks[("ODD.US", "short_trades")][4] == "-99"


@pytest.mark.slow  # 140 requests at 40/s: ~2 s; tests/upstream/test_rate_limit.py is quick
async def test_rate_limit_and_burst_hold_at_the_gateway(sweep_simulated: Sweep) -> None:
    rate, burst = 40.0, 1
    symbols = "".join(f"S{i}.US\n" for i in range(70))
    limit = int(rate) + burst
    gw = GatewaySettings(rate_limit={"short_trades": limit, "short_interest": limit})
    swept = await sweep_simulated(
        symbols, gw, endpoints={"rate": rate, "burst": burst, "concurrency": 4}
    )
    stats = swept.stats
    assert swept.summary.failed == 0
    assert stats["served_429"] == 0
    assert max(stats["max_per_second"].values()) <= limit
    assert stats["by_endpoint"] == {"short_trades": 70, "short_interest": 70}


async def test_token_is_sent_and_stored_nowhere(sweep_simulated: Sweep, query: Query) -> None:
    secret = "tok-9f8e7d6c5b4a"
    swept = await sweep_simulated("AAPL.US\n700.HK\n", GatewaySettings(token=secret), token=secret)
    summary, db = swept.summary, swept.db
    assert summary.failed == 0 and summary.stop_reason is None
    assert query(db, "SELECT COUNT(*) FROM tasks WHERE status = 'ok'") == [(4,)]
    assert secret.encode() not in db.read_bytes()


async def test_refused_credentials_stop_the_run_early(sweep_simulated: Sweep, query: Query) -> None:
    symbols = "".join(f"A{i}.US\n" for i in range(200))
    swept = await sweep_simulated(
        symbols,
        GatewaySettings(token="right"),
        token="wrong",
        sweep={"workers": 2},
        endpoints={"concurrency": 1},
    )
    summary, served = swept.summary, swept.stats["total"]
    assert summary.stop_reason is not None
    assert "credentials" in summary.stop_reason and "HARVESTER_TOKEN" in summary.stop_reason
    assert "wrong" not in summary.stop_reason
    assert summary.status is RunStatus.INTERRUPTED
    assert served <= 4  # the in-flight requests of the moment, not the 400 tasks
    db = swept.db
    assert query(db, "SELECT status FROM runs") == [("interrupted",)]
    assert query(db, "SELECT DISTINCT status FROM tasks") == [("pending",)]


@dataclass
class Held:
    """The simulated gateway behind a gate: once ``holding``, every answer it decides waits
    for ``release``, so a request the gate caught is surely in flight when the test acts."""

    url: str = ""
    stats: GatewayStats = field(default_factory=GatewayStats)
    holding: bool = False
    held: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
def held_gateway(
    serve_app: Callable[[web.Application], contextlib.AbstractAsyncContextManager[str]],
) -> Callable[[GatewaySettings], contextlib.AbstractAsyncContextManager[Held]]:
    """``async with held_gateway(settings) as gateway:`` the gate in front of the app."""

    @contextlib.asynccontextmanager
    async def serve(settings: GatewaySettings) -> AsyncIterator[Held]:
        held = Held()

        @web.middleware
        async def gate(request: web.Request, handler: Any) -> web.StreamResponse:
            response: web.StreamResponse = await handler(request)  # counted in stats already
            if held.holding:
                held.held += 1
                await held.release.wait()
            return response

        app = make_app(Service(settings, held.stats, time.monotonic))
        app.middlewares.append(gate)
        async with serve_app(app) as url:
            held.url = url
            try:
                yield held
            finally:
                held.release.set()

    return serve


async def test_resume_fetches_only_unfinished_tasks(
    watch: Any,
    make_settings: Callable[..., Any],
    query: Query,
    until: Callable[[Callable[[], object], float, str], Awaitable[None]],
    held_gateway: Callable[[GatewaySettings], contextlib.AbstractAsyncContextManager[Held]],
) -> None:
    symbols = "".join(f"R{i}.US\n" for i in range(60))
    async with held_gateway(GatewaySettings(latency=0.01)) as gateway:
        settings = make_settings(
            gateway.url, symbols, endpoints={"rate": 200.0, "concurrency": 2}, sweep={"workers": 2}
        )
        first = asyncio.create_task(run_sweep(settings, show=watch))
        await until(lambda: watch.done >= 20 or first.done(), 30, "20 tasks done")
        # Cut it off while the gateway holds an answer back, so a task cut off in flight,
        # checked below, is there whatever the timing.
        gateway.holding = True
        await until(lambda: gateway.held > 0 or first.done(), 30, "an answer held back")
        first.cancel()
        # The cancellation goes on (so a timeout around a sweep works), after the books close.
        with pytest.raises(asyncio.CancelledError):
            await first
        gateway.holding = False
        gateway.release.set()
        db = Path(settings.sweep.db)
        [(cut_id, cut_status)] = query(db, "SELECT run_id, status FROM runs")
        assert cut_status == "interrupted"
        pending = query(db, "SELECT COUNT(*) FROM tasks WHERE status = 'pending'")[0][0]
        done_before = query(db, "SELECT symbol, endpoint FROM tasks WHERE status = 'ok'")
        assert 0 < pending < 120 and done_before
        # A task cut off in flight keeps its attempt and stays pending: the record adds up
        # to what the gateway served, give or take what was waiting for its slot (4).
        attempts = query(db, "SELECT SUM(attempts) FROM tasks")[0][0]
        assert gateway.stats.total <= attempts <= gateway.stats.total + 4
        assert (
            query(db, "SELECT COUNT(*) FROM tasks WHERE status = 'pending' AND attempts > 0")[0][0]
            > 0
        )
        gateway.stats.reset()
        resumed = await run_sweep(settings, resume=True)
        stats = gateway.stats.as_dict()
    assert resumed.run_id == cut_id and resumed.resumed
    assert resumed.status is RunStatus.COMPLETED
    assert stats["total"] == pending  # no fault configured: one request per unfinished task
    assert query(db, "SELECT status, COUNT(*) FROM tasks GROUP BY status") == [("ok", 120)]
    assert query(db, "SELECT status, resumes FROM runs") == [("completed", 1)]
    assert query(db, "SELECT MAX(attempts) FROM tasks") == [(2,)]  # the cut-off ones


async def test_resume_with_nothing_unfinished_starts_a_new_run(
    make_settings: Callable[..., Any], query: Query
) -> None:
    async with Gateway() as gateway:
        settings = make_settings(gateway.url, "AAPL.US\n")
        first = await run_sweep(settings, resume=True)
        second = await run_sweep(settings, resume=True)
    assert first.run_id != second.run_id
    assert not second.resumed
    db = Path(settings.sweep.db)
    assert query(db, "SELECT COUNT(*) FROM runs WHERE status = 'completed'") == [(2,)]
    # Re-fetching the same days updates them in place.
    assert query(db, "SELECT COUNT(*), COUNT(DISTINCT trade_date) FROM short_trades") == [(20, 20)]
    assert query(db, "SELECT DISTINCT run_id FROM short_trades") == [(second.run_id,)]


async def test_a_timeout_around_a_sweep_raises_and_leaves_the_run_resumable(
    watch: Any, make_settings: Callable[..., Any], query: Query
) -> None:
    symbols = "".join(f"T{i}.US\n" for i in range(40))
    async with Gateway(GatewaySettings(latency=0.05)) as gateway:
        settings = make_settings(gateway.url, symbols, endpoints={"rate": 40.0})
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            # A sweep of 80 requests at 40/s per endpoint cannot finish in 0.5 s.
            async with asyncio.timeout(0.5):
                await run_sweep(settings, show=watch)
        assert time.monotonic() - started < 5  # the timeout ended it, not the work
        db = Path(settings.sweep.db)
        assert query(db, "SELECT status, stop_reason FROM runs") == [("interrupted", "cancelled")]
        # Everything that finished before the timeout was committed with its task.
        ok = query(db, "SELECT COUNT(*) FROM tasks WHERE status = 'ok'")[0][0]
        assert ok == watch.counts.statuses["ok"] > 0
        resumed = await run_sweep(settings, resume=True)
    assert resumed.status is RunStatus.COMPLETED and resumed.resumed
