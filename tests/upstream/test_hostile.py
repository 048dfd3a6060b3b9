"""Hostile upstream and bad input, each against a real loopback server: a known status, no crash.

A crafted aiohttp server answers each symbol with its own misbehaviour, so one
sweep shows that the bad symbol ends in a known status with its reason stored
while the good one beside it is fetched and stored as usual.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from harvester.model import RunStatus
from harvester.simulate import Gateway, GatewaySettings
from harvester.sweep.fetch import OVERLOAD_TRIES
from harvester.sweep.ledger import Universe
from harvester.sweep.run import run_sweep

Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]
Query = Callable[..., list[tuple[Any, ...]]]
Tasks = Callable[[Path], dict[tuple[str, str], tuple[Any, ...]]]
Failure = Callable[[Path, str], tuple[str, int, str, str]]
GOOD_US = {
    "timestamp": "2026-05-15T04:00:00Z",
    "nus_amount": "5748485",
    "ny_amount": "0",
    "total_amount": "15778974",
    "rate": "0.3643",
    "close": "300.230",
}
HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


def json_answer(document: Any) -> Answer:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(document), content_type="application/json")

    return answer


def raw_answer(body: bytes, *, status: int = 200, content_type: str = "application/json") -> Answer:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, status=status, content_type=content_type)

    return answer


async def trickle(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    for byte in orjson.dumps({"code": 0, "message": "success", "data": [GOOD_US]})[:40]:
        await response.write(bytes([byte]))
        # Genuinely about time: a byte every 50 ms keeps each read busy, so only the
        # whole-request timeout (0.5 s, of the 2 s this takes) can end it.
        await asyncio.sleep(0.05)
    return response


class Streamer:
    """Streams a huge body in chunks and records how much of it was ever written."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.written = 0

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        chunk = b" " * 65_536
        try:
            while self.written < self.total:
                await response.write(chunk)
                self.written += len(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the client hung up, as it should
        return response


def crafted(trades: dict[str, Answer]) -> TestServer:
    """Short trades answered per symbol by ``trades`` (else a good record); no short interest."""

    async def handle(request: web.Request) -> web.StreamResponse:
        symbol = request.match_info["symbol"]
        if request.match_info["kind"] == "short-interest":
            empty = {"ret_code": 0, "ret_msg": "ok", "data": {"items": []}}
            return await json_answer(empty)(request)
        good = json_answer({"code": 0, "message": "success", "data": [GOOD_US]})
        return await trades.get(symbol, good)(request)

    app = web.Application()
    app.router.add_get("/v1/quote/{symbol}/short-selling/{kind}", handle)
    return TestServer(app, host="127.0.0.1")


async def sweep_served(
    make_settings: Callable[..., Any], server: TestServer, symbols: str, **settings: Any
) -> Path:
    """One sweep against an aiohttp test server; returns the database file."""
    ran = make_settings(str(server.make_url("")).rstrip("/"), symbols, **settings)
    summary = await run_sweep(ran)
    assert summary.status is RunStatus.COMPLETED
    return Path(ran.sweep.db)


@pytest.fixture
def sweep_against(
    make_settings: Callable[..., Any], query: Query, task_map: Tasks
) -> Callable[..., Awaitable[Path]]:
    """``await sweep_against(trades, **sweep)``: the trades' symbols and GOOD.US, swept."""

    async def sweep(trades: dict[str, Answer], **sweep: Any) -> Path:
        symbols = "".join(f"{symbol}\n" for symbol in trades) + "GOOD.US\n"
        async with crafted(trades) as server:
            db = await sweep_served(
                make_settings,
                server,
                symbols,
                sweep={"max_attempts": 2, **sweep},
                gateway={"timeout": 0.5, "max_body_bytes": 1_000_000},
            )
        assert task_map(db)[("GOOD.US", "short_trades")][:3] == ("ok", 1, 1)
        assert query(db, "SELECT COUNT(*) FROM short_trades WHERE symbol = 'GOOD.US'") == [(1,)]
        return db

    return sweep


@pytest.fixture
def failure(query: Query) -> Failure:
    """``failure(db, symbol)``: the symbol's short_trades task (status, attempts, code, message)."""

    def task(db: Path, symbol: str) -> tuple[str, int, str, str]:
        rows = query(
            db,
            "SELECT status, attempts, error_code, error_message FROM tasks "
            "WHERE symbol = ? AND endpoint = 'short_trades'",
            (symbol,),
        )
        assert len(rows) == 1
        return rows[0]

    return task


def kinds_server(handle: Answer) -> TestServer:
    """A test server answering both endpoints with ``handle`` (it reads ``kind``)."""
    app = web.Application()
    app.router.add_get("/v1/quote/{symbol}/short-selling/{kind}", handle)
    return TestServer(app, host="127.0.0.1")


async def test_broken_bodies_fail_after_their_retries_with_the_reason_kept(
    sweep_against: Callable[..., Awaitable[Path]], failure: Failure
) -> None:
    stream = Streamer(64 * 1024 * 1024)
    db = await sweep_against(
        {
            "PAGE.US": raw_answer(HTML, status=502, content_type="text/html"),
            "HTML.US": raw_answer(HTML, content_type="text/html"),
            "CUT.US": raw_answer(b'{"code": 0, "message": "success", "data": [{"timest'),
            "SLOW.US": trickle,
            "HUGE.US": stream,
            "BIG.US": raw_answer(b" " * 2_000_000),
        }
    )
    assert failure(db, "PAGE.US")[:3] == ("failed", 2, "http_502")
    assert failure(db, "HTML.US")[:3] == ("failed", 2, "malformed_body")
    assert "text/html" in failure(db, "HTML.US")[3]
    assert failure(db, "CUT.US")[:3] == ("failed", 2, "malformed_body")
    assert failure(db, "SLOW.US")[:3] == ("failed", 2, "timeout")
    assert failure(db, "HUGE.US")[:3] == ("failed", 1, "body_too_large")
    assert failure(db, "BIG.US")[:3] == ("failed", 1, "body_too_large")
    assert stream.written < 16 * 1024 * 1024  # the client hung up long before the end


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([], "envelope"),
        (None, "envelope"),
        ("success", "envelope"),
        ({"message": "success", "data": []}, "envelope"),
        ({"code": "zero", "data": []}, "not a number"),
        ({"code": 0, "data": {"items": []}}, "not a list"),
        ({"code": 0, "data": "rows"}, "not a list"),
    ],
)
async def test_json_that_is_not_the_envelope(
    sweep_against: Callable[..., Awaitable[Path]], failure: Failure, document: Any, reason: str
) -> None:
    db = await sweep_against({"ODD.US": json_answer(document)})
    status, attempts, code, message = failure(db, "ODD.US")
    assert (status, attempts, code) == ("failed", 2, "malformed_body")
    assert reason in message


