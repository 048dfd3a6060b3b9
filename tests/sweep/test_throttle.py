"""The account's pace from outside: a sweep against a simulated gateway whose true limit is
lower than the configured one, and against one whose daily quota runs out.

The gateway runs in a process of its own, the harvester as a subprocess; the
gateway's own counts (``/_stats``) are the judge.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]
Serve = Callable[..., contextlib.AbstractContextManager[Any]]
SYMBOLS = [f"{a}{b}.US" for a in "ABCDEFGH" for b in "JKLMNPQ"]  # 56 symbols, 112 tasks
LATENCY = ("--latency", "0.02", "--latency-jitter", "0.01")
# Configured at twice the gateway's true limit of 20 a second, shared by both endpoints.
FAST = {
    "HARVESTER_ENDPOINTS_SHORT_TRADES_RATE": "20",
    "HARVESTER_ENDPOINTS_SHORT_INTEREST_RATE": "20",
    "HARVESTER_SWEEP_BACKOFF_BASE": "0.05",
}


def stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_stats", timeout=10) as answer:
        return json.loads(answer.read())


def sweep(harvester: Run, folder: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    (folder / "symbols.txt").write_text("\n".join(SYMBOLS) + "\n", encoding="utf-8")
    return harvester(
        "sweep", "--base-url", url, "--json", "-q", *extra, cwd=folder, env=FAST, timeout=90
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(("--overload-answer", "429"), id="429"),
        pytest.param(("--overload-answer", "429_no_retry_after"), id="429-bare"),
        pytest.param(("--overload-answer", "-5"), id="minus-5"),
        pytest.param(("--count-refused",), id="refused-count"),
        pytest.param(("--ratelimit-headers", "ietf"), id="policy"),
    ],
)
def test_a_shared_limit_half_the_configured_one_is_found(
    harvester: Run, gateway_process: Serve, tmp_path: Path, answer: tuple[str, ...]
) -> None:
    with gateway_process(0, "--shared-rate", "20", *LATENCY, *answer) as gateway:
        result = sweep(harvester, tmp_path, gateway.url)
        seen = stats(gateway.url)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["tasks"] == {name: {"ok": len(SYMBOLS)} for name in summary["tasks"]}
    refused = seen["throttle"]["refused"]["shared"]
    # Before: about 3 in 4 refused and a quarter of the tasks failed. Now a few, as it probes.
    assert refused <= 0.06 * seen["total"], seen["throttle"]
    if answer == ("--ratelimit-headers", "ietf"):
        assert refused == 0  # told the limit, it never goes over
    assert max(seen["throttle"]["accepted_per_second"]) <= 20


@pytest.mark.slow
@pytest.mark.parametrize("quota_answer", ["429_long", "403"])
def test_a_spent_quota_stops_the_sweep_and_resume_finishes_the_next_day(
    harvester: Run, gateway_process: Serve, tmp_path: Path, quota_answer: str
) -> None:
    quota = 60
    with gateway_process(0, "--quota", str(quota), "--quota-answer", quota_answer) as gateway:
        stopped = sweep(harvester, tmp_path, gateway.url)
        at_stop = stats(gateway.url)
        request = urllib.request.Request(
            f"{gateway.url}/_sim/today",
            data=b'{"advance": 1}',
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10):
            pass  # the next day: the quota is renewed
        resumed = sweep(harvester, tmp_path, gateway.url, "--resume")
    assert stopped.returncode == 76, stopped.stderr  # not 2: a quota is not bad credentials
    lines = [line for line in stopped.stderr.splitlines() if line.startswith("harvester: error")]
    assert len(lines) == 1 and "quota" in lines[0] and "--resume" in lines[0]
    assert json.loads(stopped.stdout)["status"] == "interrupted"
    # At most a few requests past the first refusal: those already on their way.
    assert at_stop["throttle"]["refused"]["quota"] <= 10, at_stop["throttle"]
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["status"] == "completed" and summary["resumes"] == 1
