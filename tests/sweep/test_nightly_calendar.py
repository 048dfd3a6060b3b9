"""Nightly sweeps against a gateway that publishes as vendors do, a full sweep as the oracle.

One simulated gateway, stepped through 10 business days after a first one, publishes on
schedules with what real calendars bring (harvester.simulate.publishing): symbols a day
late, a holiday in each market, securities suspended or delisted in the middle of the
walk (the ten US symbols that sort first among them, nine delisted HK symbols and a
suspended one), restatements older than ``overlap``, and the drawn recent ones. Each day a
nightly sweep goes into database N and a ``--full`` sweep into F; after every day their
data tables must be equal row for row, except a restatement older than ``overlap``, which
N must have stored within ``reread_nights`` nights of its publication.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bench.nightly import DataKey, data_rows
from harvester.simulate import Gateway, GatewaySettings
from harvester.sweep.incremental import Knowledge, probe_candidates, rank_probes
from harvester.sweep.run import run_sweep, table_specs

START = dt.date(2026, 5, 4)  # a Monday
DAYS = 10  # business days after START
REREAD = 4  # [sweep] reread_nights of the nightly sweeps

SUSPENDED_US = tuple(f"A{letter}.US" for letter in "ABCDEFGHIJ")  # sort first among the US
US = (*SUSPENDED_US, *(f"{code}.US" for code in (
    "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM", "V", "WMT", "XOM", "KO", "PEP",
    "INTC", "AMD", "NFLX", "ORCL", "CSCO", "IBM", "QCOM", "TXN", "ADBE", "CRM", "PFE", "MRK",
    "T", "VZ", "DIS", "NKE", "MCD", "BA",
)))  # fmt: skip
DELISTED_HK = tuple(f"{code}.HK" for code in range(1, 10))
SUSPENDED_HK = "10.HK"
HK = (*DELISTED_HK, SUSPENDED_HK, *(f"{code}.HK" for code in (
    "700", "9988", "1299", "939", "1398", "3690", "2318", "388", "1810", "941", "883", "16",
    "5", "11", "2", "3", "6", "12", "17", "19",
)))  # fmt: skip
LATE = ("MSFT.US", "NVDA.US", "AMZN.US", "GOOGL.US", "700.HK", "9988.HK", "1299.HK", "939.HK")
# Older than overlap (5): ten business days back for a daily record, a quarter back for a
# twice-monthly report; published on the walk's third and fifth days.
DEEP = (
    ("3690.HK", "short_trades", "2026-04-23", "2026-05-07", 1.25),
    ("KO.US", "short_interest", "2026-01-15", "2026-05-11", 0.8),
)
WALK = GatewaySettings(
    seed=23,
    schedules=True,
    today=START,
    restate_rate=0.05,
    holidays=("HK:2026-05-07", "US:2026-05-12"),
    late=LATE,
    # The US ones publish nothing after the batch of 2026-04-17 (out on 04-21): each US
    # publication of the walk finds them behind.
    suspended={**dict.fromkeys(SUSPENDED_US, "2026-04-20"), SUSPENDED_HK: "2026-05-08"},
    delisted=dict.fromkeys(DELISTED_HK, "2026-05-08"),
    restatements=tuple(":".join(map(str, entry)) for entry in DEEP),
)

Data = dict[DataKey, tuple[object, ...]]


def differing(n: Data, f: Data) -> set[DataKey]:
    """The keys whose rows differ, or that one side lacks."""
    return {key for key in n.keys() | f.keys() if n.get(key) != f.get(key)}


@dataclass
class Walk:
    """The nightly file N and the full file F, swept each day of one gateway's walk."""

    nightly: Any
    full: Any
    days: list[dt.date] = field(default_factory=list)
    differences: list[set[DataKey]] = field(default_factory=list)

    async def night(self, gateway: Gateway) -> None:
        for settings in (self.nightly, self.full):
            summary = await run_sweep(settings)
            assert summary.status == "completed", summary
        self.days.append(gateway.today)
        n, f = data_rows(Path(self.nightly.sweep.db)), data_rows(Path(self.full.sweep.db))
        self.differences.append(differing(n, f))


