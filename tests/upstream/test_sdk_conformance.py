"""The vendor's official SDK (``longbridge``) as the oracle of the OpenAPI dialect.

- The SDK and a harvester sweep of the same simulated gateway get the same records.
- The harvester signs a request as the SDK does, and asks for the same paths, query
  parameters and signed headers (a capture server in a process of its own records both).
- Known records, as API.md shows them, are stored as the SDK parses them, both markets.
- A wrong secret stops a sweep of 50 symbols after a few requests, with one error line.

The SDK's blocking calls hold the GIL, so every server it talks to runs in a process of its
own. Every test here is slow (processes, a few seconds in all): CI's slow job runs them,
and tests/upstream/test_openapi_auth.py checks the signature against the SDK's quickly.
Every sweep runs with ``cwd=tmp_path`` (no ``config/harvester.toml``) and an environment
without ``HARVESTER_*``, ``LONGBRIDGE_*`` or ``LONGPORT_*`` variables but those it is given.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from harvester.catalog import SHORT_POSITIONS, SHORT_TRADES, Endpoint
from harvester.simulate import DEMO_ACCESS_TOKEN, DEMO_APP_KEY, DEMO_APP_SECRET
from harvester.upstream.auth import Signed

pytestmark = pytest.mark.slow

CAPTURE_SERVER = Path(__file__).with_name("capture_server.py")
RUN_TIMEOUT = 60.0  # seconds a sweep run to its end may take
ZONES = {"US": ZoneInfo("America/New_York"), "HK": ZoneInfo("Asia/Hong_Kong")}
SIGNED = ("x-api-key", "authorization", "x-timestamp", "x-api-signature")
DATA_SETS = (SHORT_TRADES, SHORT_POSITIONS)
# The harvester stores a symbol in its canonical form: the SDK's symbol -> the stored one.
STORED_AS = {
    "AAPL.US": "AAPL.US",
    "SPY.US": "SPY.US",  # an ETF
    "BRK.B.US": "BRK.B.US",  # a class share
    "700.HK": "700.HK",
    "00700.HK": "700.HK",  # zero padded, as the SDK sends it; the harvester fetches it once
    "5.HK": "5.HK",
}
# Fake credentials for the capture server: it checks nothing, the tests recompute.
FAKE = {"key": "capture-key", "secret": "capture-secret", "token": "capture-token"}

# What the capture server answers, per path: API.md section 5's US short-trades record and
# section 1's HK one in unix seconds, short positions with every field, and older days.
KNOWN: dict[str, dict[str, Any]] = {
    "/v1/quote/short-trades/us": {
        "counter_id": "ST/US/AAPL",
        "data": [
            {
                "timestamp": "1778817600",
                "nus_amount": "5748485",
                "ny_amount": "0",
                "total_amount": "15778974",
                "rate": "0.3643",
                "close": "300.230",
            },
            {
                "timestamp": "1778731200",
                "nus_amount": "4100200",
                "ny_amount": "1200",
                "total_amount": "12000000",
                "rate": "0.3418",
                "close": "298.10",
            },
            {
                "timestamp": "1778644800",
                "nus_amount": "3999999",
                "ny_amount": "25",
                "total_amount": "10000000",
                "rate": "0.4",
                "close": "301",
            },
        ],
    },
    "/v1/quote/short-trades/hk": {
        "counter_id": "ST/HK/700",
        "data": [
            {
                "timestamp": "1779033600",
                "amount": "2926000",
                "balance": "1318056100.00",
                "total_amount": "29497076",
                "rate": "0.0992",
                "close": "449.2",
            },
            {
                "timestamp": "1778774400",
                "amount": "3100500.50",
                "balance": "1299000000.00",
                "total_amount": "31005005",
                "rate": "0.1",
                "close": "456.4",
            },
            {
                "timestamp": "1778688000",
                "amount": "0",
                "balance": "1288000000.00",
                "total_amount": "27000000",
                "rate": "0",
                "close": "454.9",
            },
        ],
    },
    "/v1/quote/short-positions/us": {
        "counter_id": "ST/US/AAPL",
        "data": [
            {
                "timestamp": "1778817600",
                "rate": "0.0261",
                "close": "300.23",
                "current_shares_short": "81234567",
                "avg_daily_share_volume": "95123456",
                "days_to_cover": "1.2",
            },
            {
                "timestamp": "1777521600",
                "rate": "0.0255",
                "close": "281.5",
                "current_shares_short": "79000001",
                "avg_daily_share_volume": "88000000",
                "days_to_cover": "0.9",
            },
            {
                "timestamp": "1776225600",
                "rate": "0.03",
                "close": "270.04",
                "current_shares_short": "85000000",
                "avg_daily_share_volume": "90000000",
                "days_to_cover": "1",
            },
        ],
    },
    "/v1/quote/short-positions/hk": {
        "counter_id": "ST/HK/700",
        "data": [
            {
                "timestamp": "1778774400",
                "rate": "0.0059",
                "close": "456.4",
                "amount": "24726441000",
                "balance": "54177721",
                "cost": "456.399",
            },
            {
                "timestamp": "1778169600",
                "rate": "0.0049",
                "close": "466.1",
                "amount": "21200000000.50",
                "balance": "44972868",
                "cost": "471.399",
            },
            {
                "timestamp": "1777564800",
                "rate": "0.005",
                "close": "470",
                "amount": "22000000000",
                "balance": "46000000",
                "cost": "468",
            },
        ],
    },
}
# The trading days those timestamps stand for, in the exchange's zone (newest first).
KNOWN_DAYS = {
    ("short_trades", "US"): ["2026-05-15", "2026-05-14", "2026-05-13"],
    ("short_trades", "HK"): ["2026-05-18", "2026-05-15", "2026-05-14"],  # 16:00Z the day before
    ("short_positions", "US"): ["2026-05-15", "2026-04-30", "2026-04-15"],
    ("short_positions", "HK"): ["2026-05-15", "2026-05-08", "2026-05-01"],
}

# The newest of those records as the table holds it: the catalog's mapping, checked by hand
# (the other comparisons map fields to columns through the catalog, so cannot catch a swap).
KNOWN_NEWEST = {
    ("short_trades", "US"): {
        "nasdaq_short_volume": 5748485,
        "nyse_short_volume": 0,
        "total_volume": 15778974,
        "short_ratio": 0.3643,
        "close": 300.23,
    },
    ("short_trades", "HK"): {
        "short_turnover": 2926000.0,
        "short_balance": 1318056100.0,
        "total_turnover": 29497076.0,
        "short_ratio": 0.0992,
        "close": 449.2,
    },
    ("short_positions", "US"): {
        "short_shares": 81234567,
        "avg_daily_share_volume": 95123456,
        "days_to_cover": 1.2,
        "short_ratio": 0.0261,
        "close": 300.23,
    },
    ("short_positions", "HK"): {
        "short_amount": 24726441000.0,  # money (HKD), not shares: API.md keeps them apart
        "short_balance": 54177721.0,
        "cost": 456.399,
        "short_ratio": 0.0059,
        "close": 456.4,
    },
}


# Processes ---------------------------------------------------------------------------------


def _environment(**extra: str) -> dict[str, str]:
    """This environment without the harvester's or the SDK's variables, plus ``extra``."""
    stray = ("HARVESTER_", "LONGBRIDGE_", "LONGPORT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(stray)}
    return env | extra


def _sweep(
    cwd: Path, url: str, symbols: Sequence[str], key: str, secret: str, token: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``harvester sweep --full`` of ``symbols`` against ``url`` in the OpenAPI dialect."""
    (cwd / "symbols.txt").write_text("".join(f"{s}\n" for s in symbols), encoding="utf-8")
    db = cwd / "h.sqlite"
    env = _environment(
        HARVESTER_GATEWAY_API="openapi",
        LONGBRIDGE_APP_KEY=key,
        LONGBRIDGE_APP_SECRET=secret,
        LONGBRIDGE_ACCESS_TOKEN=token,
    )
    args = ["sweep", "--base-url", url, "--symbols", "symbols.txt", "--db", str(db)]
    result = subprocess.run(
        [sys.executable, "-m", "harvester", *args, "--full", "-q"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    return result, db


@pytest.fixture
def capture_server(
    tmp_path: Path, first_line: Callable[..., str]
) -> Callable[[], contextlib.AbstractContextManager[tuple[str, Path]]]:
    """``with capture_server() as (url, log):`` tests/upstream/capture_server.py answering KNOWN.

    Ready when its "listening" line came; killed by its own handle on leaving.
    """

    @contextlib.contextmanager
    def serve() -> Iterator[tuple[str, Path]]:
        answers = tmp_path / "answers.json"
        answers.write_text(json.dumps(KNOWN), encoding="utf-8")
        log = tmp_path / "requests.jsonl"
        process = subprocess.Popen(
            [sys.executable, str(CAPTURE_SERVER), str(log), str(answers)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=_environment(),
        )
        try:
            line = first_line(process)
            found = re.fullmatch(r"capture server listening on (http://127\.0\.0\.1:\d+)\n", line)
            assert found, f"the capture server said {line!r}"
            yield found.group(1), log
        finally:
            process.kill()
            process.communicate(timeout=10)

    return serve


def _captured(log: Path) -> list[dict[str, Any]]:
    """The requests the capture server has logged, in arrival order."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def _stats(url: str) -> dict[str, Any]:
    """A simulated gateway's counters (``GET /_stats``)."""
    with urllib.request.urlopen(f"{url}/_stats", timeout=5) as answer:
        return dict(json.loads(answer.read()))


# The SDK -----------------------------------------------------------------------------------


@pytest.fixture
def openapi(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``longbridge.openapi``, with no ``LONGBRIDGE_*``/``LONGPORT_*`` variable to read."""
    module = pytest.importorskip(
        "longbridge.openapi", reason="the vendor's SDK (longbridge, the test extra) is the oracle"
    )
    for name in list(os.environ):
        if name.startswith(("LONGBRIDGE_", "LONGPORT_")):
            monkeypatch.delenv(name)
    return module


def _context(openapi: ModuleType, url: str, key: str, secret: str, token: str) -> Any:
    """An SDK quote context that reaches ``url`` over HTTP only."""
    config = openapi.Config.from_apikey(
        key,
        secret,
        token,
        http_url=url,
        quote_ws_url="ws://127.0.0.1:1/ws",  # never reached over the HTTP transport
        enable_print_quote_packages=False,
        quote_transport=openapi.QuoteTransport.Http,
    )
    return openapi.QuoteContext(config)


# Rows, as the SDK gives them and as the harvester stored them -------------------------------


def _number(text: str, sql_type: str) -> int | float:
    """An SDK value as the column's type holds it: int for INTEGER, float for REAL."""
    if sql_type == "INTEGER":
        number = Decimal(text)
        assert number == number.to_integral_value(), f"{text!r} is not a whole number"
        return int(number)
    assert sql_type == "REAL", sql_type
    return float(text)


def _sdk_rows(endpoint: Endpoint, market: str, records: Sequence[Any]) -> list[tuple[Any, ...]]:
    """``(trade_date, *columns)`` per SDK record, each column from its ``Column.source``.

    Fails if a record has a non-empty field that no column takes (it would be lost).
    """
    date_field = endpoint.date.source(market)
    assert date_field
    taken = {date_field} | {c.source(market) for c in endpoint.columns if c.fills(market)}
    rows = []
    for record in records:
        given = {
            name
            for name in dir(record)
            if not name.startswith("_") and isinstance(getattr(record, name), str)
        }
        sent = {name for name in given if getattr(record, name) != ""}
        assert sent <= taken, f"{endpoint.name} {market}: no column takes {sent - taken}"
        instant = datetime.fromisoformat(getattr(record, date_field))
        assert instant.utcoffset() is not None, getattr(record, date_field)
        row: list[Any] = [instant.astimezone(ZONES[market]).date().isoformat()]
        for column in endpoint.columns:
            source = column.source(market)
            text = getattr(record, source) if source else ""
            row.append(_number(text, column.type) if text != "" else None)
        rows.append(tuple(row))
    return rows


def _stored_rows(db: Path, endpoint: Endpoint, symbol: str, market: str) -> list[tuple[Any, ...]]:
    """``(trade_date, *columns)`` of ``symbol`` in the endpoint's table, newest first."""
    names = ", ".join(column.name for column in endpoint.columns)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            f"SELECT market, trade_date, {names} FROM {endpoint.name} "
            "WHERE symbol = ? ORDER BY trade_date DESC",
            (symbol,),
        ).fetchall()
    assert {row[0] for row in rows} <= {market}, (symbol, {row[0] for row in rows})
    return [tuple(row[1:]) for row in rows]


def _typed(rows: list[tuple[Any, ...]]) -> list[tuple[tuple[str, Any], ...]]:
    """Rows with each value's type beside it: 5 and 5.0 differ here."""
    return [tuple((type(value).__name__, value) for value in row) for row in rows]


def _fetch(context: Any, endpoint: Endpoint, symbol: str, count: int) -> list[Any]:
    """The SDK's records of one data set for one symbol."""
    return list(getattr(context, endpoint.name)(symbol, count).data)  # named as the SDK's


# (a) the SDK and a sweep of the simulated gateway ------------------------------------------


def test_the_sdk_gets_the_records_a_sweep_stores(
    openapi: ModuleType, gateway_process: Callable[..., Any], tmp_path: Path
) -> None:
    # No account limit here: the SDK does not pace itself, and its 12 calls come at once.
    with gateway_process(0, "--api", "openapi", "--account-rate", "0") as gateway:
        result, db = _sweep(
            tmp_path, gateway.url, list(STORED_AS), DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_ACCESS_TOKEN
        )
        assert result.returncode == 0, result.stderr
        context = _context(openapi, gateway.url, DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_ACCESS_TOKEN)
        fetched = {
            (symbol, endpoint): _fetch(context, endpoint, symbol, endpoint.count)
            for symbol in STORED_AS
            for endpoint in DATA_SETS
        }
    with contextlib.closing(sqlite3.connect(db)) as conn:
        tasks = conn.execute("SELECT symbol, endpoint, status FROM tasks").fetchall()
    assert sorted(tasks) == sorted(
        (symbol, endpoint.name, "ok")
        for symbol in set(STORED_AS.values())
        for endpoint in DATA_SETS
    )
    for (symbol, endpoint), records in fetched.items():
        market = symbol.rsplit(".", 1)[1]
        assert len(records) == endpoint.count, (symbol, endpoint.name)
        stored = _stored_rows(db, endpoint, STORED_AS[symbol], market)
        expected = _sdk_rows(endpoint, market, records)
        assert _typed(stored) == _typed(expected), (symbol, endpoint.name)


# (b) the signature, the paths, the query and the signed headers ------------------------------


def test_the_harvester_signs_and_asks_as_the_sdk_does(
    openapi: ModuleType,
    capture_server: Callable[[], contextlib.AbstractContextManager[tuple[str, Path]]],
    tmp_path: Path,
) -> None:
    signer = Signed(FAKE["key"], FAKE["secret"], FAKE["token"], hint="")
    with capture_server() as (url, log):
        context = _context(openapi, url, FAKE["key"], FAKE["secret"], FAKE["token"])
        for symbol in ("AAPL.US", "700.HK"):
            for endpoint in DATA_SETS:
                _fetch(context, endpoint, symbol, endpoint.count)
        by_sdk = _captured(log)
        result, _ = _sweep(tmp_path, url, ["AAPL.US", "700.HK"], *FAKE.values())
        by_harvester = _captured(log)[len(by_sdk) :]
    assert result.returncode == 0, result.stderr
    assert len(by_sdk) == 4, by_sdk
    for request in by_sdk:
        sent = {name.lower(): value for name, value in request["headers"]}
        signed = signer.headers(
            "GET", request["path"], request["query"], float(sent["x-timestamp"])
        )
        assert request["method"] == "GET"
        assert signed == {name: sent[name] for name in SIGNED}, request

    sdk_paths = {request["path"]: request for request in by_sdk}
    assert sorted(r["path"] for r in by_harvester) == sorted(sdk_paths), by_harvester
    for request in by_harvester:
        sdk = sdk_paths[request["path"]]
        ours, theirs = (urllib.parse.parse_qsl(r["query"]) for r in (request, sdk))
        assert [name for name, _ in ours] == [name for name, _ in theirs], (ours, theirs)
        asked = {name: value for name, value in ours if name != "last_timestamp"}
        assert asked == {name: value for name, value in theirs if name != "last_timestamp"}
        names = [name for name, _ in request["headers"] if name.lower() in SIGNED]
        assert sorted(names) == sorted(n for n, _ in sdk["headers"] if n.lower() in SIGNED)
        sent = {name.lower(): value for name, value in request["headers"]}
        assert request["method"] == "GET"
        assert abs(int(sent["x-timestamp"]) - time.time()) < 60, sent["x-timestamp"]
        recomputed = signer.headers(
            "GET", request["path"], request["query"], float(sent["x-timestamp"])
        )
        assert recomputed == {name: sent[name] for name in SIGNED}, request


# (c) known records: stored as the SDK parses them --------------------------------------------


def test_known_records_are_stored_as_the_sdk_parses_them(
    openapi: ModuleType,
    capture_server: Callable[[], contextlib.AbstractContextManager[tuple[str, Path]]],
    tmp_path: Path,
) -> None:
    symbols = {"US": "AAPL.US", "HK": "700.HK"}
    with capture_server() as (url, _):
        context = _context(openapi, url, FAKE["key"], FAKE["secret"], FAKE["token"])
        parsed = {
            (endpoint, market): _fetch(context, endpoint, symbol, endpoint.count)
            for market, symbol in symbols.items()
            for endpoint in DATA_SETS
        }
        result, db = _sweep(tmp_path, url, list(symbols.values()), *FAKE.values())
    assert result.returncode == 0, result.stderr
    for (endpoint, market), records in parsed.items():
        name = endpoint.name
        expected = _sdk_rows(endpoint, market, records)
        assert [row[0] for row in expected] == KNOWN_DAYS[name, market]
        stored = _stored_rows(db, endpoint, symbols[market], market)
        assert _typed(stored) == _typed(expected), (name, market)
        newest = dict(zip((c.name for c in endpoint.columns), stored[0][1:], strict=True))
        filled = {column: value for column, value in newest.items() if value is not None}
        assert filled == KNOWN_NEWEST[name, market], (name, market)


# (d) a wrong secret ----------------------------------------------------------------------------


def test_a_wrong_secret_stops_the_sweep_with_one_line_after_a_few_requests(
    gateway_process: Callable[..., Any], tmp_path: Path
) -> None:
    wrong = "not-the-demo-secret"
    symbols = [f"Z{i}.US" for i in range(50)]
    with gateway_process(0, "--api", "openapi") as gateway:
        result, _ = _sweep(tmp_path, gateway.url, symbols, DEMO_APP_KEY, wrong, DEMO_ACCESS_TOKEN)
        stats = _stats(gateway.url)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    logged = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")  # a log line's timestamp
    lines = [line for line in result.stderr.splitlines() if not logged.match(line)]
    assert len(lines) == 1, result.stderr
    for name in ("LONGBRIDGE_APP_KEY", "LONGBRIDGE_APP_SECRET", "LONGBRIDGE_ACCESS_TOKEN"):
        assert name in lines[0], lines[0]
    assert wrong not in result.stderr + result.stdout
    assert 1 <= stats["served_401"] == stats["total"] <= 10, stats
