"""One task from first attempt to final status: request, parse, decide, back off, repeat."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from harvester.errors import (
    CredentialsRefused,
    FetchError,
    QuotaSpent,
    RateLimited,
    TransientError,
    TransportError,
    UpstreamError,
    WrongAddress,
)
from harvester.model import Symbol, TaskResult, TaskStatus
from harvester.settings.config import EndpointConfig
from harvester.sweep.counts import SweepCounts
from harvester.sweep.outage import Attempt, OutageGuard
from harvester.sweep.quota import DailyQuota
from harvester.sweep.retry import RetryPolicy, next_delay
from harvester.upstream.client import Client, Response
from harvester.upstream.endpoints import Adapter, Parsed, RequestSpec
from harvester.upstream.ratelimit_fields import stated

log = logging.getLogger(__name__)

OVERLOAD_CODES = frozenset({"-5", "500000"})  # internal errors that may be our pace, in a cluster
REFUSING_MAX = 120.0  # seconds of nothing but refusals that mean a spent quota, not a pace
OVERLOAD_TRIES = 3  # refusals of our pace a task takes per attempt before they count as one
FIRST_ANSWERS = 5  # an endpoint's first answers that, all one HTTP 3xx/4xx, mean a wrong URL
_SYMBOL_CODES = frozenset({"http_400", "http_429"})  # 4xx answers about a symbol or the pace


@dataclass(frozen=True, slots=True)
class Job:
    """What a worker needs to fetch one endpoint: its adapter, settings and policies."""

    adapter: Adapter
    config: EndpointConfig
    policy: RetryPolicy
    retry_unknown: bool


class Stopped(Exception):  # control flow: ends a task quietly, not an error
    """The sweep is stopping: this task sends nothing more and ends ``pending``."""


@dataclass(slots=True)
class Gate:
    """The sweep's one gate for its requests: shut once a stop is asked or the quota is spent.

    ``pass_one`` runs the moment a request would go out, whichever task sends it.
    """

    stop: asyncio.Event  #: once set, no request goes out
    quota: DailyQuota | None = None  #: refuses the request that would exceed the quota
    counts: SweepCounts | None = None  #: where each request that goes out is counted

    @property
    def shut(self) -> bool:
        """True once a stop is asked."""
        return self.stop.is_set()

    async def pass_one(self) -> None:
        """Let one request through, counted against the quota, or raise Stopped."""
        if self.shut:
            raise Stopped
        if self.quota is not None and not await self.quota.take():
            self.stop.set()  # the whole sweep stops: nothing more may go out today
            raise Stopped
        self._count()

    async def pass_probe(self) -> None:
        """Count an outage probe (a request re-sent to see the gateway is back), never refused:
        it goes out only while the guard holds the sweep, and tells when it may go on."""
        if self.quota is not None:
            await self.quota.note()
        self._count()

    def _count(self) -> None:
        if self.counts is not None:
            self.counts.requests += 1


@dataclass(slots=True)
class Spent:
    """A task's failed attempts that count against ``max_attempts``, and its refusals."""

    counted: int = 0
    refused: int = 0

    def delay(self, policy: RetryPolicy, error: FetchError) -> float | None:
        """The wait before the next attempt after ``error``; None: the task is over.

        A 429 is the pace's, not the symbol's: it uses up no attempt, up to
        ``OVERLOAD_TRIES`` per attempt, so a symbol only ever refused still ends failed.
        """
        if isinstance(error, RateLimited) and self.refused < OVERLOAD_TRIES * policy.max_attempts:
            self.refused += 1
            return next_delay(replace(policy, max_attempts=2), error, 1)
        self.counted += 1
        return next_delay(policy, error, self.counted)


