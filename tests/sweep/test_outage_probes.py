"""The open guard probes the gateway, one probe at a time, and closes or gives up on time.

Open, it holds every request and probes after ``PROBE_FIRST`` seconds, doubling up to
``PROBE_MAX``: with the canary (the last answered request, sent again) or else with one held
request, while the others wait (half-open). An answer closes it; past ``outage_max`` every
held request gets GatewayUnavailable. Runs on ``vt``, a virtual clock, at exact times.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from harvester.errors import GatewayUnavailable, TransportError
from harvester.sweep.outage import OUTAGE_AFTER, PROBE_FIRST, PROBE_MAX, GuardState, OutageGuard

Sent = tuple[float, bool, GuardState]  # a request that went out: when, as the probe?, state


def failing_canary(vt: Any, times: list[float]) -> Callable[[], Awaitable[bool]]:
    """A canary that notes when it is sent and finds the gateway still down."""

    async def canary() -> bool:
        times.append(vt.now)
        return False

    return canary


async def settled(task: asyncio.Future[None]) -> BaseException | None:
    """``task``'s end, a cancellation included, as a value."""
    try:
        await task
    except asyncio.CancelledError as cancelled:
        return cancelled
    return None


async def held_while_probing(
    traffic: Any,
) -> tuple[OutageGuard, list[Sent], list[tuple[GuardState, int]]]:
    """Five requests held by an outage, the probe taking 2 s; what was sent, and at 1 s."""
    vt = traffic.vt
    guard = traffic.guard()
    await traffic.open(guard)
    sent: list[Sent] = []
    seen: list[tuple[GuardState, int]] = []

    async def look() -> None:
        await vt.sleep(1.0)
        seen.append((guard.state, len(sent)))

    await vt.run(
        *(traffic.retrying(guard, f"H{n}.US", sent=sent, takes=2.0) for n in range(5)), look()
    )
    return guard, sent, seen


async def test_the_canary_probes_after_probe_first_then_doubling_up_to_probe_max(
    vt: Any,
    traffic: Any,
) -> None:
    guard = traffic.guard(max_wait=120.0)
    times: list[float] = []
    guard.canary = failing_canary(vt, times)
    await traffic.open(guard)
    [error] = await vt.run(traffic.answer(guard, "HELD.US"))
    assert isinstance(error, GatewayUnavailable)
    waits = [PROBE_FIRST * 2**n for n in range(5)]  # 0.5, 1, 2, 4, 8 ...
    assert waits[-1] < PROBE_MAX < waits[-1] * 2  # ... then 15, 15, 15
    waits += [PROBE_MAX] * 6
    assert times == list(itertools.accumulate(waits, initial=vt.start))[1:]
    assert times[-1] == vt.start + 105.5  # the next would be at 120.5: past outage_max


async def test_without_a_canary_the_held_request_itself_probes(vt: Any, traffic: Any) -> None:
    guard = traffic.guard()
    await traffic.open(guard)
    sent: list[Sent] = []
    await vt.run(traffic.retrying(guard, "HELD.US", failures=2, sent=sent))
    assert sent == [
        (vt.start + 0.5, True, GuardState.HALF_OPEN),  # fails: open again, the wait doubles
        (vt.start + 1.5, True, GuardState.HALF_OPEN),  # fails again
        (vt.start + 3.5, True, GuardState.HALF_OPEN),  # answered: closed
    ]
    assert guard.state is GuardState.CLOSED


async def test_half_open_lets_exactly_one_probe_through_while_others_are_held(
    vt: Any,
    traffic: Any,
) -> None:
    _, sent, seen = await held_while_probing(traffic)
    assert seen == [(GuardState.HALF_OPEN, 1)]
    assert sent[0] == (vt.start + 0.5, True, GuardState.HALF_OPEN)


