"""The rate limit as the client keeps it, on an event loop whose clock is virtual.

aiolimiter reads the running loop's clock and sets the loop's timers, so the
loop itself is virtual here: when it has nothing to do until its next timer,
it moves its clock to that timer instead of sleeping (plus, if asked, a seeded
lateness, as a busy real loop wakes late). Each pass of the loop also costs it
one microsecond, as on a real machine: aiolimiter re-arms a timer whose float
arithmetic lands a hair short, and a clock that never moved would spin on it
for ever. Requests are real ``Client.get``
calls answered by aioresponses; what is checked is when each one was let go.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import re
import selectors
from collections import deque
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest
from aioresponses import aioresponses
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.settings.config import load_settings
from harvester.upstream.client import Client
from harvester.upstream.rate_limit import RateLimit

BASE = "http://gateway.test"
DEADLINE = 3_600.0  # virtual seconds any one scenario may take
PASS_COST = 1e-6  # virtual seconds each pass of the loop takes


class _SkippingSelector(selectors.DefaultSelector):
    """A selector that, asked to wait, moves its loop's clock instead."""

    def __init__(self, lateness: float, seed: int) -> None:
        super().__init__()
        self.now = 0.0
        self._lateness = lateness
        self._random = random.Random(seed)

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None:
            raise AssertionError("the loop would wait forever: nothing is scheduled")
        self.now += PASS_COST
        if timeout > 0:
            self.now += timeout + self._random.uniform(0, self._lateness)
        return super().select(0)


class VirtualLoop(asyncio.SelectorEventLoop):
    """An event loop that never sleeps: its clock jumps to the next timer."""

    def __init__(self, lateness: float = 0.0, seed: int = 0) -> None:
        self._skipping = _SkippingSelector(lateness, seed)
        super().__init__(self._skipping)

    def time(self) -> float:
        return self._skipping.now


def run_virtual(main: Coroutine[Any, Any, Any], lateness: float = 0.0, seed: int = 0) -> Any:
    """Run ``main`` on a fresh virtual loop, failing it after DEADLINE virtual seconds."""
    with asyncio.Runner(loop_factory=lambda: VirtualLoop(lateness, seed)) as runner:
        return runner.run(asyncio.wait_for(main, DEADLINE))


def client_at(rate: float, burst: int, concurrency: int) -> Client:
    endpoint = {"rate": rate, "burst": burst, "concurrency": concurrency}
    settings = load_settings(
        None,
        environ={},
        overrides={
            "gateway": {"base_url": BASE},
            "endpoints.short_trades": endpoint,
            "endpoints.short_interest": endpoint,
        },
    )
    return Client(settings.gateway, settings.endpoints)


@contextlib.asynccontextmanager
async def mocked_client(rate: float, burst: int, callers: int) -> AsyncIterator[Client]:
    """A client at these limits whose every GET aioresponses answers with no data."""
    with aioresponses() as mocked:
        mocked.get(
            re.compile(rf"^{re.escape(BASE)}/"), payload={"code": 0, "data": []}, repeat=True
        )
        async with client_at(rate, burst, concurrency=callers) as client:
            yield client


async def released(
    client: Client, *, callers: int, requests: int, endpoint: str = "short_trades"
) -> list[float]:
    """The loop times at which ``requests`` gets from ``callers`` tasks were let go."""
    loop = asyncio.get_running_loop()
    times: list[float] = []
    work = iter(range(requests))

    async def note() -> None:
        times.append(loop.time())

    async def caller() -> None:
        for i in work:
            await client.get(endpoint, f"/q/{i}", [("count", "1")], before_send=note)

    await asyncio.gather(*(caller() for _ in range(callers)))
    assert len(times) == requests
    return times


async def sweep_at(rate: float, burst: int, *, callers: int, requests: int) -> list[float]:
    """``released`` on a fresh client at these limits."""
    async with mocked_client(rate, burst, callers) as client:
        return await released(client, callers=callers, requests=requests)


def most_in_any_second(times: list[float], width: float = 1.0) -> int:
    """The most events in any half-open window of ``width`` s (one: as the gateway counts)."""
    window: deque[float] = deque()
    most = 0
    for t in sorted(times):
        while window and t - window[0] >= width:
            window.popleft()
        window.append(t)
        most = max(most, len(window))
    return most


def achieved(times: list[float], burst: int) -> float:
    """Requests a second after the opening burst: what the schedule keeps up."""
    steady = sorted(times)[burst:]
    return (len(steady) - 1) / (steady[-1] - steady[0])


