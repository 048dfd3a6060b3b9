"""Integration: run_sweep against the simulated gateway on loopback, real SQLite in tmp_path."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import make_settings, query, task_map

from harvester.model import RunStatus
from harvester.report import Progress
from harvester.simulate import Gateway, GatewaySettings
from harvester.sweep import run_sweep

BOTH = ("short_trades", "short_interest")


async def test_both_styles_and_duplicates_are_fetched_once(tmp_path: Path) -> None:
    symbols = "AAPL.US\nus.aapl\n700.HK\n00700.HK\n HK.00700 \n# comment\n\nBRK.B.US\nUS.BRK.B\n"
    async with Gateway() as gateway:
        settings = make_settings(tmp_path, gateway.url, symbols)
        summary = await run_sweep(settings)
        stats = gateway.stats.as_dict()
    assert summary.status is RunStatus.COMPLETED
    assert summary.duplicates == 4
    assert stats["by_endpoint"] == {"short_trades": 3, "short_interest": 3}
    db = Path(settings.sweep.db)
    assert {row[0] for row in query(db, "SELECT DISTINCT symbol FROM short_trades")} == {
        "AAPL.US", "700.HK", "BRK.B.US"}
    assert query(db, "SELECT COUNT(*) FROM short_trades WHERE symbol = '700.HK'") == [(20,)]
    assert query(db, "SELECT COUNT(*) FROM short_interest WHERE symbol = '700.HK'") == [(30,)]
    statuses = {status for status, *_ in task_map(db).values()}
    assert statuses == {"ok"}


async def test_rows_have_market_types_and_null_columns_of_the_other_market(
    tmp_path: Path,
) -> None:
    async with Gateway() as gateway:
        settings = make_settings(tmp_path, gateway.url, "TSLA.US\n700.HK\n")
        await run_sweep(settings)
    db = Path(settings.sweep.db)
    us = query(db, "SELECT market, typeof(nasdaq_short_volume), typeof(total_volume), "
                   "typeof(short_turnover), typeof(short_ratio), typeof(close) "
                   "FROM short_trades WHERE symbol = 'TSLA.US' LIMIT 1")
    assert us == [("US", "integer", "integer", "null", "real", "real")]
    hk = query(db, "SELECT market, typeof(nasdaq_short_volume), typeof(short_turnover), "
                   "typeof(short_balance), typeof(total_turnover) "
                   "FROM short_trades WHERE symbol = '700.HK' LIMIT 1")
    assert hk == [("HK", "null", "real", "real", "real")]
    interest = query(db, "SELECT typeof(short_shares), typeof(short_percent), "
                         "typeof(avg_cost), typeof(days_to_cover) "
                         "FROM short_interest WHERE symbol = '700.HK' LIMIT 1")
    assert interest == [("integer", "real", "real", "null")]
    # The gateway's newest HK trading day is a Monday: the UTC timestamp falls on Sunday.
    assert query(db, "SELECT MAX(trade_date) FROM short_trades WHERE symbol = '700.HK'") == [
        ("2026-05-18",)]


async def test_minus_five_twice_then_success_takes_three_requests(tmp_path: Path) -> None:
    gw = GatewaySettings(scripted={"FLAKY.US": ("internal_error", "internal_error")})
    async with Gateway(gw) as gateway:
        settings = make_settings(tmp_path, gateway.url, "FLAKY.US\n")
        summary = await run_sweep(settings)
        stats = gateway.stats.as_dict()
    assert stats["by_endpoint"] == {"short_trades": 3, "short_interest": 3}
    tasks = task_map(Path(settings.sweep.db))
    for endpoint in BOTH:
        status, attempts, rows, _, _ = tasks[("FLAKY.US", endpoint)]
        assert (status, attempts) == ("ok", 3)
        assert rows > 0
    assert summary.failed == 0


async def test_minus_five_forever_fails_after_max_attempts_others_unaffected(
    tmp_path: Path,
) -> None:
    gw = GatewaySettings(scripted={"DOWN.US": ("internal_error", "*")})
    async with Gateway(gw) as gateway:
        settings = make_settings(tmp_path, gateway.url, "AAPL.US\nDOWN.US\n700.HK\n",
                                 sweep={"max_attempts": 4})
        summary = await run_sweep(settings)
        stats = gateway.stats.as_dict()
    assert stats["by_endpoint"] == {"short_trades": 4 + 2, "short_interest": 4 + 2}
    tasks = task_map(Path(settings.sweep.db))
    for endpoint in BOTH:
        assert tasks[("DOWN.US", endpoint)][:2] == ("failed", 4)
        assert tasks[("DOWN.US", endpoint)][4] == "-5"
        assert tasks[("AAPL.US", endpoint)][0] == "ok"
        assert tasks[("700.HK", endpoint)][0] == "ok"
    assert summary.failed == 2
    assert summary.status is RunStatus.COMPLETED  # all tasks final, some failed: exit code 3


async def test_permanent_codes_take_one_request_each(tmp_path: Path) -> None:
    gw = GatewaySettings(no_data=("NODATA.US",), unsupported=("UNSUP.US",),
                         invalid_symbol=("BOGUS.US",))
    async with Gateway(gw) as gateway:
        settings = make_settings(tmp_path, gateway.url, "NODATA.US\nUNSUP.US\nBOGUS.US\n")
        summary = await run_sweep(settings)
        stats = gateway.stats.as_dict()
    assert stats["by_endpoint"] == {"short_trades": 3, "short_interest": 3}
    tasks = task_map(Path(settings.sweep.db))
    for endpoint in BOTH:
        assert tasks[("NODATA.US", endpoint)][:2] == ("no_data", 1)
        assert tasks[("UNSUP.US", endpoint)][:2] == ("unsupported", 1)
        assert tasks[("BOGUS.US", endpoint)][:2] == ("invalid", 1)
        assert tasks[("BOGUS.US", endpoint)][4] == "-7"
    assert summary.failed == 0


async def test_other_markets_are_unsupported_without_a_request(tmp_path: Path) -> None:
    async with Gateway() as gateway:
        settings = make_settings(tmp_path, gateway.url, "600519.SH\nD05.SG\n")
        summary = await run_sweep(settings)
        assert gateway.stats.total == 0
    tasks = task_map(Path(settings.sweep.db))
    assert {key: value[:2] for key, value in tasks.items()} == {
        (symbol, endpoint): ("unsupported", 0)
        for symbol in ("600519.SH", "D05.SG") for endpoint in BOTH
    }
    assert summary.status is RunStatus.COMPLETED


async def test_transport_faults_are_retried(tmp_path: Path) -> None:
    gw = GatewaySettings(scripted={
        "RATE.US": ("http_429",),
        "PAGE.US": ("http_502_html", "http_502_html"),
        "CUT.US": ("truncated",),
        "HTML.US": ("html_200",),
        "RESET.US": ("reset",),
    })
    async with Gateway(gw) as gateway:
        settings = make_settings(tmp_path, gateway.url,
                                 "RATE.US\nPAGE.US\nCUT.US\nHTML.US\nRESET.US\n",
                                 sweep={"retry_after_max": 0.01})
        summary = await run_sweep(settings)
    tasks = task_map(Path(settings.sweep.db))
    expected = {"RATE.US": 2, "PAGE.US": 3, "CUT.US": 2, "HTML.US": 2, "RESET.US": 2}
    for symbol, attempts in expected.items():
        for endpoint in BOTH:
            assert tasks[(symbol, endpoint)][:2] == ("ok", attempts), (symbol, endpoint)
    assert summary.failed == 0


async def test_html_502_forever_is_failed_with_its_code(tmp_path: Path) -> None:
    gw = GatewaySettings(scripted={"PAGE.US": ("http_502_html", "*")})
    async with Gateway(gw) as gateway:
        settings = make_settings(tmp_path, gateway.url, "PAGE.US\n", sweep={"max_attempts": 2})
        await run_sweep(settings)
    status, attempts, _, _, code = task_map(Path(settings.sweep.db))[("PAGE.US", "short_trades")]
    assert (status, attempts, code) == ("failed", 2, "http_502")
    message = query(Path(settings.sweep.db), "SELECT error_message FROM tasks LIMIT 1")[0][0]
    assert "502" in message


async def test_http_400_and_unknown_code_are_not_retried(tmp_path: Path) -> None:
    gw = GatewaySettings(scripted={"BAD.US": ("http_400", "*"), "ODD.US": ("unknown_code", "*")})
    async with Gateway(gw) as gateway:
        settings = make_settings(tmp_path, gateway.url, "BAD.US\nODD.US\n")
        await run_sweep(settings)
    tasks = task_map(Path(settings.sweep.db))
    assert tasks[("BAD.US", "short_trades")][:2] == ("invalid", 1)
    assert tasks[("ODD.US", "short_trades")][:2] == ("failed", 1)
    assert tasks[("ODD.US", "short_trades")][4] == "-99"


async def test_rate_limit_and_burst_hold_at_the_gateway(tmp_path: Path) -> None:
    rate, burst = 40.0, 1
    symbols = "".join(f"S{i}.US\n" for i in range(70))
    limit = int(rate) + burst
    gw = GatewaySettings(rate_limit={"short_trades": limit, "short_interest": limit})
    async with Gateway(gw) as gateway:
        settings = make_settings(tmp_path, gateway.url, symbols,
                                 endpoints={"rate": rate, "burst": burst, "concurrency": 4})
        summary = await run_sweep(settings)
        stats = gateway.stats.as_dict()
    assert summary.failed == 0
    assert stats["served_429"] == 0
    assert max(stats["max_per_second"].values()) <= limit
    assert stats["by_endpoint"] == {"short_trades": 70, "short_interest": 70}


async def test_token_is_sent_and_stored_nowhere(tmp_path: Path) -> None:
    secret = "tok-9f8e7d6c5b4a"
    async with Gateway(GatewaySettings(token=secret)) as gateway:
        settings = make_settings(tmp_path, gateway.url, "AAPL.US\n700.HK\n")
        summary = await run_sweep(settings, token=secret)
    assert summary.failed == 0 and summary.stop_reason is None
    db = Path(settings.sweep.db)
    assert query(db, "SELECT COUNT(*) FROM tasks WHERE status = 'ok'") == [(4,)]
    assert secret.encode() not in db.read_bytes()


async def test_refused_credentials_stop_the_run_early(tmp_path: Path) -> None:
    symbols = "".join(f"A{i}.US\n" for i in range(200))
    async with Gateway(GatewaySettings(token="right")) as gateway:
        settings = make_settings(tmp_path, gateway.url, symbols, sweep={"workers": 2},
                                 endpoints={"concurrency": 1})
        summary = await run_sweep(settings, token="wrong")
        served = gateway.stats.total
    assert summary.stop_reason is not None
    assert "credentials" in summary.stop_reason and "HARVESTER_TOKEN" in summary.stop_reason
    assert "wrong" not in summary.stop_reason
    assert summary.status is RunStatus.INTERRUPTED
    assert served <= 4  # the in-flight requests of the moment, not the 400 tasks
    db = Path(settings.sweep.db)
    assert query(db, "SELECT status FROM runs") == [("interrupted",)]
    assert query(db, "SELECT DISTINCT status FROM tasks") == [("pending",)]


async def test_resume_fetches_only_unfinished_tasks(tmp_path: Path) -> None:
    symbols = "".join(f"R{i}.US\n" for i in range(60))
    async with Gateway(GatewaySettings(latency=0.01)) as gateway:
        settings = make_settings(tmp_path, gateway.url, symbols,
                                 endpoints={"rate": 200.0, "concurrency": 2},
                                 sweep={"workers": 2})
        progress = Progress()
        first = asyncio.create_task(run_sweep(settings, progress=progress))
        for _ in range(500):
            if progress.done >= 20:
                break
            await asyncio.sleep(0.01)
        first.cancel()
        cut = await first
        assert cut.interrupted and cut.status is RunStatus.INTERRUPTED
        db = Path(settings.sweep.db)
        pending = query(db, "SELECT COUNT(*) FROM tasks WHERE status = 'pending'")[0][0]
        done_before = query(db, "SELECT symbol, endpoint FROM tasks WHERE status = 'ok'")
        assert 0 < pending < 120 and done_before
        # A task cut off in flight keeps its attempt and stays pending: the record adds up
        # to what the gateway served, give or take what was waiting for its slot (4).
        attempts = query(db, "SELECT SUM(attempts) FROM tasks")[0][0]
        assert gateway.stats.total <= attempts <= gateway.stats.total + 4
        assert query(db, "SELECT COUNT(*) FROM tasks WHERE status = 'pending' "
                         "AND attempts > 0")[0][0] > 0
        gateway.stats.reset()
        resumed = await run_sweep(settings, resume=True)
        stats = gateway.stats.as_dict()
    assert resumed.run_id == cut.run_id and resumed.resumed
    assert resumed.status is RunStatus.COMPLETED
    assert stats["total"] == pending  # no fault configured: one request per unfinished task
    assert query(db, "SELECT status, COUNT(*) FROM tasks GROUP BY status") == [("ok", 120)]
    assert query(db, "SELECT status, resumes FROM runs") == [("completed", 1)]
    assert query(db, "SELECT MAX(attempts) FROM tasks") == [(2,)]  # the cut-off ones


async def test_resume_with_nothing_unfinished_starts_a_new_run(tmp_path: Path) -> None:
    async with Gateway() as gateway:
        settings = make_settings(tmp_path, gateway.url, "AAPL.US\n")
        first = await run_sweep(settings, resume=True)
        second = await run_sweep(settings, resume=True)
    assert first.run_id != second.run_id
    assert not second.resumed
    db = Path(settings.sweep.db)
    assert query(db, "SELECT COUNT(*) FROM runs WHERE status = 'completed'") == [(2,)]
    # Re-fetching the same days updates them in place.
    assert query(db, "SELECT COUNT(*), COUNT(DISTINCT trade_date) FROM short_trades") == [(20, 20)]
    assert query(db, "SELECT DISTINCT run_id FROM short_trades") == [(second.run_id,)]
