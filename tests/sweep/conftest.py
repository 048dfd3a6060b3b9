"""Fixtures for the outage guard tests: a virtual clock, and requests sent through a guard.

Nothing here really waits: a guard's clock and sleep are a ``VirtualTime``, which jumps
from one timer to the next once every task is waiting. (The rate limit reads the loop's
own clock, so tests/upstream/test_rate_limit.py runs a whole event loop on virtual time instead.)
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from harvester.errors import TransportError
from harvester.sweep.outage import OUTAGE_AFTER, Attempt, GuardState, OutageGuard

Sent = tuple[float, bool, GuardState]  # a request that went out: when, as the probe?, state


class VirtualTime:
    """A clock and a sleep for the guard; ``run`` drives tasks from timer to timer.

    A sleep outside ``run`` is a test's mistake (a request held where none
    should be), and so is a run that goes on firing timers without end.
    """

    MOST_TIMERS = 10_000

    def __init__(self, start: float = 100.0) -> None:
        self.start = start  #: the time a test begins at: nothing may assume zero
        self.now = start
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._running = False

    def clock(self) -> float:
        return self.now

    def sleep(self, delay: float) -> asyncio.Future[None]:
        assert self._running, "a sleep outside VirtualTime.run: nothing would wake it"
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(delay, 0.0), next(self._order), future))
        return future

    async def run(self, *coroutines: Coroutine[Any, Any, Any]) -> list[Any]:
        """Run ``coroutines`` to the end; each one's result or exception, in order."""
        self._running = True
        tasks = [asyncio.ensure_future(c) for c in coroutines]
        try:
            for _ in range(self.MOST_TIMERS):
                for _ in range(50):  # let every woken task run up to its next wait
                    await asyncio.sleep(0)
                if all(task.done() for task in tasks):
                    return [task.exception() or task.result() for task in tasks]
                self._fire_next()
            raise AssertionError(f"still running after {self.MOST_TIMERS} timers")
        finally:
            self._running = False
            for task in tasks:
                task.cancel()

    def _fire_next(self) -> None:
        while self._timers:
            when, _, future = heapq.heappop(self._timers)
            if not future.done():  # else a cancelled sleep
                self.now = max(self.now, when)
                future.set_result(None)
                return
        raise AssertionError("tasks are stuck with no timer pending")


class Traffic:
    """Requests through an outage guard on a ``VirtualTime``: failed, answered or retried."""

    where = "http://127.0.0.1:9"  #: the gateway a guard names in its messages

    def __init__(self, vt: VirtualTime) -> None:
        self.vt = vt

    def guard(self, max_wait: float = 600.0) -> OutageGuard:
        """A guard on the virtual clock that gives up after ``max_wait`` seconds."""
        return OutageGuard(max_wait, where=self.where, clock=self.vt.clock, sleep=self.vt.sleep)

    @staticmethod
    def http_502() -> TransportError:
        return TransportError("HTTP 502 from the gateway (text/html)", code="http_502")

    @staticmethod
    def refused() -> TransportError:
        return TransportError(
            "cannot connect to the gateway: ClientConnectorError",
            code="connection_error",
            unreachable=True,
        )

    async def fail(
        self, guard: OutageGuard, symbol: str, error: Callable[[], TransportError] | None = None
    ) -> Attempt:
        """One request for ``symbol`` that meets a transport failure (an HTTP 502 unless told)."""
        attempt = guard.attempt(symbol)
        with pytest.raises(TransportError):
            async with attempt:
                raise (error or self.http_502)()
        return attempt

    async def answer(self, guard: OutageGuard, symbol: str) -> Attempt:
        """One request for ``symbol`` that the gateway answers."""
        async with guard.attempt(symbol) as attempt:
            pass
        return attempt

    async def open(self, guard: OutageGuard) -> None:
        """Open the guard with failures spread over three symbols."""
        for n in range(OUTAGE_AFTER):
            await self.fail(guard, f"S{n % 3}.US")
        assert guard.state is GuardState.OPEN

    async def retrying(
        self,
        guard: OutageGuard,
        symbol: str,
        *,
        failures: int = 0,
        sent: list[Sent],
        takes: float = 0.0,
    ) -> None:
        """Send like the fetch loop: each request takes ``takes`` seconds; fail, then answered."""
        while True:
            attempt = guard.attempt(symbol)
            try:
                async with attempt:
                    sent.append((self.vt.now, attempt.probe, guard.state))
                    await self.vt.sleep(takes)
                    if failures:
                        failures -= 1
                        raise self.http_502()
                return
            except TransportError:
                assert attempt.outage  # costs the task nothing


@pytest.fixture
def vt() -> VirtualTime:
    """A fresh virtual clock, starting at ``vt.start`` (not zero)."""
    return VirtualTime()


@pytest.fixture
def traffic(vt: VirtualTime) -> Traffic:
    """Guards on ``vt`` and the requests a test sends through them."""
    return Traffic(vt)
