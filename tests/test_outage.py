"""The outage guard on a virtual clock: an outage is the gateway's, never one symbol's.

Nothing here really waits: the guard's clock and sleep are a VirtualTime,
which jumps from one timer to the next once every task is waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from harvester.errors import GatewayUnavailable, InvalidRequest, MalformedResponse, TransportError
from harvester.outage import (
    OUTAGE_AFTER,
    PROBE_FIRST,
    PROBE_MAX,
    Attempt,
    GuardState,
    OutageGuard,
)

WHERE = "http://127.0.0.1:9"
START = 100.0  # the virtual time a test begins at: nothing may assume zero
Sent = tuple[float, bool, GuardState]  # a request that went out: when, as the probe?, state


class VirtualTime:
    """A clock and a sleep for the guard; ``run`` drives tasks from timer to timer.

    A sleep outside ``run`` is a test's mistake (a request held where none
    should be), and so is a run that goes on firing timers without end.
    """

    MOST_TIMERS = 10_000

    def __init__(self) -> None:
        self.now = START
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


@pytest.fixture
def vt() -> VirtualTime:
    return VirtualTime()


def guard_on(vt: VirtualTime, max_wait: float = 600.0) -> OutageGuard:
    return OutageGuard(max_wait, where=WHERE, clock=vt.clock, sleep=vt.sleep)


def http_502() -> TransportError:
    return TransportError("HTTP 502 from the gateway (text/html)", code="http_502")


def refused() -> TransportError:
    return TransportError("cannot connect to the gateway: ClientConnectorError",
                          code="connection_error", unreachable=True)


async def fail(guard: OutageGuard, symbol: str,
               error: Callable[[], TransportError] = http_502) -> Attempt:
    """One request for ``symbol`` that meets a transport failure."""
    attempt = guard.attempt(symbol)
    with pytest.raises(TransportError):
        async with attempt:
            raise error()
    return attempt


async def answer(guard: OutageGuard, symbol: str) -> Attempt:
    """One request for ``symbol`` that the gateway answers."""
    async with guard.attempt(symbol) as attempt:
        pass
    return attempt


async def open_it(guard: OutageGuard) -> None:
    """Open the guard with failures spread over three symbols."""
    for n in range(OUTAGE_AFTER):
        await fail(guard, f"S{n % 3}.US")
    assert guard.state is GuardState.OPEN


def failing_canary(vt: VirtualTime, times: list[float]) -> Callable[[], Awaitable[bool]]:
    async def canary() -> bool:
        times.append(vt.now)
        return False

    return canary


async def retrying(vt: VirtualTime, guard: OutageGuard, symbol: str, *, failures: int = 0,
                   sent: list[Sent], takes: float = 0.0) -> None:
    """Send like the fetch loop: each request takes ``takes`` seconds; fail, then be answered."""
    while True:
        attempt = guard.attempt(symbol)
        try:
            async with attempt:
                sent.append((vt.now, attempt.probe, guard.state))
                await vt.sleep(takes)
                if failures:
                    failures -= 1
                    raise http_502()
            return
        except TransportError:
            assert attempt.outage  # costs the task nothing


async def settled(task: asyncio.Future[None]) -> BaseException | None:
    """``task``'s end, a cancellation included, as a value."""
    try:
        await task
    except asyncio.CancelledError as cancelled:
        return cancelled
    return None


async def held_while_probing(
    vt: VirtualTime,
) -> tuple[OutageGuard, list[Sent], list[tuple[GuardState, int]]]:
    """Five requests held by an outage, the probe taking 2 s; what was sent, and at 1 s."""
    guard = guard_on(vt)
    await open_it(guard)
    sent: list[Sent] = []
    seen: list[tuple[GuardState, int]] = []

    async def look() -> None:
        await vt.sleep(1.0)
        seen.append((guard.state, len(sent)))

    await vt.run(*(retrying(vt, guard, f"H{n}.US", sent=sent, takes=2.0) for n in range(5)),
                 look())
    return guard, sent, seen


# Closed: what opens it -----------------------------------------------------------------------


async def test_one_symbol_failing_forever_never_opens_it(vt: VirtualTime) -> None:
    guard = guard_on(vt)
    for _ in range(10 * OUTAGE_AFTER):
        assert not (await fail(guard, "BAD.US")).outage
    assert guard.state is GuardState.CLOSED and guard.outages == 0


async def test_two_symbols_are_not_enough_three_are(
    vt: VirtualTime, caplog: pytest.LogCaptureFixture
) -> None:
    guard = guard_on(vt)
    for n in range(OUTAGE_AFTER):
        assert not (await fail(guard, ("A.US", "B.US")[n % 2])).outage
    assert guard.state is GuardState.CLOSED
    assert (await fail(guard, "C.US")).outage  # the failure that opens it is the outage's
    assert guard.state is GuardState.OPEN and guard.outages == 1
    assert f"the gateway ({WHERE}) looks down" in caplog.text


