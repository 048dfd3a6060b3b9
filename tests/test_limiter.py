"""The rate limiter, on a virtual clock: nothing here really waits."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections import deque
from collections.abc import Coroutine
from typing import Any

import pytest

from harvester.limiter import RateLimiter


class VirtualTime:
    """A clock and a sleep for the limiter; ``run`` drives tasks from timer to timer.

    ``lateness`` makes every wake-up late by up to that many seconds, as on a
    busy event loop.
    """

    def __init__(self, lateness: float = 0.0, seed: int = 0) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._lateness = lateness
        self._random = random.Random(seed)

    def clock(self) -> float:
        return self.now

    def sleep(self, delay: float) -> asyncio.Future[None]:
        late = self._random.uniform(0, self._lateness)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(delay, 0.0) + late, next(self._order), future))
        return future

    async def run(self, *coroutines: Coroutine[Any, Any, None], horizon: float = 600.0,
                  wakeups: int = 100_000) -> None:
        """Drive the tasks to their end: no more than ``horizon`` virtual seconds from now,
        and no more than ``wakeups`` timers, so a limiter that never lets go fails the test
        instead of hanging it."""
        deadline = self.now + horizon
        tasks = [asyncio.ensure_future(c) for c in coroutines]
        try:
            for _ in range(wakeups):
                for _ in range(10):  # let every woken task run up to its next sleep
                    await asyncio.sleep(0)
                if all(task.done() for task in tasks):
                    break
                if not self._timers:
                    raise AssertionError("tasks are stuck with no timer pending")
                when, _, future = heapq.heappop(self._timers)
                if when > deadline:
                    raise AssertionError(f"tasks still running {horizon:g} virtual seconds in")
                self.now = max(self.now, when)
                future.set_result(None)
            else:
                raise AssertionError(f"tasks still running after {wakeups} timers")
        finally:
            for task in tasks:
                task.cancel()  # only those still running; a no-op for the finished
        for task in tasks:
            task.result()


def limiter_on(vt: VirtualTime, rate: float, burst: int) -> RateLimiter:
    return RateLimiter(rate, burst, clock=vt.clock, sleep=vt.sleep)


async def caller(limiter: RateLimiter, vt: VirtualTime, times: list[float], n: int) -> None:
    for _ in range(n):
        await limiter.acquire()
        times.append(vt.now)


def most_in_any_second(times: list[float]) -> int:
    """The most events in any half-open one-second window, as the gateway counts them."""
    window: deque[float] = deque()
    most = 0
    for t in sorted(times):
        while window and t - window[0] >= 1.0:
            window.popleft()
        window.append(t)
        most = max(most, len(window))
    return most


@pytest.mark.parametrize(
    ("rate", "burst", "workers", "lateness"),
    [
        (10, 1, 5, 0.0),
        (100, 1, 16, 0.0),
        (100, 1, 16, 0.004),  # wake-ups late by up to 40% of the interval
        (500, 5, 32, 0.003),
        (100, 0, 8, 0.002),
        (2.5, 2, 4, 0.01),
    ],
)
async def test_the_rate_is_reached_and_no_second_exceeds_rate_plus_burst(
    rate: float, burst: int, workers: int, lateness: float
) -> None:
    vt = VirtualTime(lateness, seed=int(rate))
    limiter = limiter_on(vt, rate, burst)
    times: list[float] = []
    per_worker = max(int(rate * 8) // workers, 10)  # about eight seconds of work
    await vt.run(*(caller(limiter, vt, times, per_worker) for _ in range(workers)))
    total = per_worker * workers
    assert len(times) == total
    achieved = (total - 1) / (max(times) - min(times))
    assert achieved >= 0.98 * rate, f"{achieved:.2f}/s of {rate}/s"
    assert most_in_any_second(times) <= int(rate + burst)


async def test_a_late_wake_up_does_not_push_later_slots_back() -> None:
    # One caller whose every wake-up is late by up to half an interval still averages
    # the full rate, because slots are booked from the schedule, not from the wake-up
    # (burst 0: no tolerance to hide the lateness in).
    vt = VirtualTime(lateness=0.005, seed=3)
    limiter = limiter_on(vt, 100, 0)
    times: list[float] = []
    await vt.run(caller(limiter, vt, times, 1000))
    assert (len(times) - 1) / (times[-1] - times[0]) >= 99.0


async def test_after_an_idle_spell_burst_extra_requests_go_at_once() -> None:
    vt = VirtualTime()
    limiter = limiter_on(vt, 10, 3)
    times: list[float] = []
    await vt.run(caller(limiter, vt, times, 4))
    assert times == [0.0] * 4  # burst 3 above the first
    vt.now = 100.0  # a long idle spell
    await vt.run(caller(limiter, vt, times, 5))
    assert times[4:8] == [100.0] * 4 and times[8] == pytest.approx(100.1)


async def test_burst_zero_spaces_every_request() -> None:
    vt = VirtualTime()
    limiter = limiter_on(vt, 4, 0)
    times: list[float] = []
    await vt.run(caller(limiter, vt, times, 5))
    # The fifth waits for the window: 4 in any 4 / (0.995 * 4) = 1.005 seconds.
    assert times == pytest.approx([0.0, 0.25, 0.5, 0.75, 1 / 0.995])


async def test_the_window_holds_back_callers_that_bunch_up() -> None:
    # Wake-ups late by up to five intervals bunch callers together; the window over
    # the real release times still keeps every second within rate + burst.
    vt = VirtualTime(lateness=0.05, seed=7)
    limiter = limiter_on(vt, 100, 1)
    times: list[float] = []
    await vt.run(*(caller(limiter, vt, times, 200) for _ in range(10)))
    assert most_in_any_second(times) <= 101


async def test_async_with_and_repr() -> None:
    vt = VirtualTime()
    limiter = limiter_on(vt, 50, 2)
    async with limiter:
        pass
    assert repr(limiter) == "<RateLimiter rate=50 burst=2 waiting=0 recent=1>"
    assert limiter.limit == 52 and limiter.window == pytest.approx(52 / (0.995 * 50))
    assert RateLimiter(10, 1).window == pytest.approx(1.1)  # at most MAX_MARGIN over


async def test_on_the_real_loop_clock() -> None:
    limiter = RateLimiter(1000, 10)
    loop = asyncio.get_running_loop()
    times = []
    for _ in range(20):
        await limiter.acquire()
        times.append(loop.time())
    assert times[-1] - times[0] >= 9 / 1000  # 20 requests: 11 at once, then 9 spaced


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (float("inf"), 1), (1, -1)])
def test_bad_settings_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst)
