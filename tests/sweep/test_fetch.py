"""One task's loop through the outage guard, with a scripted client and a stepping clock.

Nothing here really waits: the guard's sleep moves its clock, and backoff is zero.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from harvester.errors import GatewayUnavailable, InvalidRequest, TransportError
from harvester.model import Symbol, TaskStatus
from harvester.sweep.fetch import Gate, Job, Stopped, Tally, fetch_task
from harvester.sweep.outage import GuardState, OutageGuard
from harvester.sweep.retry import RetryPolicy
from harvester.upstream.endpoints import Parsed, RequestSpec

SYMBOL = Symbol("A", "US")
Step = BaseException | int  # what one request meets: an exception, or an HTTP status


@dataclass
class ScriptedClient:
    """Meets each request with the next step of its script; the last step repeats."""

    script: list[Step]
    sent: list[str] = field(default_factory=list)
    pacer: None = None  # no account's pace to tell

    async def get(
        self,
        endpoint: str,
        path: str,
        query: Sequence[tuple[str, str]],
        *,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> SimpleNamespace:
        if before_send is not None:
            await before_send()
        self.sent.append(path)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, BaseException):
            raise step
        return SimpleNamespace(status=step, content_type="application/json", headers={}, body=b"")

    def redact(self, text: str) -> str:
        return text.replace("SECRET", "[redacted]")

    def url(self, path: str, query: Sequence[tuple[str, str]]) -> str:
        return f"http://gateway{path}"


class OneRowAdapter:
    """An endpoint whose every answer is one row."""

    name = "short_trades"

    def request(self, symbol: Symbol, path: str, count: int, **_: object) -> RequestSpec:
        return RequestSpec(path.replace("{symbol}", str(symbol)), (("count", str(count)),))

    def parse(self, symbol: Symbol, status: int, *args: Any, **kwargs: Any) -> Parsed:
        return Parsed(rows=((str(symbol),),), warnings=0)


class SteppingClock:
    """One task's clock: a sleep moves it on at once; ``on_sleep`` runs at each sleep."""

    def __init__(self, on_sleep: Callable[[], None] = lambda: None) -> None:
        self.now = 0.0
        self.on_sleep = on_sleep

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.on_sleep()
        self.now += delay


def job(max_attempts: int) -> Job:
    policy = RetryPolicy(
        max_attempts=max_attempts,
        backoff_base=0.0,
        backoff_max=0.0,
        retry_after_max=0.0,
        quota_after=600.0,
    )
    return Job(
        adapter=OneRowAdapter(),
        config=SimpleNamespace(path="/{symbol}", count=5),  # type: ignore[arg-type]
        policy=policy,
        retry_unknown=False,
    )


def guard_on(clock: SteppingClock, max_wait: float = 60.0, threshold: int = 2) -> OutageGuard:
    """A guard that opens on two unreachable failures of one symbol."""
    return OutageGuard(
        max_wait, threshold=threshold, where="http://gateway", clock=clock.clock, sleep=clock.sleep
    )


def refused() -> TransportError:
    return TransportError(
        "cannot connect to the gateway", code="connection_error", unreachable=True
    )


async def fetch(
    client: ScriptedClient, job: Job, guard: OutageGuard, tally: Tally | None = None
) -> Any:
    return await fetch_task(client, job, SYMBOL, guard, tally=tally)  # type: ignore[arg-type]


async def test_failures_during_an_outage_cost_the_task_nothing() -> None:
    clock = SteppingClock()
    guard = guard_on(clock)
    client = ScriptedClient([refused(), refused(), refused(), refused(), 200])
    result = await fetch(client, job(max_attempts=2), guard)
    # The first failure counts; the second opens the guard; two probes fail; the third
    # is answered. Only one of five counted against max_attempts = 2.
    assert (result.status, result.attempts, clock.now) == (TaskStatus.OK, 5, 0.5 + 1.0 + 2.0)
    assert guard.state is GuardState.CLOSED and guard.outages == 1


async def test_an_outage_past_outage_max_stops_the_task_without_failing_it() -> None:
    clock = SteppingClock()
    guard = guard_on(clock, max_wait=10.0)
    tally = Tally()
    with pytest.raises(GatewayUnavailable, match="no answer from http://gateway for 10s"):
        await fetch(ScriptedClient([refused()]), job(max_attempts=2), guard, tally)
    assert clock.now == 10.0
    assert tally.sent == 2 + 4  # two before it opened, then probes at 0.5, 1.5, 3.5 and 7.5
    assert isinstance(tally.error, TransportError)


async def test_one_symbol_failing_alone_fails_on_its_own_attempts() -> None:
    guard = guard_on(SteppingClock(), threshold=8)
    error = TransportError("HTTP 502 echoing SECRET", code="http_502")
    result = await fetch(ScriptedClient([error]), job(max_attempts=3), guard)
    assert (result.status, result.attempts, result.error_code) == (TaskStatus.FAILED, 3, "http_502")
    assert result.error_message == "HTTP 502 echoing [redacted] (after 3 attempts)"
    assert guard.state is GuardState.CLOSED


@pytest.mark.parametrize(
    ("then", "answered"),
    [(200, True), (503, False), (refused(), False), (InvalidRequest("-3", code="-3"), True)],
    ids=["answered", "http-503", "refused", "refused-for-its-size"],
)
async def test_an_answer_leaves_a_canary_that_sends_it_again(then: Step, answered: bool) -> None:
    guard = guard_on(SteppingClock())
    client = ScriptedClient([200, then])
    await fetch(client, job(max_attempts=1), guard)
    assert guard.canary is not None
    assert await guard.canary() is answered
    assert client.sent == ["/A.US", "/A.US"]


async def test_a_stop_while_held_abandons_the_probe() -> None:
    stop = asyncio.Event()
    clock = SteppingClock(on_sleep=stop.set)  # the stop comes while the request is held
    guard = guard_on(clock)
    tally = Tally(gate=Gate(stop))
    with pytest.raises(Stopped):
        await fetch(ScriptedClient([refused()]), job(max_attempts=5), guard, tally)
    assert guard.state is GuardState.OPEN  # not half-open: the next request may probe
    assert tally.sent == 2 and isinstance(tally.error, TransportError)
