"""Fixtures for the aioresponses tests: a mocked gateway, a real client on it, and fake waits.

aioresponses patches ``ClientSession._request``: nothing is sent and nothing really waits.
The rate limiter is set far above what any test sends, the backoff ``sleep`` given to
``fetch_task`` only records its delay, and the outage guard runs on a clock that a sleep
moves on at once (so a test can show the guard never held a request).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from aioresponses import aioresponses
from aioresponses.core import RequestCall

from harvester.model import Symbol, TaskResult
from harvester.settings.config import Settings, load_settings
from harvester.sweep.fetch import Job, Tally, fetch_task
from harvester.sweep.outage import OutageGuard
from harvester.sweep.retry import RetryPolicy
from harvester.upstream.auth import Bearer
from harvester.upstream.client import Client
from harvester.upstream.endpoints import ADAPTERS

BASE_URL = "http://gateway.test"  # never resolved: aioresponses answers before any connection
TOKEN = "s3cret-T0KEN"
TIMEOUT = 2.5  # a non-default [gateway] timeout, so the time-out message shows it is the setting
FAST = 10_000.0  # requests a second, the most allowed: the rate limiter never holds a test up

Recorded = dict[str, list[RequestCall]]  # the calls aioresponses saw, by URL


class GuardClock:
    """The outage guard's clock and sleep: a sleep is recorded and moves the clock on at once."""

    def __init__(self, waits: list[float], start: float = 1_000.0) -> None:
        self.now = start  # not zero: nothing may assume the clock starts there
        self.waits = waits

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.waits.append(delay)
        self.now += delay


@pytest.fixture
def base_url() -> str:
    """The gateway root every client of this folder talks to."""
    return BASE_URL


@pytest.fixture
def token() -> str:
    """The bearer token of the default client."""
    return TOKEN


@pytest.fixture
def settings() -> Settings:
    """Default settings on ``BASE_URL``, ``TIMEOUT`` and unlimited rates, read from no env."""
    overrides: dict[str, dict[str, object]] = {
        "gateway": {"base_url": BASE_URL, "timeout": TIMEOUT},
        **{f"endpoints.{name}": {"rate": FAST} for name in ADAPTERS},
    }
    return load_settings(None, overrides=overrides, environ={})


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    """aioresponses, active for the whole test; register answers with ``mocked.get(url, ...)``."""
    with aioresponses() as mock:
        yield mock


@pytest.fixture
def recorded(mocked: aioresponses) -> Callable[[], Recorded]:
    """``recorded()``: every call aioresponses saw so far, by URL (matched or not), in order."""

    def calls() -> Recorded:
        assert mocked.requests is not None
        assert {method for method, _ in mocked.requests} <= {"GET"}
        return {str(url): list(made) for (_, url), made in mocked.requests.items()}

    return calls


@pytest.fixture
def make_client(settings: Settings) -> Callable[..., Client]:
    """``make_client(token=TOKEN)``: a Client on ``settings``, to use as ``async with``."""

    def make(token: str | None = TOKEN) -> Client:
        return Client(
            settings.gateway,
            settings.endpoints,
            auth=Bearer(token, "check the token") if token else None,
        )

    return make


@pytest.fixture
async def client(make_client: Callable[..., Client]) -> AsyncIterator[Client]:
    """An open Client with ``TOKEN``."""
    async with make_client() as opened:
        yield opened


@pytest.fixture
def make_job(settings: Settings) -> Callable[..., Job]:
    """``make_job(endpoint, max_attempts=4, backoff_base=1.0, ...)``: the real adapter's job."""

    def make(
        endpoint: str,
        *,
        max_attempts: int = 4,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        retry_after_max: float = 60.0,
        retry_unknown: bool = False,
    ) -> Job:
        config = next(config for config in settings.endpoints if config.name == endpoint)
        policy = RetryPolicy(
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            retry_after_max=retry_after_max,
            quota_after=600.0,
        )
        return Job(ADAPTERS[endpoint], config, policy, retry_unknown)

    return make


@pytest.fixture
def delays() -> list[float]:
    """The backoff waits ``fetch`` asked for, in order; none is really waited."""
    return []


@pytest.fixture
def guard_waits() -> list[float]:
    """The waits of the outage guard: empty as long as it held no request."""
    return []


@pytest.fixture
def guard(guard_waits: list[float]) -> OutageGuard:
    """A real outage guard with its default thresholds, on a clock its sleeps move on."""
    clock = GuardClock(guard_waits)
    return OutageGuard(300.0, where=BASE_URL, clock=clock.clock, sleep=clock.sleep)


@pytest.fixture
def tally() -> Tally:
    """The task's tally: ``tally.sent`` counts the requests that went out."""
    return Tally()


@pytest.fixture
def fetch(
    client: Client, guard: OutageGuard, tally: Tally, delays: list[float]
) -> Callable[[Job, Symbol], Awaitable[TaskResult]]:
    """``await fetch(job, symbol)``: one task through the real client and guard.

    Its backoff sleep appends the delay to ``delays`` and returns at once.
    """

    async def sleep(delay: float) -> None:
        delays.append(delay)

    async def run(job: Job, symbol: Symbol) -> TaskResult:
        return await fetch_task(client, job, symbol, guard, tally=tally, sleep=sleep)

    return run
