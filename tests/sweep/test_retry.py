"""Unit tests of the retry decision (harvester/sweep/retry.py): a pure function, no sleeping.

``rand`` is pinned to 1.0 (the whole step) or 0.0 (half the step) so delays are exact.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.errors import (
    FetchError,
    InvalidRequest,
    MalformedResponse,
    NoData,
    RateLimited,
    Rejected,
    TransportError,
    Unsupported,
    UpstreamError,
)
from harvester.settings.config import SweepConfig
from harvester.sweep.retry import RetryPolicy, next_delay

POLICY = RetryPolicy(
    max_attempts=10, backoff_base=0.5, backoff_max=4.0, retry_after_max=60.0, quota_after=600.0
)


def full() -> float:
    return 1.0


def none() -> float:
    return 0.0


def test_a_policy_is_made_of_the_sweep_settings_of_the_same_names() -> None:
    # RetryPolicy has no defaults of its own: they are [sweep]'s, declared once in config.
    sweep = SweepConfig(max_attempts=7, backoff_base=0.1, backoff_max=2.0, retry_after_max=9.0)
    assert RetryPolicy.from_settings(sweep) == RetryPolicy(
        max_attempts=7,
        backoff_base=0.1,
        backoff_max=2.0,
        retry_after_max=9.0,
        quota_after=sweep.quota_after,
    )


@pytest.mark.parametrize(
    ("attempt", "step"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (9, 4.0)]
)
def test_the_step_doubles_per_attempt_up_to_backoff_max(attempt: int, step: float) -> None:
    error = UpstreamError("boom", code="-5")
    assert next_delay(POLICY, error, attempt, rand=full) == step
    assert next_delay(POLICY, error, attempt, rand=none) == step / 2


@pytest.mark.parametrize(
    "error",
    [
        UpstreamError("boom", code="-5"),
        TransportError("HTTP 502", code="http_502"),
        MalformedResponse("truncated", code="malformed_body"),
        RateLimited("HTTP 429"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_every_transient_error_is_retried(error: FetchError) -> None:
    assert next_delay(POLICY, error, 1, rand=full) == 0.5


@pytest.mark.parametrize(
    "error",
    [
        InvalidRequest("HTTP 400", code="http_400"),
        InvalidRequest("invalid_symbol", code="-7"),
        Unsupported("unsupported", code="-8"),
        NoData("no_data", code="-10"),
        Rejected("unknown code -42", code="-42"),
        FetchError("plain"),
    ],
    ids=lambda e: f"{type(e).__name__}-{e.code}",
)
def test_permanent_errors_are_never_retried(error: FetchError) -> None:
    assert next_delay(POLICY, error, 1, rand=full) is None


@pytest.mark.parametrize("max_attempts", [1, 2, 5])
def test_no_retry_once_the_attempts_are_used_up(max_attempts: int) -> None:
    policy = RetryPolicy(
        max_attempts=max_attempts,
        backoff_base=0.5,
        backoff_max=30.0,
        retry_after_max=60.0,
        quota_after=600.0,
    )
    error = TransportError("time-out", code="timeout")
    assert next_delay(policy, error, max_attempts, rand=full) is None
    assert next_delay(policy, error, max_attempts + 1, rand=full) is None
    if max_attempts > 1:
        assert next_delay(policy, error, max_attempts - 1, rand=full) is not None


@pytest.mark.parametrize(
    ("retry_after", "attempt", "expected"),
    [
        (3.0, 1, 3.0),  # longer than the step: the gateway's wish wins
        (0.1, 3, 2.0),  # shorter than the step: never waits less than the backoff
        (1000.0, 1, 60.0),  # capped by retry_after_max
        (None, 2, 1.0),  # no header: plain backoff
        (0.0, 1, 0.5),
    ],
)
def test_retry_after_is_a_floor_capped_by_retry_after_max(
    retry_after: float | None, attempt: int, expected: float
) -> None:
    error = RateLimited("HTTP 429", retry_after=retry_after)
    assert next_delay(POLICY, error, attempt, rand=full) == expected


def test_retry_after_floor_applies_to_the_low_end_of_the_jitter_too() -> None:
    error = RateLimited("HTTP 429", retry_after=3.0)
    assert next_delay(POLICY, error, 1, rand=none) == 3.0


def test_retry_after_does_not_extend_the_attempts() -> None:
    error = RateLimited("HTTP 429", retry_after=3.0)
    assert next_delay(POLICY, error, POLICY.max_attempts, rand=full) is None


@settings(database=None, deadline=None)
@given(
    attempt=st.integers(min_value=1, max_value=POLICY.max_attempts - 1),
    fraction=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_jitter_stays_between_half_the_step_and_the_step(attempt: int, fraction: float) -> None:
    step = min(POLICY.backoff_max, POLICY.backoff_base * 2 ** (attempt - 1))
    delay = next_delay(POLICY, UpstreamError("boom"), attempt, rand=lambda: fraction)
    assert delay is not None
    assert step / 2 <= delay <= step


def test_the_default_random_jitter_stays_in_range() -> None:
    delays = [next_delay(POLICY, UpstreamError("boom"), 3) for _ in range(200)]
    assert all(d is not None and 1.0 <= d <= 2.0 for d in delays)
    assert len(set(delays)) > 1  # it is jittered, not constant
