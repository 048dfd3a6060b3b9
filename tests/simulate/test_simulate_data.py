"""The simulated gateway's data is deterministic and consistent with itself.

The same bytes from two gateways and from another process; a day keeps its figures when the
anchor date moves; both endpoints agree on every close; ratios round half up; the draw pool
is standard normal then uniform.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harvester.simulate import Gateway
from harvester.simulate import data as sim_data
from harvester.simulate import dates as sim_dates
from harvester.simulate import draws as sim_draws
from harvester.simulate.symbols import parse_interest_symbol, parse_trades_symbol

TRADES = "short_trades"
INTEREST = "short_interest"

ROOT = Path(__file__).resolve().parents[2]


# --- determinism ----------------------------------------------------------------------


async def test_two_gateways_serve_identical_bytes(call):
    requests = [
        (TRADES, "AAPL.US"),
        (TRADES, "700.HK"),
        (INTEREST, "US.AAPL"),
        (INTEREST, "HK.00700"),
    ]
    bodies = []
    for _ in range(2):
        async with Gateway() as gw:
            bodies.append([(await call(gw, e, s, 50)).body for e, s in requests])
    assert bodies[0] == bodies[1]
    assert bodies[0][0] != bodies[0][1]


def test_data_is_the_same_in_another_process():
    code = (
        "import datetime, orjson\n"
        "from harvester.simulate import data, symbols\n"
        "a = datetime.date(2026, 5, 18)\n"
        "for code in ('NVDA.US', '700.HK'):\n"
        "    s = symbols.parse_trades_symbol(code)\n"
        "    print(orjson.dumps([data.short_trades(s, a, 5), data.short_interest(s, a, 5)]))\n"
    )
    outputs = set()
    for hash_seed in ("1", "2"):
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": path}
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1


# --- properties of the generated data -------------------------------------------------

ANCHOR = dt.date(2026, 5, 18)


@pytest.mark.parametrize("code", ["AAPL.US", "700.HK"])
def test_a_day_keeps_its_figures_when_the_anchor_moves(code):
    symbol = parse_trades_symbol(code)
    monday = sim_data.short_trades(symbol, ANCHOR, 30)
    friday = sim_data.short_trades(symbol, dt.date(2026, 5, 15), 29)
    assert monday[1:] == friday
    # Both markets' newest report stays that of 2026-05-15 until the 20th.
    reports = sim_data.short_interest(symbol, ANCHOR, 20)
    assert reports == sim_data.short_interest(symbol, dt.date(2026, 5, 20), 20)
    assert reports[0]["timestamp_str"] == "2026-05-15"


@pytest.mark.parametrize(("trades", "interest"), [("TSLA.US", "US.TSLA"), ("5.HK", "HK.00005")])
def test_both_endpoints_agree_on_every_close(local_date, trades, interest):
    zone = "America/New_York" if trades.endswith(".US") else "Asia/Hong_Kong"
    days = sim_data.short_trades(parse_trades_symbol(trades), ANCHOR, 100)
    closes = {local_date(r["timestamp"], zone): float(r["close"]) for r in days}
    items = sim_data.short_interest(parse_interest_symbol(interest), ANCHOR, 90)
    checked = 0
    for item in items:
        day = dt.date.fromisoformat(item["timestamp_str"])
        before = sim_dates.previous_trading_day(day)
        if day in closes and before in closes:
            assert item["close_price"] == closes[day]
            assert item["last_close_price"] == closes[before]
            checked += 1
    assert checked >= 5


def test_ratio_rounds_half_up_like_decimal(quantized):
    pairs = [(0, 7), (1, 20000), (3, 60000), (5, 100000), (1, 3), (2, 3), (7, 7), (1, 1)]
    pairs += [(n * 7919 % 10**7, 10**7 + n) for n in range(500)]
    for short, total in pairs:
        assert sim_data.ratio(short, total) == quantized(short, total), (short, total)
    assert sim_data.ratio(3, 2) == "1.5000" and sim_data.ratio(0, 0) == "0.0000"


def test_the_draw_pool_is_standard_normal_then_uniform():
    rows = sim_draws.pool()
    assert len(rows) == sim_draws.POOL_SIZE and len(set(rows)) == len(rows)
    normals = [x for row in rows for x in row[: sim_draws.NORMALS]]
    uniforms = [x for row in rows for x in row[sim_draws.NORMALS :]]
    mean = sum(normals) / len(normals)
    spread = (sum((x - mean) ** 2 for x in normals) / len(normals)) ** 0.5
    assert abs(mean) < 0.02 and abs(spread - 1) < 0.02
    assert sum(abs(x) > 1.96 for x in normals) / len(normals) == pytest.approx(0.05, abs=0.005)
    assert all(0 <= x < 1 for x in uniforms)
    assert sum(uniforms) / len(uniforms) == pytest.approx(0.5, abs=0.01)
    # A symbol's walk passes every row before its days repeat one.
    size = sim_draws.POOL_SIZE
    for first, second in [(0, 0), (5, 2**32 - 1), (2**31, 2**20)]:
        start, stride = sim_draws.walk(first, second)
        assert len({(start + day * stride) % size for day in range(size)}) == size