@dataclass(slots=True)
class Tally:
    """What one task has done so far: kept for its record when a stop cuts it off."""

    sent: int = 0  #: requests that went out, those during an outage included
    error: FetchError | None = None  #: the last failure
    gate: Gate | None = None  #: the sweep's gate each of its requests passes (None: always open)

    @property
    def stopping(self) -> bool:
        """True once the sweep's gate is shut."""
        return self.gate is not None and self.gate.shut

    async def before_send(self) -> None:
        """Count a request at the moment it goes out, once the gate lets it through."""
        if self.gate is not None:
            await self.gate.pass_one()
        self.sent += 1

    def refused(self) -> None:
        """Count an answer refusing a request for the pace (a 429)."""
        if self.gate is not None and self.gate.counts is not None:
            self.gate.counts.refused += 1

    def pending(self, symbol: Symbol, endpoint: str, client: Client) -> TaskResult | None:
        """Its record as ``pending``, with its attempts and last error; None if it sent none."""
        if not self.sent:
            return None
        error = self.error
        return TaskResult(
            symbol,
            endpoint,
            TaskStatus.PENDING,
            self.sent,
            error_code=error.code if error else None,
            error_message=client.redact(error.message) if error else None,
        )


@dataclass(slots=True)
class FirstAnswers:
    """Watches each endpoint's first answers: all the same HTTP 3xx/4xx is the URL, not symbols.

    A wrong ``base_url`` or ``path`` makes every request answer 404; without
    this, each symbol would fail on its own and the run end ``completed``.
    """

    size: int = FIRST_ANSWERS
    _codes: dict[str, list[str | None]] = field(default_factory=dict)
    _settled: set[str] = field(default_factory=set)

    def check(self, endpoint: str, code: str | None, url: str) -> None:
        """Note an answer's code (None: a success); raise WrongAddress when the pattern is clear."""
        if endpoint in self._settled:
            return
        codes = self._codes.setdefault(endpoint, [])
        codes.append(code)
        status = code.removeprefix("http_") if code and code.startswith("http_") else ""
        if (
            not status.isdigit()
            or not 300 <= int(status) < 500
            or code in _SYMBOL_CODES
            or len(set(codes)) > 1
        ):
            self._settled.add(endpoint)
            del self._codes[endpoint]
            return
        if len(codes) >= self.size:
            raise WrongAddress(
                f"the first {len(codes)} requests to {endpoint} all answered HTTP {status}, "
                f"e.g. {url}; check [gateway] base_url and [endpoints.{endpoint}] path",
                url=url,
            )


async def _still_answers(
    client: Client,
    endpoint: str,
    path: str,
    query: tuple[tuple[str, str], ...],
    before_send: Callable[[], Awaitable[None]] | None = None,
) -> bool:
    """Re-send a request that was answered before: True if the gateway answers it again."""
    try:
        answer = await client.get(endpoint, path, query, before_send=before_send)
    except TransportError:
        return False
    except FetchError:
        return True  # refused for its size, but answered
    return answer.status < 500


async def _attempt(
    client: Client,
    job: Job,
    symbol: Symbol,
    spec: RequestSpec,
    attempt: Attempt,
    tally: Tally,
) -> Parsed:
    """One request inside the guard's block, its answer parsed.

    An answer the adapter refuses (an upstream error code, a malformed body)
    still leaves the block as a FetchError: the gateway answered.
    """
    async with attempt:
        answer = await client.get(
            job.adapter.name, spec.path, spec.query, before_send=tally.before_send
        )
        try:
            parsed = job.adapter.parse(
                symbol,
                answer.status,
                answer.content_type,
                answer.headers,
                answer.body,
                retry_unknown=job.retry_unknown,
            )
        except RateLimited as error:
            _heard(client, answer, "refused" if tally.sent <= 1 else "refused again")
            if error.retry_after is not None and error.retry_after > job.policy.quota_after:
                raise QuotaSpent(
                    f"{error.message} with Retry-After {error.retry_after:.0f} s (over "
                    f"[sweep] quota_after, {job.policy.quota_after:g} s): the quota is spent",
                    code=error.code,
                ) from error
            raise
        except UpstreamError as error:
            _heard(client, answer, "error" if error.code in OVERLOAD_CODES else "ok")
            raise
        except FetchError:
            _heard(client, answer, "ok")  # answered, even if not with rows: not our pace
            raise
        _heard(client, answer, "ok")
        return parsed


