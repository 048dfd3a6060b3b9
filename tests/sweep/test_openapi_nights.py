"""Nights in the OpenAPI dialect, from outside: nightly probes, views, ``check`` and ``--as-of``.

A simulated OpenAPI in a process of its own, publishing on its calendars and
restating now and then, stepped through business days; the harvester swept
nightly as a subprocess with the SDK's variables, as a user would run it.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harvester.simulate import DEMO_ACCESS_TOKEN, DEMO_APP_KEY, DEMO_APP_SECRET

SYMBOLS = ["AAPL.US", "MSFT.US", "SPY.US", "TSLA.US", "700.HK", "9988.HK", "5.HK", "388.HK"]
Run = Callable[..., subprocess.CompletedProcess[str]]


def environment(url: str) -> dict[str, str]:
    return {
        "HARVESTER_GATEWAY_API": "openapi",
        "LONGBRIDGE_APP_KEY": DEMO_APP_KEY,
        "LONGBRIDGE_APP_SECRET": DEMO_APP_SECRET,
        "LONGBRIDGE_ACCESS_TOKEN": DEMO_ACCESS_TOKEN,
        "LONGBRIDGE_HTTP_URL": url,
        "HARVESTER_SWEEP_PROBE_SIZE": "1",
    }


def advance(url: str, days: int) -> None:
    """Step the gateway's served day by ``days`` business days."""
    request = urllib.request.Request(
        f"{url}/_sim/today",
        data=json.dumps({"advance": days}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def served_day(url: str) -> str:
    """The gateway's served day: ``check`` judges the data's freshness as of it."""
    with urllib.request.urlopen(f"{url}/_sim/today", timeout=10) as answer:
        return str(json.loads(answer.read())["today"])


def sweep(harvester: Run, folder: Path, url: str) -> dict[str, Any]:
    result = harvester("sweep", "--json", "-q", cwd=folder, env=environment(url))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def one(db: Path, sql: str) -> Any:
    with sqlite3.connect(db) as connection:
        return connection.execute(sql).fetchone()[0]


@pytest.mark.slow
def test_nights_in_the_openapi_dialect(
    harvester: Run, gateway_process: Callable[..., Any], tmp_path: Path
) -> None:
    (tmp_path / "symbols.txt").write_text("\n".join(SYMBOLS) + "\n")
    db = tmp_path / "harvest.sqlite"
    with gateway_process(0, "--api", "openapi", "--schedules") as gateway:
        first = sweep(harvester, tmp_path, gateway.url)
        assert set(first["tasks"]) == {"short_trades", "short_positions"}
        assert first["tasks"]["short_positions"] == {"ok": len(SYMBOLS)}
        after_first = one(db, "SELECT MAX(finished_at) FROM runs")
        stored_first = one(db, "SELECT COUNT(*) FROM short_positions")
        # A night with nothing new: the probes see so, the others end unchanged.
        quiet = sweep(harvester, tmp_path, gateway.url)
        assert quiet["requests"] < first["requests"]
        assert quiet["tasks"]["short_positions"].get("unchanged", 0) > 0
        checked = harvester("check", "--today", served_day(gateway.url), cwd=tmp_path)
        assert checked.returncode == 0, checked.stdout
        # Two weeks on: new days, new reports, perhaps restatements.
        advance(gateway.url, 10)
        later = sweep(harvester, tmp_path, gateway.url)
        assert later["status"] == "completed" and later["rows_written"] > 0
        today = served_day(gateway.url)
    checked = harvester("check", "--today", today, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout
    assert one(db, "SELECT COUNT(*) FROM short_positions") > stored_first
    for view in ("latest_short_positions", "us_short_positions", "hk_short_positions"):
        assert one(db, f"SELECT COUNT(*) FROM {view}") > 0
    assert one(db, "SELECT COUNT(*) FROM latest_short_positions") == len(SYMBOLS)
    # As of the first night, the file shows what it held then, and nothing newer.
    shown = harvester(
        "show",
        "700.HK",
        "--endpoint",
        "short_positions",
        "--as-of",
        after_first,
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert shown.returncode == 0, shown.stderr
    then = json.loads(shown.stdout)
    now = json.loads(
        harvester(
            "show", "700.HK", "--endpoint", "short_positions", "--format", "json", cwd=tmp_path
        ).stdout
    )
    assert then and len(then) < len(now)
    newest_then = max(row["trade_date"] for row in then)
    assert newest_then < max(row["trade_date"] for row in now)