async def test_spread_failures_below_the_threshold_do_not_open_it(vt: VirtualTime) -> None:
    guard = guard_on(vt)
    for n in range(OUTAGE_AFTER - 1):
        await fail(guard, f"S{n}.US")
    await answer(guard, "OK.US")  # an answer in between: the streak starts again
    assert not (await fail(guard, "T.US")).outage
    assert guard.state is GuardState.CLOSED


async def test_any_answer_but_a_transport_failure_means_the_gateway_is_up(
    vt: VirtualTime,
) -> None:
    guard = guard_on(vt)
    for refusal in (InvalidRequest("HTTP 400", code="http_400"), MalformedResponse("<html>")):
        for n in range(OUTAGE_AFTER - 1):
            await fail(guard, f"S{n}.US")
        with pytest.raises(type(refusal)):
            async with guard.attempt("X.US"):
                raise refusal
        await fail(guard, "T.US")
        assert guard.state is GuardState.CLOSED


async def test_no_connection_at_all_opens_it_with_a_single_symbol(vt: VirtualTime) -> None:
    guard = guard_on(vt)
    outage = [(await fail(guard, "ONLY.US", refused)).outage for _ in range(OUTAGE_AFTER)]
    assert outage == [False] * (OUTAGE_AFTER - 1) + [True]
    assert guard.state is GuardState.OPEN


async def test_a_symbol_that_failed_while_others_answered_is_a_suspect(vt: VirtualTime) -> None:
    guard = guard_on(vt)
    await fail(guard, "BAD1.US")
    await fail(guard, "BAD2.US")
    await answer(guard, "GOOD.US")  # the gateway was up while those two failed
    for _ in range(OUTAGE_AFTER):
        for symbol in ("BAD1.US", "BAD2.US", "NEW.US"):
            assert not (await fail(guard, symbol)).outage
    assert guard.state is GuardState.CLOSED  # only NEW counts: one symbol
    await answer(guard, "BAD1.US")  # answered at last: no longer a suspect
    for n in range(OUTAGE_AFTER):
        await fail(guard, ("BAD1.US", "X.US", "Y.US")[n % 3])
    assert guard.state is GuardState.OPEN


async def test_failures_of_requests_already_out_when_it_opens_are_the_outages(
    vt: VirtualTime,
) -> None:
    guard = guard_on(vt)
    late = guard.attempt("LATE.US")
    with pytest.raises(TransportError):
        async with late:  # admitted while closed, fails once the guard is open
            await open_it(guard)
            raise http_502()
    assert late.outage and not late.probe


# Open and half-open: the probes ---------------------------------------------------------------


async def test_the_canary_probes_after_probe_first_then_doubling_up_to_probe_max(
    vt: VirtualTime,
) -> None:
    guard = guard_on(vt, max_wait=120.0)
    times: list[float] = []
    guard.canary = failing_canary(vt, times)
    await open_it(guard)
    [error] = await vt.run(answer(guard, "HELD.US"))
    assert isinstance(error, GatewayUnavailable)
    waits = [PROBE_FIRST * 2**n for n in range(5)]  # 0.5, 1, 2, 4, 8 ...
    assert waits[-1] < PROBE_MAX < waits[-1] * 2  # ... then 15, 15, 15
    waits += [PROBE_MAX] * 6
    assert times == list(itertools.accumulate(waits, initial=START))[1:]
    assert times[-1] == START + 105.5  # the next would be at 120.5: past outage_max


async def test_without_a_canary_the_held_request_itself_probes(vt: VirtualTime) -> None:
    guard = guard_on(vt)
    await open_it(guard)
    sent: list[Sent] = []
    await vt.run(retrying(vt, guard, "HELD.US", failures=2, sent=sent))
    assert sent == [
        (START + 0.5, True, GuardState.HALF_OPEN),  # fails: open again, the wait doubles
        (START + 1.5, True, GuardState.HALF_OPEN),  # fails again
        (START + 3.5, True, GuardState.HALF_OPEN),  # answered: closed
    ]
    assert guard.state is GuardState.CLOSED


async def test_half_open_lets_exactly_one_probe_through_while_others_are_held(
    vt: VirtualTime,
) -> None:
    _, sent, seen = await held_while_probing(vt)
    assert seen == [(GuardState.HALF_OPEN, 1)]
    assert sent[0] == (START + 0.5, True, GuardState.HALF_OPEN)