async def test_short_interest_items_of_the_wrong_type(
    make_settings: Callable[..., Any], task_map: Tasks
) -> None:
    async def handle(request: web.Request) -> web.Response:
        if request.match_info["kind"] == "short-interest":
            return web.json_response({"ret_code": 0, "data": {"items": {"a": 1}}})
        return web.json_response({"code": 0, "data": []})

    async with kinds_server(handle) as server:
        db = await sweep_served(make_settings, server, "X.US\n", sweep={"max_attempts": 1})
    tasks = task_map(db)
    assert tasks[("X.US", "short_interest")][::4] == ("failed", "malformed_body")
    assert tasks[("X.US", "short_trades")][0] == "no_data"


async def test_junk_records_keep_what_is_valid(
    sweep_against: Callable[..., Awaitable[Path]], query: Query, task_map: Tasks
) -> None:
    junk = [
        {
            **GOOD_US,
            "timestamp": "2026-05-14T04:00:00Z",
            "close": None,
            "rate": "",
            "ny_amount": "N/A",
            "nus_amount": "NaN",
            "total_amount": "1e309",
            "extra": "field",
        },
        {
            **GOOD_US,
            "timestamp": "2026-05-13T04:00:00Z",
            "close": "-5",
            "rate": "x" * 10_000,
            "nus_amount": "-100",
        },
        {"timestamp": "2026-05-12T04:00:00Z"},  # every value missing
        {**GOOD_US, "timestamp": "not a time"},
        {**GOOD_US, "timestamp": "1970-01-01T00:00:00Z"},
        {**GOOD_US, "timestamp": "9999-12-31T23:59:59Z"},
        {**GOOD_US, "timestamp": "2026-05-14T04:00:00Z", "close": "1.0"},  # same day again
        "not a record",
        None,
    ]
    db = await sweep_against(
        {"JUNK.US": json_answer({"code": 0, "message": "success", "data": junk})}
    )
    rows = query(
        db,
        "SELECT trade_date, nasdaq_short_volume, nyse_short_volume, total_volume, "
        "short_ratio, close FROM short_trades WHERE symbol = 'JUNK.US' "
        "ORDER BY trade_date",
    )
    assert rows == [
        ("2026-05-12", None, None, None, None, None),
        ("2026-05-13", None, 0, 15778974, None, None),
        ("2026-05-14", None, None, None, None, None),
    ]
    status, attempts, stored, warnings, _ = task_map(db)[("JUNK.US", "short_trades")]
    # 5 + 3 + 5 NULLs, 3 records without a usable date, 1 repeated day, 2 non-records
    assert (status, attempts, stored, warnings) == ("ok", 1, 3, 5 + 3 + 5 + 3 + 1 + 2)


