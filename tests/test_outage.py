"""Unit tests of the outage guard: an outage is the gateway's, never one symbol's."""

from __future__ import annotations

import asyncio

import pytest

import harvester.outage
from harvester.errors import GatewayUnavailable, TransportError
from harvester.outage import OUTAGE_AFTER, OutageGuard


def http_502() -> TransportError:
    return TransportError("HTTP 502 from the gateway (text/html)", code="http_502")


def refused() -> TransportError:
    return TransportError("cannot connect to the gateway: ClientConnectorError",
                          code="connection_error", unreachable=True)


@pytest.fixture(autouse=True)
def quick_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harvester.outage, "PROBE_FIRST", 0.001)


async def test_one_symbol_failing_forever_never_opens_it() -> None:
    guard = OutageGuard(60.0)
    assert not any(guard.failed(False, http_502(), "BAD.US") for _ in range(10 * OUTAGE_AFTER))
    assert not guard.is_open and guard.outages == 0


async def test_two_symbols_are_not_enough_three_are() -> None:
    guard = OutageGuard(60.0)
    for n in range(OUTAGE_AFTER):
        assert not guard.failed(False, http_502(), ("A.US", "B.US")[n % 2])
    assert not guard.is_open
    assert guard.failed(False, http_502(), "C.US")
    assert guard.is_open and guard.outages == 1


async def test_spread_failures_below_the_threshold_do_not_open_it() -> None:
    guard = OutageGuard(60.0)
    for n in range(OUTAGE_AFTER - 1):
        assert not guard.failed(False, http_502(), f"S{n}.US")
    guard.succeeded(False, "OK.US")  # an answer in between: the streak starts again
    assert not guard.failed(False, http_502(), "T.US")
    assert not guard.is_open


async def test_no_connection_at_all_opens_it_with_a_single_symbol() -> None:
    guard = OutageGuard(60.0)
    results = [guard.failed(False, refused(), "ONLY.US") for _ in range(OUTAGE_AFTER)]
    assert results == [False] * (OUTAGE_AFTER - 1) + [True]
    assert guard.is_open


async def test_a_symbol_that_failed_while_others_answered_is_a_suspect() -> None:
    guard = OutageGuard(60.0)
    assert not guard.failed(False, http_502(), "BAD1.US")
    assert not guard.failed(False, http_502(), "BAD2.US")
    guard.succeeded(False, "GOOD.US")  # the gateway was up while those two failed
    for _ in range(OUTAGE_AFTER):
        assert not guard.failed(False, http_502(), "BAD1.US")
        assert not guard.failed(False, http_502(), "BAD2.US")
        assert not guard.failed(False, http_502(), "NEW.US")
    assert not guard.is_open  # only NEW counts: one symbol
    guard.succeeded(False, "BAD1.US")  # answered at last: no longer a suspect
    for n in range(OUTAGE_AFTER):
        guard.failed(False, http_502(), ("BAD1.US", "X.US", "Y.US")[n % 3])
    assert guard.is_open


async def test_the_canary_closes_an_outage_that_was_only_bad_symbols() -> None:
    guard = OutageGuard(60.0)
    asked = 0

    async def canary() -> bool:
        nonlocal asked
        asked += 1
        return True  # a request answered earlier is answered again: the gateway is up

    guard.canary = canary
    for n in range(OUTAGE_AFTER):
        guard.failed(False, http_502(), f"B{n % 3}.US")
    assert guard.is_open
    assert await asyncio.wait_for(guard.admit(), 5) is False  # not a probe: the canary was
    assert asked == 1 and not guard.is_open
    # The symbols that opened it are suspects now: their failures are their own.
    assert not any(guard.failed(False, http_502(), f"B{n % 3}.US")
                   for n in range(3 * OUTAGE_AFTER))
    assert not guard.is_open


async def test_without_a_canary_the_held_request_probes_and_an_answer_closes_it() -> None:
    guard = OutageGuard(60.0)
    for _ in range(OUTAGE_AFTER):
        guard.failed(False, refused(), "A.US")
    probe = await asyncio.wait_for(guard.admit(), 5)
    assert probe is True
    waiting = asyncio.create_task(guard.admit())  # held while the probe is out
    await asyncio.sleep(0)
    assert not waiting.done()
    guard.succeeded(True, "A.US")
    assert await asyncio.wait_for(waiting, 5) is False
    assert not guard.is_open


async def test_an_outage_longer_than_max_wait_names_the_gateway() -> None:
    guard = OutageGuard(0.05, where="http://127.0.0.1:9")

    async def canary() -> bool:
        return False  # still down

    guard.canary = canary
    for _ in range(OUTAGE_AFTER):
        guard.failed(False, refused(), "A.US")
    with pytest.raises(GatewayUnavailable, match=r"no answer from http://127\.0\.0\.1:9"):
        await asyncio.wait_for(guard.admit(), 5)
