"""Nightly sweeps store, row for row, what full sweeps on the same days store.

One simulated gateway publishes on schedules, with restatements, and is stepped
through 11 business days after a first day (2026-05-04 to 2026-05-19: each
market x endpoint pair publishes at least once, US ``short_trades`` twice).
Each day a nightly sweep goes into database N and a ``--full`` sweep (``[sweep]
full = true``) into database F, in-process; after every day their data tables
must be equal in symbol, market, date and every data column
(``harvester.sweep.run.table_specs``), whatever else the harvester keeps beside them.
Every restatement published in the window must have changed the stored row on
its day, and the nightly sweeps must send fewer requests and bytes, leave the
tasks of a pair that published nothing ``unchanged`` (and no others), and skip
the dead symbols that the full sweeps keep asking.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.nightly import DataKey, data_rows, rows_differing
from harvester.simulate import Gateway, GatewaySettings
from harvester.simulate.calendars import PAIRS, calendar, publishes_on, shift_business_days
from harvester.simulate.restate import restatements
from harvester.sweep.run import run_sweep, table_specs

START = dt.date(2026, 5, 4)  # a Monday; the real clock drops records after tomorrow
DAYS = 11  # business days after START
# [sweep] probe_size of the nightly sweeps: few, so that most symbols are fetched
# incrementally and the overlap is put to the test (a probe asks for a whole answer).
PROBES = 2
US = (
    "AAPL",
    "MSFT",
    "NVDA",
    "AMZN",
    "GOOGL",
    "META",
    "TSLA",
    "JPM",
    "V",
    "WMT",
    "XOM",
    "KO",
    "PEP",
    "INTC",
    "AMD",
    "NFLX",
)
HK = (
    "700",
    "9988",
    "5",
    "1299",
    "939",
    "1398",
    "3690",
    "2318",
    "388",
    "1810",
    "941",
    "883",
    "16",
    "1",
)
GOOD = (*(f"{code}.US" for code in US), *(f"{code}.HK" for code in HK))
NO_DATA, INVALID = "NODATA.US", "BADX.US"
SYMBOLS = "".join(f"{symbol}\n" for symbol in (*GOOD, NO_DATA, INVALID))
GATEWAY = GatewaySettings(
    seed=13,
    schedules=True,
    today=START,
    restate_rate=0.2,
    no_data=(NO_DATA,),
    invalid_symbol=(INVALID,),
)

Data = dict[DataKey, tuple[object, ...]]  # data rows without the columns about fetching


def statuses(db: Path, run_id: str) -> dict[tuple[str, str], str]:
    """``{(symbol, endpoint): status}`` of one run's tasks."""
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT symbol, endpoint, status FROM tasks WHERE run_id = ?", (run_id,)
        ).fetchall()
    return {(symbol, endpoint): status for symbol, endpoint, status in rows}


@dataclass
class Ledger:
    """One database's sweeps: per day its run, what the gateway served it, its data after."""

    settings: Any
    runs: dict[dt.date, str] = field(default_factory=dict)
    requests: dict[dt.date, int] = field(default_factory=dict)
    bytes: dict[dt.date, int] = field(default_factory=dict)
    data: dict[dt.date, Data] = field(default_factory=dict)

    async def sweep(self, gateway: Gateway) -> None:
        """Sweep on the gateway's day; keep the run, the gateway's counts and the data."""
        day, requests, sent = gateway.today, gateway.stats.total, gateway.stats.response_bytes
        summary = await run_sweep(self.settings)
        assert summary.status == "completed", summary
        self.runs[day] = summary.run_id
        self.requests[day] = gateway.stats.total - requests
        self.bytes[day] = gateway.stats.response_bytes - sent
        self.data[day] = data_rows(Path(self.settings.sweep.db))

    def after_first(self, counts: dict[dt.date, int]) -> int:
        """The sum of ``counts`` over the days after the first."""
        return sum(count for day, count in counts.items() if day != START)


async def step_through(make_settings: Callable[..., Any], tmp_path: Path) -> tuple[Ledger, Ledger]:
    """The first day and ``DAYS`` more: a nightly sweep into N, a full one into F, each day."""
    async with Gateway(GATEWAY) as gateway:
        n = Ledger(
            make_settings(
                gateway.url, SYMBOLS, sweep={"db": str(tmp_path / "n.sqlite"), "probe_size": PROBES}
            )
        )
        f = Ledger(
            make_settings(
                gateway.url, SYMBOLS, sweep={"db": str(tmp_path / "f.sqlite"), "full": True}
            )
        )
        for step in range(DAYS + 1):
            if step:
                gateway.advance()
            await n.sweep(gateway)
            await f.sweep(gateway)
            assert n.data[gateway.today] == f.data[gateway.today], f"on {gateway.today}"
    return n, f


