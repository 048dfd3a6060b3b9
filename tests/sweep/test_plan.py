"""``harvester plan`` as a subprocess, on files made by real sweeps (``swept``, ``copy_swept``).

A missing file is all new; a swept one is probed per market and endpoint (``probe_size``
respected, the probes those ``choose_probes`` ranks first) with followers behind; a file
holding ``dead_after`` runs in a row of ``invalid``, ``unsupported`` or ``no_data`` answers
skips those symbols; ``--full`` fetches everything; the minutes are the slowest endpoint's;
``daily_quota`` warns; ``--json`` parses. Plan never writes the file it reads.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fixtures_swept import GOOD, INVALID, NO_DATA, SWEPT_SYMBOLS, UNSUPPORTED, Swept

from harvester.sweep.incremental import choose_probes

Run = Callable[..., subprocess.CompletedProcess[str]]
ErrorLine = Callable[[subprocess.CompletedProcess[str]], str]
ENDPOINTS = ("short_trades", "short_interest")
#: The swept universe plus a market the gateway does not serve and a duplicate.
UNIVERSE = SWEPT_SYMBOLS + "600519.SH\nUS.AAPL\n"
SYMBOLS = 10  # distinct US and HK symbols of the swept universe


def plan(
    harvester: Run,
    swept: Swept,
    *extra: str,
    db: Path | None = None,
    symbols: Path | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``plan --json`` on the swept file's settings (or ``db``); its parsed output."""
    result = harvester(
        "plan",
        "--config",
        str(swept.config),
        "--symbols",
        str(symbols or swept.symbols),
        "--db",
        str(db or swept.db),
        "--json",
        *extra,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def pairs(found: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The plan's pairs by (endpoint, market)."""
    return {(pair["endpoint"], pair["market"]): pair for pair in found["pairs"]}


def market_of(symbol: str) -> str:
    return symbol.rpartition(".")[2]


@pytest.fixture
def universe(tmp_path: Path) -> Path:
    path = tmp_path / "universe.txt"
    path.write_text(UNIVERSE, encoding="utf-8")
    return path


def test_a_missing_database_makes_every_task_new(
    harvester: Run,
    swept: Swept,
    tmp_path: Path,
    universe: Path,
) -> None:
    db = tmp_path / "none.sqlite"
    found = plan(harvester, swept, db=db, symbols=universe)
    assert (found["database_exists"], found["symbols"], found["duplicates"]) == (False, 11, 1)
    by_pair = pairs(found)
    assert list(by_pair) == [
        (endpoint, market) for endpoint in ENDPOINTS for market in ("US", "HK", "SH")
    ]
    for (_, market), pair in by_pair.items():
        supported = market != "SH"
        expected = sum(
            market_of(s) == market for s in (*GOOD, NO_DATA, UNSUPPORTED, INVALID, "FAILS.US")
        )
        assert pair["new"] == (expected if supported else 0)
        assert pair["unsupported"] == (0 if supported else 1)
        assert pair["probe"] == pair["follow"] == pair["skip"] == pair["fetch"] == 0
    assert found["requests_best"] == found["requests_worst"] == 2 * SYMBOLS
    assert not db.exists(), "plan must not create the database"
    text = harvester(
        "plan", "--config", str(swept.config), "--symbols", str(universe), "--db", str(db)
    )
    assert text.returncode == 0, text.stderr
    assert "(no such file yet: every task is new)" in text.stdout
    assert f"requests: {2 * SYMBOLS} at best" in text.stdout
    assert not db.exists()


def _expected_probes(
    swept: Swept, endpoint: str, market: str, size: int, dead: tuple[str, ...] = ()
) -> list[str]:
    """What ``choose_probes`` picks among the pair's symbols with stored rows, not ``dead``."""
    newest = swept.rows(
        f"SELECT symbol, MAX(trade_date) FROM {endpoint} WHERE market = ? GROUP BY symbol",
        (market,),
    )
    ((night,),) = swept.rows("SELECT COUNT(*) FROM runs WHERE kind = 'sweep'")
    frontier = max(str(day) for _, day in newest)
    candidates = [
        ((str(symbol), endpoint), str(day))
        for symbol, day in newest
        if day == frontier and symbol not in dead
    ]
    ranked = choose_probes(candidates, size, int(night))
    return [symbol for symbol, _ in ranked]


@pytest.mark.parametrize("size", [2, 10])
def test_a_swept_file_is_probed_per_pair_and_the_rest_follow(
    harvester: Run,
    swept: Swept,
    size: int,
) -> None:
    before = swept.db.stat().st_mtime_ns
    found = plan(harvester, swept, env={"HARVESTER_SWEEP_PROBE_SIZE": str(size)})
    assert found["probe_size"] == size and found["full"] is False
    for (endpoint, market), pair in pairs(found).items():
        stored = {
            str(symbol)
            for (symbol,) in swept.rows(
                f"SELECT DISTINCT symbol FROM {endpoint} WHERE market = ?", (market,)
            )
        }
        assert stored == {symbol for symbol in GOOD if market_of(symbol) == market}
        assert pair["probes"] == _expected_probes(swept, endpoint, market, size)
        assert pair["probe"] == min(size, len(stored)) == len(pair["probes"])
        assert pair["follow"] == len(stored) - pair["probe"]
        assert pair["new"] == pair["tasks"] - len(stored)  # no_data, invalid, failing: no rows
        assert pair["skip"] == 0  # one run is not dead_after (3) runs in a row
        assert (pair["requests_best"], pair["requests_worst"]) == (
            pair["probe"] + pair["new"],
            pair["probe"] + pair["new"] + pair["follow"],
        )
    assert found["requests_worst"] == 2 * SYMBOLS
    assert found["requests_best"] == 2 * SYMBOLS - sum(p["follow"] for p in found["pairs"])
    assert swept.db.stat().st_mtime_ns == before, "plan must not write the file it reads"


def _runs_like_the_first(db: Path, count: int) -> None:
    """Add ``count`` runs after the others, each answering every task as the swept one did."""
    with closing(sqlite3.connect(db)) as conn, conn:
        (first,) = conn.execute("SELECT run_id FROM runs ORDER BY rowid LIMIT 1").fetchone()
        (before,) = conn.execute("SELECT COUNT(*) FROM runs").fetchone()
        for number in range(before, before + count):
            later = f"{first}-{number}"
            # Same start, a suffix later: the runs sort in the order they were added.
            conn.execute(
                "INSERT INTO runs (run_id, started_at, finished_at, status, "
                "symbols_file) SELECT ?, started_at || ?, finished_at, status, "
                "symbols_file FROM runs WHERE run_id = ?",
                (later, f"#{number:03d}", first),
            )
            conn.execute(
                "INSERT INTO tasks (run_id, symbol, endpoint, status, attempts, rows, "
                "warnings, error_code, error_message, updated_at) SELECT ?, symbol, "
                "endpoint, status, attempts, rows, warnings, error_code, "
                "error_message, updated_at FROM tasks WHERE run_id = ?",
                (later, first),
            )


def _skipped(found: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {key: pair["skip"] for key, pair in pairs(found).items()}


@pytest.mark.slow  # ~2.5 s of subprocesses; the rule has fast unit tests
def test_dead_symbols_are_skipped_after_dead_after_runs_in_a_row(
    harvester: Run,
    copy_swept: Callable[[], Swept],
) -> None:
    swept = copy_swept()
    _runs_like_the_first(swept.db, 1)
    # Two runs: not yet dead_after (3) in a row.
    assert set(_skipped(plan(harvester, swept)).values()) == {0}
    _runs_like_the_first(swept.db, 1)
    found = plan(harvester, swept)
    # invalid BADX.US, no_data NODATA.US and FAILS.US (failed every time) in the US,
    # unsupported (-8) 29999.HK in HK.
    for endpoint in ENDPOINTS:
        assert _skipped(found)[endpoint, "US"] == 3
        assert _skipped(found)[endpoint, "HK"] == 1
        assert pairs(found)[endpoint, "US"]["new"] == 0
    assert found["requests_worst"] == 2 * SYMBOLS - 2 * 4
    text = harvester(
        "plan",
        "--config",
        str(swept.config),
        "--db",
        str(swept.db),
        "--symbols",
        str(swept.symbols),
    )
    assert "  skip  " in text.stdout.splitlines()[3], text.stdout
    # Each rule of the memory is the configured one: four runs needed, or no_data rechecked now.
    assert set(
        _skipped(plan(harvester, swept, env={"HARVESTER_SWEEP_DEAD_AFTER": "4"})).values()
    ) == {0}
    no_recheck = plan(harvester, swept, env={"HARVESTER_SWEEP_NO_DATA_RECHECK_AFTER": "0"})
    assert _skipped(no_recheck)["short_trades", "US"] == 2
    # A symbol with stored rows that upstream now refuses is skipped, and never a probe.
    with closing(sqlite3.connect(swept.db)) as conn, conn:
        conn.execute("UPDATE tasks SET status = 'invalid' WHERE symbol = 'AAPL.US'")
    refused = pairs(plan(harvester, swept, env={"HARVESTER_SWEEP_PROBE_SIZE": "3"}))
    for endpoint in ENDPOINTS:
        assert refused[endpoint, "US"]["skip"] == 4
        expected = _expected_probes(swept, endpoint, "US", 3, dead=("AAPL.US",))
        assert refused[endpoint, "US"]["probes"] == expected
        assert sorted(refused[endpoint, "US"]["probes"]) == ["MSFT.US", "NVDA.US"]
        assert refused[endpoint, "US"]["follow"] == 0


@pytest.mark.parametrize("how", ["flag", "setting"])
def test_full_fetches_every_supported_task(
    harvester: Run,
    copy_swept: Callable[[], Swept],
    universe: Path,
    how: str,
) -> None:
    swept = copy_swept()
    _runs_like_the_first(swept.db, 2)  # dead symbols too: --full asks them all the same
    flag = ("--full",) if how == "flag" else ()
    env = {"HARVESTER_SWEEP_FULL": "true"} if how == "setting" else None
    found = plan(harvester, swept, *flag, symbols=universe, env=env)
    assert found["full"] is True
    for (_, market), pair in pairs(found).items():
        assert pair["probe"] == pair["follow"] == pair["skip"] == 0 and pair["probes"] == []
        stored = sum(market_of(symbol) == market for symbol in GOOD)
        assert pair["fetch"] == stored
        assert pair["new"] + pair["fetch"] == pair["tasks"] - pair["unsupported"]
    assert found["requests_best"] == found["requests_worst"] == 2 * SYMBOLS
    text = harvester(
        "plan",
        "--config",
        str(swept.config),
        "--db",
        str(swept.db),
        "--symbols",
        str(universe),
        *flag,
        env=env,
    )
    assert "full sweep" in text.stdout and "  fetch  " in text.stdout


def test_minutes_are_the_slowest_endpoints_at_its_rate(
    harvester: Run,
    swept: Swept,
    tmp_path: Path,
) -> None:
    env = {
        "HARVESTER_ENDPOINTS_SHORT_TRADES_RATE": "0.05",
        "HARVESTER_ENDPOINTS_SHORT_INTEREST_RATE": "0.1",
    }
    found = plan(harvester, swept, db=tmp_path / "none.sqlite", env=env)
    # 10 requests per endpoint: 200 s at 0.05/s and 100 s at 0.1/s, in parallel.
    assert found["endpoints"]["short_trades"] == {
        "rate": 0.05,
        "requests_best": SYMBOLS,
        "requests_likely": SYMBOLS,
        "requests_worst": SYMBOLS,
    }
    assert found["minutes_best"] == found["minutes_worst"] == round(200 / 60, 3)
    assert found["minutes_likely"] == found["minutes_best"]  # every task new: no chance in it
    text = harvester(
        "plan",
        "--config",
        str(swept.config),
        "--symbols",
        str(swept.symbols),
        "--db",
        str(tmp_path / "none.sqlite"),
        env=env,
    )
    assert "3m20s at best, 3m20s at worst" in text.stdout, text.stdout


def test_likely_lies_between_best_and_worst_and_says_what_it_rests_on(
    harvester: Run,
    swept: Swept,
) -> None:
    ((served,),) = swept.rows("SELECT served_day FROM runs")
    probes = {"HARVESTER_SWEEP_PROBE_SIZE": "2"}  # followers behind: best < worst
    found = plan(harvester, swept, env=probes)
    # FAILS.US sent five attempts for each endpoint: 28 requests for 20 tasks. It fails
    # again tonight, so likely counts 1.4 requests a fetched task; best and worst one.
    ratio = found["likely"]["requests_per_task"]
    assert (ratio, found["likely"]["sweeps_read"]) == (1.4, 1)
    best, likely, worst = (found[f"requests_{case}"] for case in ("best", "likely", "worst"))
    assert best * ratio < likely < worst * ratio
    # One simulated night: the next is the business day after it, and the calendars decide.
    night = date.fromisoformat(found["likely"]["night"])
    assert night.weekday() < 5 and 0 < (night - date.fromisoformat(served)).days <= 3
    assert found["likely"]["nights"] == [served]
    by_pair = pairs(found)
    trades_hk, trades_us = by_pair["short_trades", "HK"], by_pair["short_trades", "US"]
    assert trades_hk["news"]["probability"] == 1.0  # HK trades: every business day
    assert trades_hk["requests_likely"] == pytest.approx(trades_hk["requests_worst"] * ratio)
    assert trades_us["news"]["probability"] == 0.1  # US trades: every ten
    assert trades_us["requests_likely"] == pytest.approx(
        (trades_us["requests_best"] + 0.1 * trades_us["follow"]) * ratio, abs=0.05
    )
    assert likely == round(sum(p["requests_likely"] for p in found["pairs"]))
    # Three business days after the night swept, US trades had three chances.
    later = date.fromisoformat(served)
    for _ in range(3):
        later += timedelta(days=3 if later.weekday() == 4 else 1)
    three = plan(harvester, swept, "--today", later.isoformat(), env=probes)
    assert three["likely"]["night"] == later.isoformat()
    assert pairs(three)["short_trades", "US"]["news"]["probability"] == pytest.approx(0.271)
    text = harvester(
        "plan",
        "--config",
        str(swept.config),
        "--symbols",
        str(swept.symbols),
        "--db",
        str(swept.db),
        env=probes,
    )
    assert f"likely: {found['requests_likely']} requests" in text.stdout, text.stdout
    assert (
        "  short_trades HK    100%  no night seen; calendar: every 1 business day\n" in text.stdout
    )
    assert "news tonight, " in text.stdout and "by the night of " + served in text.stdout
    assert "likely  worst" in text.stdout.splitlines()[3]


def _quota(quota: int, **more: str) -> dict[str, str]:
    return {"HARVESTER_GATEWAY_DAILY_QUOTA": str(quota), **more}


@pytest.mark.slow  # ~3 s of plan subprocesses; _quota_warnings is pure
def test_a_daily_quota_the_day_may_exceed_is_a_warning(
    harvester: Run,
    copy_swept: Callable[[], Swept],
    tmp_path: Path,
) -> None:
    swept = copy_swept()
    today = datetime.now(UTC).date()
    with closing(sqlite3.connect(swept.db)) as conn, conn:
        # 100 requests went out today (UTC); yesterday's 1000 count against yesterday's quota.
        conn.execute("DELETE FROM requests_by_day")
        conn.execute(
            "INSERT INTO requests_by_day (day, requests) VALUES (?, 100), (?, 1000)",
            (str(today), str(today - timedelta(days=1))),
        )
    probes = {"HARVESTER_SWEEP_PROBE_SIZE": "2"}  # followers behind: best < worst
    found = plan(harvester, swept, env=probes)
    best, worst = found["requests_best"], found["requests_worst"]
    assert (found["daily_quota"], found["requests_today"], found["warnings"]) == (0, 100, [])
    assert best < worst
    assert plan(harvester, swept, env=_quota(100 + worst, **probes))["warnings"] == []
    below = plan(harvester, swept, env=_quota(100 + worst - 1, **probes))
    assert below["warnings"] == [
        f"100 requests sent earlier today (UTC) and the worst case ({worst} requests, every "
        f"pair with news) exceed [gateway] daily_quota ({100 + worst - 1}): the sweep would "
        "stop before the request that would go over it, leaving the run interrupted for "
        "--resume"
    ]
    text = harvester(
        "plan",
        "--config",
        str(swept.config),
        "--symbols",
        str(swept.symbols),
        "--db",
        str(swept.db),
        env=_quota(100 + best - 1, **probes),
    )
    assert text.returncode == 0, text.stderr
    assert f"daily_quota {100 + best - 1}, 100 sent today (UTC)" in text.stdout
    assert text.stdout.splitlines()[-1].startswith(
        f"warning: 100 requests sent earlier today (UTC) and even the best case ({best} "
        f"requests) exceed [gateway] daily_quota ({100 + best - 1})"
    )
    fresh = plan(harvester, swept, db=tmp_path / "none.sqlite", env=_quota(2 * SYMBOLS - 1))
    assert fresh["requests_today"] == 0
    assert fresh["warnings"][0].startswith(
        f"even the best case ({2 * SYMBOLS} requests) exceeds [gateway] daily_quota"
    )


def test_errors_are_one_line_and_exit_2(
    harvester: Run,
    swept: Swept,
    tmp_path: Path,
    error_line: ErrorLine,
) -> None:
    base = ("plan", "--config", str(swept.config))
    missing = tmp_path / "nothing.txt"
    assert f"symbols file {missing}" in error_line(
        harvester(*base, "--symbols", str(missing), "--db", str(swept.db))
    )
    newer = tmp_path / "newer.sqlite"
    with closing(sqlite3.connect(newer)) as conn:
        conn.execute("PRAGMA user_version = 99")
    assert "schema version 99 is newer" in error_line(
        harvester(*base, "--symbols", str(swept.symbols), "--db", str(newer))
    )
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database at all, just text " * 64)
    assert "not an SQLite database" in error_line(
        harvester(*base, "--symbols", str(swept.symbols), "--db", str(garbage))
    )


def test_help_shows_examples(harvester: Run) -> None:
    result = harvester("plan", "-h")
    assert result.returncode == 0
    assert "examples:\n  harvester plan" in result.stdout
    assert "--full" in result.stdout and "--json" in result.stdout