async def test_short_interest_dates_that_disagree(
    make_settings: Callable[..., Any], query: Query
) -> None:
    items = [
        {"timestamp": 1778774400000, "timestamp_str": "2026-05-15", "aggregated_short": "5"},
        {"timestamp": 1778774400000, "timestamp_str": "2026-05-14", "aggregated_short": "4"},
        {"timestamp": 1778169600000, "timestamp_str": "garbage", "aggregated_short": "3"},
        {"timestamp": "soon", "timestamp_str": "2026-05-01", "aggregated_short": "2"},
    ]

    async def handle(request: web.Request) -> web.Response:
        if request.match_info["kind"] == "short-interest":
            return web.json_response({"ret_code": 0, "data": {"items": items}})
        return web.json_response({"code": 0, "data": []})

    async with kinds_server(handle) as server:
        db = await sweep_served(make_settings, server, "700.HK\n")
    assert query(db, "SELECT trade_date, short_shares FROM short_interest ORDER BY 1") == [
        ("2026-05-01", 2),
        ("2026-05-08", 3),
        ("2026-05-14", 4),
        ("2026-05-15", 5),
    ]


async def test_redirect_to_another_host_fails_the_task_without_following(
    sweep_against: Callable[..., Awaitable[Path]], failure: Failure
) -> None:
    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://127.0.0.2:9/elsewhere")

    db = await sweep_against({"MOVED.US": redirect})
    assert failure(db, "MOVED.US")[:3] == ("failed", 1, "http_302")


@pytest.mark.slow  # ~3 s: BUSY.US's 429s slow the pacer; each fault alone has quick tests
async def test_gateway_faults_forever_fail_only_their_symbol(
    sweep_simulated: Callable[..., Awaitable[Any]], task_map: Tasks
) -> None:
    faults = {
        "RESET.US": "reset",
        "PAGE.US": "http_502_html",
        "TRUNC.US": "truncated",
        "TYPE.US": "html_200",
        "BUSY.US": "http_429",
    }
    gw = GatewaySettings(scripted={symbol: (fault, "*") for symbol, fault in faults.items()})
    swept = await sweep_simulated(
        "".join(f"{s}\n" for s in faults) + "AAPL.US\n",
        gw,
        sweep={"max_attempts": 2, "retry_after_max": 0},
    )
    summary = swept.summary
    tasks = task_map(swept.db)
    codes = {
        "RESET.US": "connection_reset",
        "PAGE.US": "http_502",
        "TRUNC.US": "malformed_body",
        "TYPE.US": "malformed_body",
        "BUSY.US": "http_429",
    }
    for symbol, code in codes.items():
        # A 429 is our pace, not the symbol: refusals cost no attempt until OVERLOAD_TRIES
        # of them per attempt are spent; then they count like any failure.
        attempts = 2 + OVERLOAD_TRIES * 2 if code == "http_429" else 2
        assert tasks[(symbol, "short_trades")] == ("failed", attempts, 0, 0, code), symbol
    assert tasks[("AAPL.US", "short_trades")][0] == "ok"
    assert summary.failed == 2 * len(faults)