async def test_a_successful_probe_closes_it_and_releases_the_held_requests(
    vt: Any, traffic: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    guard, sent, _ = await held_while_probing(traffic)
    assert sent[1:] == [(vt.start + 2.5, False, GuardState.CLOSED)] * 4
    assert guard.state is GuardState.CLOSED and guard.outages == 1
    assert caplog.text.count("answers again") == 1


async def test_a_request_sent_before_the_outage_failing_leaves_the_probe_out(
    vt: Any,
    traffic: Any,
) -> None:
    guard = traffic.guard()
    sent: list[Sent] = []

    async def late() -> None:
        attempt = guard.attempt("LATE.US")
        with pytest.raises(TransportError):
            async with attempt:  # admitted while closed; fails while the probe is out
                await vt.sleep(1.0)
                raise traffic.http_502()
        sent.append((vt.now, attempt.outage, guard.state))

    async def held() -> None:
        await traffic.open(guard)
        await asyncio.gather(
            *(traffic.retrying(guard, f"H{n}.US", sent=sent, takes=2.0) for n in range(2))
        )

    await vt.run(late(), held())
    assert sent == [
        (vt.start + 0.5, True, GuardState.HALF_OPEN),  # the probe
        (vt.start + 1.0, True, GuardState.HALF_OPEN),  # the outage's failure; one probe still
        (vt.start + 2.5, False, GuardState.CLOSED),  # released when the probe is answered
    ]


async def test_the_canary_closes_an_outage_that_was_only_bad_symbols(vt: Any, traffic: Any) -> None:
    guard = traffic.guard()
    asked: list[float] = []

    async def canary() -> bool:
        asked.append(vt.now)
        return True  # a request answered earlier is answered again: the gateway is up

    guard.canary = canary
    await traffic.open(guard)
    sent: list[Sent] = []
    await vt.run(traffic.retrying(guard, "HELD.US", sent=sent))
    assert asked == [vt.start + 0.5]
    assert sent == [(vt.start + 0.5, False, GuardState.CLOSED)]  # not a probe: the canary was
    # The symbols that opened it are suspects now: their failures are their own.
    for n in range(3 * OUTAGE_AFTER):
        assert not (await traffic.fail(guard, f"S{n % 3}.US")).outage
    assert guard.state is GuardState.CLOSED


async def test_it_gives_up_after_outage_max_at_the_exact_virtual_time(
    vt: Any, traffic: Any
) -> None:
    guard = traffic.guard(max_wait=30.0)
    times: list[float] = []
    guard.canary = failing_canary(vt, times)
    await traffic.fail(guard, "A.US", lambda: TransportError("HTTP 503", code="http_503"))
    for _ in range(OUTAGE_AFTER - 1):
        await traffic.fail(guard, "A.US", traffic.refused)
    assert guard.state is GuardState.OPEN
    raised: list[float] = []

    async def held() -> None:
        try:
            await traffic.answer(guard, "HELD.US")
        finally:
            raised.append(vt.now)

    errors = await vt.run(*(held() for _ in range(3)))
    assert raised == [vt.start + 30.0] * 3
    assert times == [vt.start + wait for wait in (0.5, 1.5, 3.5, 7.5, 15.5)]
    assert all(isinstance(error, GatewayUnavailable) for error in errors)
    assert str(errors[0]) == (
        f"the gateway is unavailable: no answer from {traffic.where} for 30s "
        "(last error: cannot connect to the gateway: ClientConnectorError)"
    )


@pytest.mark.parametrize("with_canary", [False, True], ids=["request", "canary"])
async def test_a_cancelled_probe_lets_another_request_probe(
    vt: Any, traffic: Any, with_canary: bool
) -> None:
    guard = traffic.guard()
    asked: list[float] = []

    async def slow_canary() -> bool:
        asked.append(vt.now)
        await vt.sleep(10.0)
        return True

    if with_canary:
        guard.canary = slow_canary
    await traffic.open(guard)
    sent: list[Sent] = []
    first = asyncio.ensure_future(traffic.retrying(guard, "FIRST.US", sent=sent, takes=10.0))

    async def cancel_the_first() -> None:
        await vt.sleep(1.0)
        assert guard.state is GuardState.HALF_OPEN
        first.cancel()

    second = traffic.retrying(guard, "SECOND.US", sent=sent, takes=10.0)
    results = await vt.run(settled(first), second, cancel_the_first())
    assert isinstance(results[0], asyncio.CancelledError)
    if with_canary:
        assert asked == [vt.start + 0.5, vt.start + 1.0]  # the second sends the canary again
        assert sent == [(vt.start + 11.0, False, GuardState.CLOSED)]
    else:
        assert sent == [
            (vt.start + 0.5, True, GuardState.HALF_OPEN),
            (vt.start + 1.0, True, GuardState.HALF_OPEN),
        ]
    assert guard.state is GuardState.CLOSED


async def test_another_exception_abandons_the_probe(vt: Any, traffic: Any) -> None:
    guard = traffic.guard()
    await traffic.open(guard)

    async def stopped() -> None:
        with pytest.raises(LookupError):
            async with guard.attempt("STOP.US") as attempt:
                assert attempt.probe
                raise LookupError("a stop, say")

    await vt.run(stopped())
    assert guard.state is GuardState.OPEN  # no answer, no failure: the next request probes
    sent: list[Sent] = []
    await vt.run(traffic.retrying(guard, "NEXT.US", sent=sent))
    assert sent == [(vt.start + 0.5, True, GuardState.HALF_OPEN)]


async def test_the_repr_names_the_state(vt: Any, traffic: Any) -> None:
    guard = traffic.guard()
    assert repr(guard).startswith("<OutageGuard closed ")
    await traffic.open(guard)
    assert repr(guard).startswith("<OutageGuard open ")
    entered: list[str] = []

    async def probe() -> None:
        async with guard.attempt("P.US"):
            entered.append(repr(guard))

    await vt.run(probe())
    assert entered == [f"<OutageGuard half-open streak={OUTAGE_AFTER} outages=1 suspects=0>"]


async def test_by_default_it_reads_the_loop_clock(traffic: Any) -> None:
    guard = OutageGuard(0.0)  # gives up at once: nothing waits
    await traffic.open(guard)
    with pytest.raises(GatewayUnavailable, match="for 0s"):
        await traffic.answer(guard, "HELD.US")
