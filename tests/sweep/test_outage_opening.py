"""What opens the outage guard: failures spread over symbols, never one symbol failing alone.

The guard starts closed; a streak of transport failures over three symbols (or no connection
at all) opens it, any answer resets the streak, and a symbol that failed while others were
answered is a suspect whose failures are its own. Runs on ``vt``, a virtual clock.
"""

from __future__ import annotations

from typing import Any

import pytest

from harvester.errors import InvalidRequest, MalformedResponse, TransportError
from harvester.sweep.outage import OUTAGE_AFTER, GuardState


async def test_one_symbol_failing_forever_never_opens_it(traffic: Any) -> None:
    guard = traffic.guard()
    for _ in range(10 * OUTAGE_AFTER):
        assert not (await traffic.fail(guard, "BAD.US")).outage
    assert guard.state is GuardState.CLOSED and guard.outages == 0


async def test_two_symbols_are_not_enough_three_are(
    traffic: Any, caplog: pytest.LogCaptureFixture
) -> None:
    guard = traffic.guard()
    for n in range(OUTAGE_AFTER):
        assert not (await traffic.fail(guard, ("A.US", "B.US")[n % 2])).outage
    assert guard.state is GuardState.CLOSED
    assert (await traffic.fail(guard, "C.US")).outage  # the failure that opens it is the outage's
    assert guard.state is GuardState.OPEN and guard.outages == 1
    assert f"the gateway ({traffic.where}) looks down" in caplog.text


async def test_spread_failures_below_the_threshold_do_not_open_it(traffic: Any) -> None:
    guard = traffic.guard()
    for n in range(OUTAGE_AFTER - 1):
        await traffic.fail(guard, f"S{n}.US")
    await traffic.answer(guard, "OK.US")  # an answer in between: the streak starts again
    assert not (await traffic.fail(guard, "T.US")).outage
    assert guard.state is GuardState.CLOSED


async def test_any_answer_but_a_transport_failure_means_the_gateway_is_up(
    traffic: Any,
) -> None:
    guard = traffic.guard()
    for refusal in (InvalidRequest("HTTP 400", code="http_400"), MalformedResponse("<html>")):
        for n in range(OUTAGE_AFTER - 1):
            await traffic.fail(guard, f"S{n}.US")
        with pytest.raises(type(refusal)):
            async with guard.attempt("X.US"):
                raise refusal
        await traffic.fail(guard, "T.US")
        assert guard.state is GuardState.CLOSED


async def test_no_connection_at_all_opens_it_with_a_single_symbol(traffic: Any) -> None:
    guard = traffic.guard()
    outage = [
        (await traffic.fail(guard, "ONLY.US", traffic.refused)).outage for _ in range(OUTAGE_AFTER)
    ]
    assert outage == [False] * (OUTAGE_AFTER - 1) + [True]
    assert guard.state is GuardState.OPEN


async def test_a_symbol_that_failed_while_others_answered_is_a_suspect(traffic: Any) -> None:
    guard = traffic.guard()
    await traffic.fail(guard, "BAD1.US")
    await traffic.fail(guard, "BAD2.US")
    await traffic.answer(guard, "GOOD.US")  # the gateway was up while those two failed
    for _ in range(OUTAGE_AFTER):
        for symbol in ("BAD1.US", "BAD2.US", "NEW.US"):
            assert not (await traffic.fail(guard, symbol)).outage
    assert guard.state is GuardState.CLOSED  # only NEW counts: one symbol
    await traffic.answer(guard, "BAD1.US")  # answered at last: no longer a suspect
    for n in range(OUTAGE_AFTER):
        await traffic.fail(guard, ("BAD1.US", "X.US", "Y.US")[n % 3])
    assert guard.state is GuardState.OPEN


async def test_failures_of_requests_already_out_when_it_opens_are_the_outages(
    traffic: Any,
) -> None:
    guard = traffic.guard()
    late = guard.attempt("LATE.US")
    with pytest.raises(TransportError):
        async with late:  # admitted while closed, fails once the guard is open
            await traffic.open(guard)
            raise traffic.http_502()
    assert late.outage and not late.probe
