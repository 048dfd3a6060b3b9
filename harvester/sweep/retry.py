"""The retry decision: a pure function of the policy, the error and the attempt number."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, fields

from harvester.errors import FetchError, RateLimited, TransientError


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently a task is retried.

    No defaults here: they are the ``[sweep]`` settings' own, declared once in
    ``config``; build a policy from them with ``from_settings``.
    """

    max_attempts: int
    backoff_base: float
    backoff_max: float
    retry_after_max: float
    quota_after: float  #: a longer ``Retry-After`` is a spent quota: the sweep stops

    @classmethod
    def from_settings(cls, sweep: object) -> RetryPolicy:
        """The policy made of ``sweep``'s settings of the same names (a ``SweepConfig``)."""
        return cls(**{spec.name: getattr(sweep, spec.name) for spec in fields(cls)})


def next_delay(
    policy: RetryPolicy,
    error: FetchError,
    attempt: int,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or None when the task is finished.

    Exponential backoff with "equal jitter" (between half and all of the step),
    so that symbols failing together do not come back together. A 429's
    ``Retry-After`` is a floor, capped by ``retry_after_max``.
    """
    if not isinstance(error, TransientError) or attempt >= policy.max_attempts:
        return None
    step = min(policy.backoff_max, policy.backoff_base * 2 ** (attempt - 1))
    delay = step * (0.5 + rand() / 2)
    if isinstance(error, RateLimited) and error.retry_after is not None:
        delay = max(delay, min(error.retry_after, policy.retry_after_max))
    return delay