async def test_a_hostile_symbols_file_sends_only_intended_paths(
    make_settings: Callable[..., Any], query: Query, caplog: pytest.LogCaptureFixture
) -> None:
    lines = [
        "\ufeffAAPL.US",  # 1: BOM
        "\t700.hk\t",  # 2: tabs around
        "../x",  # 3
        "A/B.US",  # 4
        "%2F",  # 5
        "AA PL.US",  # 6
        "TŞLA.US",  # 7: non-ASCII
        "X" * 10_000,  # 8
        "\x00\x01\x02binary",  # 9
        "US.BRK.B  # a comment",  # 10
        "A\tB.US",  # 11
        "",  # 12
    ]
    body = "\r\n".join(lines).encode() + b"\r\n\xff\xfe\xfa garbage\r\n"  # 13: invalid UTF-8
    caplog.set_level(logging.WARNING)
    async with Gateway() as gateway:
        settings = make_settings(gateway.url, "")
        Path(settings.sweep.symbols).write_bytes(body)
        summary = await run_sweep(settings)
        outcomes = gateway.stats.as_dict()["by_outcome"]
    assert outcomes == {"short_trades": {"ok": 3}, "short_interest": {"ok": 3}}
    assert summary.malformed_lines == 9
    # The sweep warns once, naming the first; plan (each=True) names every one.
    assert [m for m in caplog.messages if "malformed" in m] == [
        f"{settings.sweep.symbols}: 9 malformed lines skipped, the first line 3: not a symbol: "
        "'../x'; harvester plan lists them"
    ]
    caplog.clear()
    universe = Universe(Path(settings.sweep.symbols), ["short_trades"], strict=False, each=True)
    list(universe.tasks())
    reported = sorted(
        int(m.split(" line ")[1].split(":")[0]) for m in caplog.messages if " line " in m
    )
    assert reported == [3, 4, 5, 6, 7, 8, 9, 11, 13]
    db = Path(settings.sweep.db)
    assert {row[0] for row in query(db, "SELECT DISTINCT symbol FROM tasks")} == {
        "AAPL.US",
        "700.HK",
        "BRK.B.US",
    }


async def test_symbol_text_is_bound_as_data_never_formatted_into_sql(
    tmp_path: Path, query: Query
) -> None:
    from harvester.model import Symbol, TaskResult, TaskStatus
    from harvester.store.store import Store
    from harvester.sweep.run import table_specs

    nasty = Symbol("X'); DROP TABLE tasks; --", "US")
    async with Store(tmp_path / "h.sqlite") as store:
        await store.start_run(
            "r1", "s.txt", [(nasty.canonical, "short_trades", "pending", None)], lambda added: {}
        )
        row = (nasty.canonical, "US", "2026-05-15", 1, 2, 3, None, None, None, 0.5, 9.0)
        result = TaskResult(nasty, "short_trades", TaskStatus.OK, 1, (row,))
        await store.write_results("r1", [result], table_specs())
        work = [item async for item in store.remaining_work("r1", ["short_trades"])]
    db = tmp_path / "h.sqlite"
    assert work == []
    assert query(db, "SELECT symbol, status FROM tasks") == [(nasty.canonical, "ok")]
    assert query(db, "SELECT symbol FROM short_trades") == [(nasty.canonical,)]


async def test_connection_refused_fails_after_retries(
    make_settings: Callable[..., Any], free_port: Callable[[], int], task_map: Tasks
) -> None:
    settings = make_settings(
        f"http://127.0.0.1:{free_port()}", "AAPL.US\n", sweep={"max_attempts": 2}
    )
    summary = await run_sweep(settings)
    tasks = task_map(Path(settings.sweep.db))
    assert tasks[("AAPL.US", "short_trades")] == ("failed", 2, 0, 0, "connection_error")
    assert summary.failed == 2
