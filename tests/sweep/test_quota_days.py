"""The daily quota counts what was sent, on the UTC day it was sent, with the gateway counting.

The simulated gateway's own quota (``GatewaySettings(quota=...)``, by its wall clock's UTC
day) is the judge: it refuses (429) every request over its quota, so a harvester that keeps
its own count right never sees one of those refusals. In process, one injected clock is both
the harvester's and the gateway's, and it crosses UTC midnight in the middle of a sweep; as
processes, a sweep is killed with SIGKILL halfway through its quota and resumed.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from harvester.model import RunStatus, StopKind
from harvester.simulate import Gateway, GatewaySettings
from harvester.store.store import Store
from harvester.sweep.quota import BLOCK, DailyQuota
from harvester.sweep.run import run_sweep

DAY1 = datetime(2026, 5, 18, 23, 59, 0, tzinfo=UTC)
SYMBOLS = 60  # 120 tasks, one request each
QUOTA = 100
UNIVERSE = "".join(f"Q{i:03d}.US\n" for i in range(SYMBOLS))


class Wall:
    """One clock for the harvester and the gateway: moved by the test, or by the requests
    the gateway has received (``flips``: from that many on, that time)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.flips: list[tuple[int, datetime]] = []
        self.gateway: Gateway | None = None

    def __call__(self) -> datetime:
        received = self.gateway.stats.total if self.gateway is not None else 0
        for count, then in self.flips:
            if received >= count and then > self.now:
                self.now = then
        return self.now

    def unix(self) -> float:
        """The gateway's clock: the time as the harvester last read it (flips are read by the
        harvester as it is about to send, so each request is on one day for both)."""
        return self.now.timestamp()


def _by_day(db: Path) -> dict[str, int]:
    with closing(sqlite3.connect(db)) as conn:
        return dict(conn.execute("SELECT day, requests FROM requests_by_day ORDER BY day"))


def _quota_refused(gateway: Gateway) -> int:
    throttle: dict[str, Any] = gateway.stats.as_dict()["throttle"]  # type: ignore[assignment]
    return int(throttle["refused"]["quota"])


@pytest.mark.timeout(60)
async def test_the_count_is_written_ahead_of_the_requests_and_unused_blocks_are_given_back(
    tmp_path: Path,
) -> None:
    wall = Wall(DAY1)
    async with Store(tmp_path / "q.sqlite") as store:
        quota = DailyQuota(7, store, wall)
        assert [await quota.take() for _ in range(3)] == [True] * 3
        # Written before they went out: a block ahead, never behind.
        assert await store.requests_on("2026-05-18") == BLOCK
        assert [await quota.take() for _ in range(5)] == [True] * 4 + [False]
        assert quota.reached and await store.requests_on("2026-05-18") == 7
        await quota.note()  # an outage probe goes out whatever the quota: counted all the same
        assert await store.requests_on("2026-05-18") == 8
        wall.now = DAY1 + timedelta(minutes=2)  # the next UTC day: a fresh quota
        assert await quota.take() and not quota.reached
        await quota.settle()
        assert await store.requests_on("2026-05-18") == 8
        assert await store.requests_on("2026-05-19") == 1
        # Another invocation the same day starts from what the file holds.
        again = DailyQuota(2, store, wall)
        assert [await again.take() for _ in range(2)] == [True, False]