async def test_nightly_sweeps_store_what_full_sweeps_store(
    make_settings: Callable[..., Any], tmp_path: Path
) -> None:
    n, f = await step_through(make_settings, tmp_path)
    days = sorted(n.data)
    assert (days[0], days[-1], len(days)) == (START, dt.date(2026, 5, 19), DAYS + 1)
    assert len(n.data[days[-1]]) > len(n.data[START]) > 0

    # Every restatement in the window changed the stored row on its day, in N as in F.
    restated = restatements(GATEWAY, GOOD, days[1], days[-1])
    assert len({(r.symbol, r.endpoint) for r in restated}) >= 5
    for r in restated:
        key = (table_specs()[r.endpoint].table, r.symbol, r.record_date.isoformat())
        before = n.data[shift_business_days(r.published, -1)][key]
        assert n.data[r.published][key] != before, r

    assert n.after_first(n.requests) < f.after_first(f.requests)
    assert n.after_first(n.bytes) < f.after_first(f.bytes)
    for day in days[1:]:
        ran = statuses(Path(n.settings.sweep.db), n.runs[day])
        for market, endpoint in PAIRS:
            pair = {ran[symbol, endpoint] for symbol in GOOD if symbol.endswith("." + market)}
            published = publishes_on(calendar(market, endpoint), day)
            assert ("unchanged" in pair) is not published, (day, market, endpoint, pair)
    last_n = statuses(Path(n.settings.sweep.db), n.runs[days[-1]])
    last_f = statuses(Path(f.settings.sweep.db), f.runs[days[-1]])
    for endpoint in table_specs():
        assert (last_n[INVALID, endpoint], last_f[INVALID, endpoint]) == ("skipped", "invalid")
        assert (last_n[NO_DATA, endpoint], last_f[NO_DATA, endpoint]) == ("skipped", "no_data")


async def test_the_gateway_counts_the_body_bytes_it_sends() -> None:
    bodies = []
    async with (
        Gateway(GatewaySettings(invalid_symbol=(INVALID,))) as gateway,
        aiohttp.ClientSession() as session,
    ):
        for symbol, path in (
            ("AAPL.US", gateway.settings.short_trades_path),
            ("700.HK", gateway.settings.short_interest_path),
            (INVALID, gateway.settings.short_trades_path),
        ):
            async with session.get(gateway.url + path.format(symbol=symbol)) as answer:
                bodies.append(len(await answer.read()))
        async with session.get(gateway.url + "/_stats") as answer:
            served = await answer.json()
        async with session.post(gateway.url + "/_stats/reset") as answer:
            zeroed = await answer.json()
    assert served["response_bytes"] == sum(bodies) > 0
    assert served["response_bytes_by_endpoint"] == {
        "short_trades": bodies[0] + bodies[2],
        "short_interest": bodies[1],
    }
    assert zeroed["response_bytes"] == 0
    assert set(zeroed["response_bytes_by_endpoint"].values()) == {0}


def test_the_bench_counts_the_rows_that_differ(swept: Any, copy_swept: Callable[[], Any]) -> None:
    copy = copy_swept()
    assert rows_differing(swept.db, copy.db) == 0
    with closing(sqlite3.connect(copy.db)) as conn:
        with conn:
            conn.execute("UPDATE short_trades SET run_id = 'other', fetched_at = '2026-01-01'")
        assert rows_differing(swept.db, copy.db) == 0  # columns about fetching do not count
        newest = "SELECT MAX(trade_date) FROM short_trades WHERE symbol = '700.HK'"
        with conn:
            conn.execute(
                "UPDATE short_trades SET close = close + 1 "
                f"WHERE symbol = '700.HK' AND trade_date = ({newest})"
            )
            conn.execute(
                "DELETE FROM short_interest WHERE rowid = (SELECT MIN(rowid) FROM short_interest)"
            )
            conn.execute(
                "UPDATE short_interest SET market = 'HK' WHERE rowid = "
                "(SELECT MAX(rowid) FROM short_interest WHERE market = 'US')"
            )
    assert rows_differing(swept.db, copy.db) == 3
    assert rows_differing(copy.db, swept.db) == 3