async def walk(
    make_settings: Callable[..., Any], tmp_path: Path, gateway: GatewaySettings, symbols: str,
    days: int = DAYS, **nightly: Any,
) -> Walk:  # fmt: skip
    tmp_path.mkdir(parents=True, exist_ok=True)
    async with Gateway(gateway) as served:
        done = Walk(
            make_settings(served.url, symbols, sweep={"db": str(tmp_path / "n.sqlite"), **nightly}),
            make_settings(
                served.url, symbols, sweep={"db": str(tmp_path / "f.sqlite"), "full": True}
            ),
        )
        for step in range(days + 1):
            if step:
                served.advance()
            await done.night(served)
    return done


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_nightly_files_equal_full_ones_on_a_real_publication_calendar(
    make_settings: Callable[..., Any], tmp_path: Path
) -> None:
    symbols = "".join(f"{symbol}\n" for symbol in (*US, *HK))
    done = await walk(make_settings, tmp_path, WALK, symbols, reread_nights=REREAD)
    assert done.days[0] == START and len(done.days) == DAYS + 1
    tables = table_specs()
    deep = {
        (tables[endpoint].table, symbol, record): dt.date.fromisoformat(published)
        for symbol, endpoint, record, published, _ in DEEP
    }
    for index, (day, differ) in enumerate(zip(done.days, done.differences, strict=True)):
        # A deep restatement may wait for its symbol's reread: at most REREAD nights.
        waiting = {
            key
            for key, published in deep.items()
            if published <= day and index < done.days.index(published) + REREAD
        }
        assert differ <= waiting, f"on {day}: {sorted(differ - waiting)[:10]}"
    assert not done.differences[-1]
    # The shapes were there: the deep restatements changed F, delisted symbols stopped.
    full = data_rows(Path(done.full.sweep.db))
    assert all(key in full for key in deep)
    assert not any(
        key[1] in DELISTED_HK and key[2] >= "2026-05-08" for key in full if key[0] == "short_trades"
    )


def _first_probe(db: Path, pair: tuple[str, str], tables: dict[str, Any]) -> str:
    """The probe the next nightly sweep of ``db`` asks first for ``pair`` (market, endpoint)."""
    with closing(sqlite3.connect(db)) as conn:
        endpoint = pair[1]
        newest = dict(
            ((symbol, endpoint), day)
            for symbol, day in conn.execute(
                f"SELECT symbol, MAX(trade_date) FROM {tables[endpoint].table} GROUP BY symbol"
            )
        )
        (night,) = conn.execute("SELECT COUNT(*) FROM runs WHERE kind = 'sweep'").fetchone()
    knowledge = Knowledge.of(newest, {}, night)
    return rank_probes(probe_candidates(knowledge)[pair], night, 1)[0][0]


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_one_suspended_probe_holds_its_pair_back_one_night_at_most(
    make_settings: Callable[..., Any], tmp_path: Path
) -> None:
    """probe_size = 1, and on the night its suspension begins the suspended symbol is the
    probe (the test finds which symbol that is, then suspends it): that night the probe
    sees nothing new and N misses the others' new day; the next night asks another probe,
    which sees two new days, and from then on N equals F."""
    universe = ("AAPL.US", "MSFT.US", "NVDA.US", "AMZN.US", "700.HK", "5.HK", "388.HK", "16.HK")
    symbols = "".join(f"{symbol}\n" for symbol in universe)
    quiet = GatewaySettings(seed=5, schedules=True, today=START, restate_rate=0.0)
    # Night 0 fills both files; night 1 (2026-05-05) is the suspension's first night. Its
    # probe for HK short_trades (which publishes every trading day) is drawn from night 0's
    # file, so a first walk of one night tells which symbol it will be.
    first = await walk(make_settings, tmp_path / "first", quiet, symbols, days=0,
                       probe_size=1, reread_nights=1000)  # fmt: skip
    probe = _first_probe(Path(first.nightly.sweep.db), ("HK", "short_trades"), table_specs())
    suspended = GatewaySettings(
        seed=5, schedules=True, today=START, restate_rate=0.0, suspended={probe: "2026-05-05"}
    )
    done = await walk(make_settings, tmp_path / "second", suspended, symbols, days=4,
                      probe_size=1, reread_nights=1000)  # fmt: skip
    assert not done.differences[0]
    # The one night: the other HK symbols' 2026-05-05 is missing from N.
    assert {key[:2] for key in done.differences[1]} == {
        ("short_trades", symbol)
        for symbol in universe
        if symbol.endswith(".HK") and symbol != probe
    }
    assert all(not differ for differ in done.differences[2:])


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_a_single_probe_suspended_before_the_walk_never_freezes_its_pair(
    make_settings: Callable[..., Any], tmp_path: Path
) -> None:
    """probe_size = 1 and one suspended symbol that sorts first in each market, suspended
    from the walk's second day: N equals F after every day."""
    universe = ("AA.US", "MSFT.US", "NVDA.US", "AMZN.US", "1.HK", "700.HK", "5.HK", "388.HK")
    symbols = "".join(f"{symbol}\n" for symbol in universe)
    gateway = GatewaySettings(
        seed=7, schedules=True, today=START, restate_rate=0.05,
        suspended={"AA.US": "2026-05-04", "1.HK": "2026-05-04"},
    )  # fmt: skip
    done = await walk(make_settings, tmp_path, gateway, symbols, probe_size=1)
    assert [sorted(differ)[:5] for differ in done.differences] == [[]] * (DAYS + 1)
