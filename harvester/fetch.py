"""One task from first attempt to final status: request, parse, decide, back off, repeat."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from harvester.client import Client
from harvester.config import EndpointConfig
from harvester.endpoints import Adapter, Parsed
from harvester.errors import CredentialsRefused, FetchError, TransientError, TransportError
from harvester.model import Symbol, TaskResult, TaskStatus
from harvester.outage import OutageGuard
from harvester.retry import RetryPolicy, next_delay

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    """What a worker needs to fetch one endpoint: its adapter, settings and policies."""

    adapter: Adapter
    config: EndpointConfig
    policy: RetryPolicy
    retry_unknown: bool


async def _attempt(
    client: Client, job: Job, symbol: Symbol, path: str, query: tuple[tuple[str, str], ...],
    guard: OutageGuard,
) -> Parsed:
    """One request, its answer parsed; tells the guard whether the gateway answered."""
    probe = await guard.admit()
    try:
        answer = await client.get(job.adapter.name, path, query)
        parsed = job.adapter.parse(symbol, answer.status, answer.content_type, answer.headers,
                                   answer.body, retry_unknown=job.retry_unknown)
    except TransportError as error:
        if guard.failed(probe, error.message):
            error.outage = True
        raise
    except FetchError:
        guard.succeeded(probe)  # an answer, however unwelcome: the gateway is up
        raise
    except BaseException:
        if probe:
            guard.abandon_probe()
        raise
    guard.succeeded(probe)
    return parsed


async def fetch_task(client: Client, job: Job, symbol: Symbol, guard: OutageGuard) -> TaskResult:
    """Fetch ``symbol`` from ``job``'s endpoint until it has a final status.

    ``attempt`` counts against ``max_attempts``; ``sent`` counts every request,
    including those that failed during an outage and so cost the task nothing.
    """
    adapter = job.adapter
    spec = adapter.request(symbol, job.config)
    attempt = sent = 0
    while True:
        sent += 1
        try:
            parsed = await _attempt(client, job, symbol, spec.path, spec.query, guard)
        except CredentialsRefused:
            raise  # the run's problem, not this task's: the sweep stops
        except FetchError as error:
            if error.outage:
                continue  # the guard holds the next attempt until the gateway is back
            attempt += 1
            delay = next_delay(job.policy, error, attempt)
            if delay is None:
                transient = isinstance(error, TransientError)
                status = TaskStatus.FAILED if transient else error.status
                message = f"{error.message} (after {sent} attempts)" if transient else error.message
                return TaskResult(symbol, adapter.name, status, sent,
                                  error_code=error.code, error_message=message)
            log.debug("%s %s attempt %d: %s; retrying in %.2fs",
                      symbol, adapter.name, attempt, error.message, delay)
            await asyncio.sleep(delay)
            continue
        # ``code`` 0 with an empty list is how both endpoints say "no data".
        status = TaskStatus.OK if parsed.rows else TaskStatus.NO_DATA
        return TaskResult(symbol, adapter.name, status, sent, parsed.rows, parsed.warnings)