@pytest.mark.timeout(120)
async def test_a_sweep_across_utc_midnight_counts_each_request_on_its_own_day(
    tmp_path: Path, make_settings: Callable[..., Any]
) -> None:
    """Day 1 has 90 of its 100 requests spent already; midnight comes after 8 more requests.
    The sweep goes on against day 2's quota, stops at it, and its resumes go on on day 3;
    the gateway, counting by the same clock, refuses nothing."""
    wall = Wall(DAY1)
    wall.flips.append((8, DAY1 + timedelta(minutes=2)))
    async with Store(tmp_path / "h.sqlite") as store:  # the file make_settings names
        await store.add_requests("2026-05-18", 90)
    # One request at a time, so the clock moves between two requests, never during one.
    single = {"gateway": {"daily_quota": QUOTA, "concurrency": 1}, "sweep": {"workers": 1}}
    async with Gateway(GatewaySettings(quota=QUOTA, today=DAY1.date()), wall=wall.unix) as gateway:
        wall.gateway = gateway
        ran = make_settings(gateway.url, UNIVERSE, **single)
        first = await run_sweep(ran, clock=wall)
        assert first.stop_kind is StopKind.QUOTA
        day2 = gateway.stats.total - 8
        # Day 1: the 8 before midnight (90 + 8 <= 100); day 2: its whole quota, not one more.
        assert _by_day(Path(ran.sweep.db)) == {"2026-05-18": 98, "2026-05-19": QUOTA}
        assert day2 == QUOTA and first.requests == 8 + QUOTA
        # Resumed the same day: nothing goes out, and it stops again.
        again = await run_sweep(ran, resume=True, clock=wall)
        assert again.stop_kind is StopKind.QUOTA and again.requests == 0
        # The next day it goes on and finishes.
        wall.now = DAY1 + timedelta(days=1, minutes=2)
        last = await run_sweep(ran, resume=True, clock=wall)
        assert last.status is RunStatus.COMPLETED and last.run_id == first.run_id
        assert last.requests == 2 * SYMBOLS - 8 - QUOTA
        assert _quota_refused(gateway) == 0
    assert _by_day(Path(ran.sweep.db))["2026-05-20"] == last.requests


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_sweep_killed_halfway_never_lets_its_resume_go_over_the_quota(
    tmp_path: Path,
    gateway_process: Callable[..., Any],
    start_sweep: Callable[..., subprocess.Popen[str]],
    harvester: Callable[..., subprocess.CompletedProcess[str]],
    served: Callable[[str], int],
    wait_until: Callable[[Callable[[], object], float, str], None],
) -> None:
    """A gateway with a quota of 100 a day, answering slowly; the sweep's quota is the same.
    SIGKILL at about 50 requests; the resumed sweep stops at the quota, and the gateway has
    received at most 100 requests (it refused none for its quota)."""
    symbols = tmp_path / "symbols.txt"
    symbols.write_text(UNIVERSE, encoding="utf-8")
    db = tmp_path / "h.sqlite"
    with gateway_process(0, "--quota", str(QUOTA), "--latency", "0.05") as gateway:
        env = {"HARVESTER_GATEWAY_DAILY_QUOTA": str(QUOTA)}
        args = ["sweep", "--base-url", gateway.url, "--symbols", str(symbols), "--db", str(db)]
        sweep = start_sweep([*args, "-q"], env=env)
        wait_until(lambda: served(gateway.url) >= QUOTA // 2, 60, "half the quota served")
        sweep.kill()  # SIGKILL, by the pid this test started
        sweep.wait(timeout=10)
        killed_at = served(gateway.url)
        assert killed_at < QUOTA, "the sweep finished its quota before it could be killed"
        resumed = harvester(*args, "--resume", "-q", env=env, timeout=120)
        assert resumed.returncode == 76, resumed.stderr
        total = served(gateway.url)
        assert total <= QUOTA
        # Nearly all of it: the kill lost at most a block of the day's count.
        assert total >= QUOTA - BLOCK
        assert "daily_quota" in resumed.stderr.splitlines()[-1]


@pytest.mark.timeout(60)
async def test_a_run_the_quota_stopped_resumes_days_later_whatever_resume_max_age_says(
    tmp_path: Path, make_settings: Callable[..., Any]
) -> None:
    wall = Wall(DAY1)
    async with Gateway(GatewaySettings(today=DAY1.date())) as gateway:
        ran = make_settings(
            gateway.url, UNIVERSE, gateway={"daily_quota": 30}, sweep={"resume_max_age": 1.0}
        )
        first = await run_sweep(ran, clock=wall)
        assert first.stop_kind is StopKind.QUOTA
        # Three days later (its start moved back: the age is the real clock's).
        with closing(sqlite3.connect(ran.sweep.db)) as conn, conn:
            conn.execute(
                "UPDATE runs SET started_at = '2026-05-15T23:00:00.000Z' WHERE run_id = ?",
                (first.run_id,),
            )
        wall.now = DAY1 + timedelta(days=3)
        later = await run_sweep(ran, resume=True, clock=wall)
        assert later.resumed and later.run_id == first.run_id
        assert later.requests == 30
        # Another reason for the stop: too old to resume, as before.
        with closing(sqlite3.connect(ran.sweep.db)) as conn, conn:
            conn.execute(
                "UPDATE runs SET started_at = '2026-05-15T23:00:00.000Z', "
                "stop_reason = 'stopped by a signal' WHERE run_id = ?",
                (first.run_id,),
            )
        fresh = await run_sweep(ran, resume=True, clock=wall)
        assert not fresh.resumed and fresh.run_id != first.run_id
