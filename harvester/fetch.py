"""One task from first attempt to final status: request, parse, decide, back off, repeat."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from harvester.client import Client
from harvester.config import EndpointConfig
from harvester.endpoints import Adapter
from harvester.errors import CredentialsRefused, FetchError, TransientError
from harvester.model import Symbol, TaskResult, TaskStatus
from harvester.retry import RetryPolicy, next_delay

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    """What a worker needs to fetch one endpoint: its adapter, settings and policies."""

    adapter: Adapter
    config: EndpointConfig
    policy: RetryPolicy
    retry_unknown: bool


async def fetch_task(client: Client, job: Job, symbol: Symbol) -> TaskResult:
    """Fetch ``symbol`` from ``job``'s endpoint until it has a final status."""
    adapter = job.adapter
    spec = adapter.request(symbol, job.config)
    attempt = 0
    while True:
        attempt += 1
        try:
            answer = await client.get(adapter.name, spec.path, spec.query)
            parsed = adapter.parse(symbol, answer.status, answer.content_type, answer.headers,
                                   answer.body, retry_unknown=job.retry_unknown)
        except CredentialsRefused:
            raise  # the run's problem, not this task's: the sweep stops
        except FetchError as error:
            delay = next_delay(job.policy, error, attempt)
            if delay is None:
                status = TaskStatus.FAILED if isinstance(error, TransientError) else error.status
                message = error.message
                if isinstance(error, TransientError):
                    message = f"{message} (after {attempt} attempts)"
                return TaskResult(symbol, adapter.name, status, attempt,
                                  error_code=error.code, error_message=message)
            log.debug("%s %s attempt %d: %s; retrying in %.2fs",
                      symbol, adapter.name, attempt, error.message, delay)
            await asyncio.sleep(delay)
            continue
        # ``code`` 0 with an empty list is how both endpoints say "no data".
        status = TaskStatus.OK if parsed.rows else TaskStatus.NO_DATA
        return TaskResult(symbol, adapter.name, status, attempt, parsed.rows, parsed.warnings)