def _heard(client: Client, answer: Response, outcome: str) -> None:
    """Tell the account's pacer how an answer went, and what its header fields state.

    Raises QuotaSpent when they say the quota is spent, or when nothing but refusals
    came for ``REFUSING_MAX`` seconds.
    """
    pacer = client.pacer
    if pacer is None:
        return
    now = pacer.now()
    pacer.answered(now, outcome)
    said = stated(answer.headers, time.time())
    if said.per_second is not None:
        pacer.limit_to(said.per_second)
    if said.spent_for is not None:
        raise QuotaSpent(
            f"the upstream's RateLimit fields say its quota is spent for {said.spent_for:.0f} s",
            code="quota",
        )
    if pacer.refusing_for(now) > REFUSING_MAX:
        raise QuotaSpent(
            f"nothing but refusals (429) for {REFUSING_MAX:g} s: the quota looks spent",
            code="quota",
        )


def _last_word(
    client: Client, job: Job, symbol: Symbol, error: FetchError, tally: Tally
) -> TaskResult:
    """The record of a task whose failure ends it; a transient one says after how many tries."""
    message = client.redact(error.message)
    if not isinstance(error, TransientError):
        return TaskResult(
            symbol,
            job.adapter.name,
            error.status,
            tally.sent,
            error_code=error.code,
            error_message=message,
        )
    plural = "s" if tally.sent != 1 else ""
    return TaskResult(
        symbol,
        job.adapter.name,
        TaskStatus.FAILED,
        tally.sent,
        error_code=error.code,
        error_message=f"{message} (after {tally.sent} attempt{plural})",
    )


async def fetch_task(
    client: Client,
    job: Job,
    symbol: Symbol,
    guard: OutageGuard,
    *,
    watch: FirstAnswers | None = None,
    tally: Tally | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    count: int | None = None,
    before: int | None = None,
) -> TaskResult:
    """Fetch ``symbol`` from ``job``'s endpoint until it has a final status.

    ``spent.counted`` attempts count against ``max_attempts``; ``tally.sent`` counts
    every request that went out, including those that failed during an outage
    and so cost the task nothing. Once ``tally.stop`` is set no further request
    goes out and Stopped is raised. Error messages are redacted of the token:
    upstream may echo it. ``sleep`` waits out the backoff between attempts
    (tests pass one that records the delay instead of waiting). ``count`` asks for
    that many records instead of the configured ``count`` (a nightly sweep's), and
    ``before`` for those up to that cut-off, unix seconds (a backfill's page).
    """
    adapter = job.adapter
    asked = job.config.count if count is None else count
    spec = adapter.request(symbol, job.config.path, asked, before=before)
    tally = tally if tally is not None else Tally()
    spent = Spent()
    while True:
        if tally.stopping:
            raise Stopped  # no new attempt starts
        attempt = guard.attempt(symbol.canonical)
        try:
            parsed = await _attempt(client, job, symbol, spec, attempt, tally)
        except (CredentialsRefused, QuotaSpent):
            raise  # the run's problem, not this task's: the sweep stops
        except FetchError as error:
            tally.error = error
            if attempt.outage:
                continue  # the guard holds the next attempt until the gateway is back
            if watch is not None and not isinstance(error, TransportError):
                watch.check(adapter.name, error.code, str(client.url(spec.path, spec.query)))
            if isinstance(error, RateLimited):
                tally.refused()
            delay = spent.delay(job.policy, error)
            if delay is None:
                return _last_word(client, job, symbol, error, tally)
            log.debug(
                "%s %s attempt %d: %s; retrying in %.2fs",
                symbol,
                adapter.name,
                spent.counted,
                client.redact(error.message),
                delay,
            )
            await sleep(delay)
            continue
        guard.canary = functools.partial(
            _still_answers,
            client,
            adapter.name,
            spec.path,
            spec.query,
            tally.gate.pass_probe if tally.gate is not None else None,
        )
        if watch is not None:
            watch.check(adapter.name, None, "")
        # ``code`` 0 with an empty list is how both endpoints say "no data".
        status = TaskStatus.OK if parsed.rows else TaskStatus.NO_DATA
        return TaskResult(symbol, adapter.name, status, tally.sent, parsed.rows, parsed.warnings)