async def test_a_successful_probe_closes_it_and_releases_the_held_requests(
    vt: VirtualTime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    guard, sent, _ = await held_while_probing(vt)
    assert sent[1:] == [(START + 2.5, False, GuardState.CLOSED)] * 4
    assert guard.state is GuardState.CLOSED and guard.outages == 1
    assert caplog.text.count("answers again") == 1


async def test_a_request_sent_before_the_outage_failing_leaves_the_probe_out(
    vt: VirtualTime,
) -> None:
    guard = guard_on(vt)
    sent: list[Sent] = []

    async def late() -> None:
        attempt = guard.attempt("LATE.US")
        with pytest.raises(TransportError):
            async with attempt:  # admitted while closed; fails while the probe is out
                await vt.sleep(1.0)
                raise http_502()
        sent.append((vt.now, attempt.outage, guard.state))

    async def held() -> None:
        await open_it(guard)
        await asyncio.gather(*(retrying(vt, guard, f"H{n}.US", sent=sent, takes=2.0)
                               for n in range(2)))

    await vt.run(late(), held())
    assert sent == [
        (START + 0.5, True, GuardState.HALF_OPEN),  # the probe
        (START + 1.0, True, GuardState.HALF_OPEN),  # the outage's failure; one probe still
        (START + 2.5, False, GuardState.CLOSED),  # released when the probe is answered
    ]


async def test_the_canary_closes_an_outage_that_was_only_bad_symbols(vt: VirtualTime) -> None:
    guard = guard_on(vt)
    asked: list[float] = []

    async def canary() -> bool:
        asked.append(vt.now)
        return True  # a request answered earlier is answered again: the gateway is up

    guard.canary = canary
    await open_it(guard)
    sent: list[Sent] = []
    await vt.run(retrying(vt, guard, "HELD.US", sent=sent))
    assert asked == [START + 0.5]
    assert sent == [(START + 0.5, False, GuardState.CLOSED)]  # not a probe: the canary was
    # The symbols that opened it are suspects now: their failures are their own.
    for n in range(3 * OUTAGE_AFTER):
        assert not (await fail(guard, f"S{n % 3}.US")).outage
    assert guard.state is GuardState.CLOSED


async def test_it_gives_up_after_outage_max_at_the_exact_virtual_time(vt: VirtualTime) -> None:
    guard = guard_on(vt, max_wait=30.0)
    times: list[float] = []
    guard.canary = failing_canary(vt, times)
    await fail(guard, "A.US", lambda: TransportError("HTTP 503", code="http_503"))
    for _ in range(OUTAGE_AFTER - 1):
        await fail(guard, "A.US", refused)
    assert guard.state is GuardState.OPEN
    raised: list[float] = []

    async def held() -> None:
        try:
            await answer(guard, "HELD.US")
        finally:
            raised.append(vt.now)

    errors = await vt.run(*(held() for _ in range(3)))
    assert raised == [START + 30.0] * 3
    assert times == [START + 0.5, START + 1.5, START + 3.5, START + 7.5, START + 15.5]
    assert all(isinstance(error, GatewayUnavailable) for error in errors)
    assert str(errors[0]) == (
        f"the gateway is unavailable: no answer from {WHERE} for 30s "
        "(last error: cannot connect to the gateway: ClientConnectorError)"
    )


@pytest.mark.parametrize("with_canary", [False, True], ids=["request", "canary"])
async def test_a_cancelled_probe_lets_another_request_probe(
    vt: VirtualTime, with_canary: bool
) -> None:
    guard = guard_on(vt)
    asked: list[float] = []

    async def slow_canary() -> bool:
        asked.append(vt.now)
        await vt.sleep(10.0)
        return True

    if with_canary:
        guard.canary = slow_canary
    await open_it(guard)
    sent: list[Sent] = []
    first = asyncio.ensure_future(retrying(vt, guard, "FIRST.US", sent=sent, takes=10.0))

    async def cancel_the_first() -> None:
        await vt.sleep(1.0)
        assert guard.state is GuardState.HALF_OPEN
        first.cancel()

    second = retrying(vt, guard, "SECOND.US", sent=sent, takes=10.0)
    results = await vt.run(settled(first), second, cancel_the_first())
    assert isinstance(results[0], asyncio.CancelledError)
    if with_canary:
        assert asked == [START + 0.5, START + 1.0]  # the second sends the canary again
        assert sent == [(START + 11.0, False, GuardState.CLOSED)]
    else:
        assert sent == [(START + 0.5, True, GuardState.HALF_OPEN),
                        (START + 1.0, True, GuardState.HALF_OPEN)]
    assert guard.state is GuardState.CLOSED


async def test_another_exception_abandons_the_probe(vt: VirtualTime) -> None:
    guard = guard_on(vt)
    await open_it(guard)

    async def stopped() -> None:
        with pytest.raises(LookupError):
            async with guard.attempt("STOP.US") as attempt:
                assert attempt.probe
                raise LookupError("a stop, say")

    await vt.run(stopped())
    assert guard.state is GuardState.OPEN  # no answer, no failure: the next request probes
    sent: list[Sent] = []
    await vt.run(retrying(vt, guard, "NEXT.US", sent=sent))
    assert sent == [(START + 0.5, True, GuardState.HALF_OPEN)]


async def test_the_repr_names_the_state(vt: VirtualTime) -> None:
    guard = guard_on(vt)
    assert repr(guard).startswith("<OutageGuard closed ")
    await open_it(guard)
    assert repr(guard).startswith("<OutageGuard open ")
    entered: list[str] = []

    async def probe() -> None:
        async with guard.attempt("P.US"):
            entered.append(repr(guard))

    await vt.run(probe())
    assert entered == [f"<OutageGuard half-open streak={OUTAGE_AFTER} outages=1 suspects=0>"]


async def test_by_default_it_reads_the_loop_clock() -> None:
    guard = OutageGuard(0.0)  # gives up at once: nothing waits
    await open_it(guard)
    with pytest.raises(GatewayUnavailable, match="for 0s"):
        await answer(guard, "HELD.US")