@pytest.mark.parametrize(
    ("rate", "burst", "callers", "lateness"),
    [
        (10, 1, 5, 0.0),  # the shipped defaults
        (10, 1, 5, 0.05),  # wake-ups late by up to half an interval
        (100, 1, 16, 0.004),
        # The two high rates are 2,000 requests each, ~2 s of CPU apiece: slow tests.
        pytest.param(500, 1, 32, 0.0015, marks=pytest.mark.slow),  # 75% of an interval late
        pytest.param(500, 5, 32, 0.002, marks=pytest.mark.slow),
        (2.5, 2, 4, 0.1),
    ],
)
def test_the_rate_is_reached_and_no_second_exceeds_rate_plus_burst(
    rate: float,
    burst: int,
    callers: int,
    lateness: float,
) -> None:
    requests = max(int(rate * 4), 40)  # four seconds of work, or 40 requests
    times = run_virtual(
        sweep_at(rate, burst, callers=callers, requests=requests), lateness, seed=int(rate)
    )
    assert achieved(times, burst) >= 0.98 * rate
    assert most_in_any_second(times) <= math.ceil(rate + burst)


@pytest.mark.slow  # 25 examples of up to 300 requests, ~5 s; the cases above are quick
@settings(max_examples=25, deadline=None)
@given(
    rate=st.floats(0.5, 1000),
    burst=st.integers(0, 20),
    callers=st.integers(1, 24),
    lateness=st.floats(0, 0.02),
    seed=st.integers(0, 1_000),
)
def test_no_second_ever_exceeds_rate_plus_burst_rounded_up(
    rate: float,
    burst: int,
    callers: int,
    lateness: float,
    seed: int,
) -> None:
    requests = min(int(rate * 2) + burst + 2, 300)
    times = run_virtual(sweep_at(rate, burst, callers=callers, requests=requests), lateness, seed)
    assert most_in_any_second(times) <= math.ceil(rate + burst)  # a whole request
    guard = RateLimit(rate, burst)  # and the guard window, a little over a second
    assert most_in_any_second(times, guard.window) <= guard.most


def test_burst_zero_holds_to_rate_in_every_second() -> None:
    times = run_virtual(sweep_at(4, 0, callers=3, requests=9))
    # One every 0.25 s from the bucket; the guard window (4 in any 4 / (0.995 * 4) s)
    # holds every fifth request 5 ms longer.
    assert times == pytest.approx(
        [0.0, 0.25, 0.5, 0.75, 1.005, 1.255, 1.505, 1.755, 2.01], abs=1e-3
    )
    assert most_in_any_second(times) == 4


def test_requests_that_bunch_up_are_held_by_the_guard_window() -> None:
    # Wake-ups late by up to five intervals bunch callers together; the guard window
    # over the real release times still keeps every second within rate + burst.
    times = run_virtual(sweep_at(100, 1, callers=16, requests=600), lateness=0.05, seed=7)
    assert most_in_any_second(times, RateLimit(100, 1).window) <= 101


def test_after_an_idle_spell_burst_extra_requests_go_at_once() -> None:
    async def busy_idle_busy() -> list[float]:
        async with mocked_client(10, 3, callers=8) as client:
            times = await released(client, callers=8, requests=4)
            await asyncio.sleep(100)  # an idle spell refills the bucket
            return times + await released(client, callers=8, requests=6)

    times = run_virtual(busy_idle_busy())
    assert times[:4] == pytest.approx([0.0] * 4, abs=1e-3)  # burst 3 above the first
    assert times[4:8] == pytest.approx([100.0] * 4, abs=1e-3)
    assert times[8:] == pytest.approx([100.1, 100.2], abs=1e-3)  # then one every 1 / rate


def test_each_endpoint_has_its_own_limiter() -> None:
    async def both() -> list[list[float]]:
        async with mocked_client(5, 0, callers=2) as client:
            return await asyncio.gather(
                *(
                    released(client, callers=2, requests=10, endpoint=endpoint)
                    for endpoint in ("short_trades", "short_interest")
                )
            )

    alone = run_virtual(sweep_at(5, 0, callers=2, requests=10))
    trades, interest = run_virtual(both())
    assert max(alone) > 1.8  # ten requests at 5 a second
    assert trades == pytest.approx(alone, abs=1e-3)  # neither waits on the other
    assert interest == pytest.approx(alone, abs=1e-3)


def test_the_limiter_reads_the_loop_clock() -> None:
    # The guarantee is kept in the loop's time, the time its timers fire in.
    async def main() -> tuple[float, float]:
        limiter = RateLimit(2, 0)
        loop = asyncio.get_running_loop()
        await limiter.acquire()
        start = loop.time()
        await limiter.acquire()
        return start, loop.time()

    start, end = run_virtual(main())
    assert (start, end) == pytest.approx((0.0, 0.5), abs=1e-3)
