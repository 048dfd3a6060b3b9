"""The throttle on the wire: its refusals in each dialect, and the rate-limit header fields.

A request over the shared limit (reason ``shared`` or ``schedule``, outcome
``throttled`` in the stats) is answered as ``overload_answer`` says:

===================  ==============================================  ==============================
overload_answer      gateway dialect                                 openapi dialect
===================  ==============================================  ==============================
429 (default)        429 ``429 Too Many Requests``, ``Retry-After:   429 ``{"code": 429002, ...}``,
                     <retry_after>``                                 ``Retry-After: <retry_after>``
429_no_retry_after   the same without ``Retry-After``                the same without it
-5                   200, the endpoint's ``-5 internal_error``       500 ``{"code": 500000, ...}``
                     envelope
===================  ==============================================  ==============================

A request past the day's quota (outcome ``quota_exhausted``), as ``quota_answer`` says:
``429`` (default) with ``Retry-After`` the seconds to the next UTC midnight,
``429_long`` with ``Retry-After: 36000``, or ``403`` whose JSON body says
``quota`` in its message (openapi: code 403900, the simulator's own).

``ratelimit_headers = "ietf"`` puts the fields of draft-ietf-httpapi-ratelimit-headers-11
(https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/, section 3
and 4: Structured Field Lists of String items with parameters) on every answer::

    RateLimit-Policy: "default";q=5;w=1, "daily";q=800;w=86400
    RateLimit: "default";r=2;t=1, "daily";r=750;t=43200

``"default"`` is the shared limit in force (absent while there is none), ``"daily"``
the quota (absent without one); ``r`` is what is left, ``t`` whole seconds until a
slot frees (the day item: until UTC midnight). ``"x"`` sends ``X-RateLimit-Limit``,
``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (seconds) for the shared
limit in force, or for the quota while no shared limit is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import orjson

from . import openapi_wire, responses
from .responses import JSON, Answer
from .settings import GatewaySettings
from .throttle import DAY, Throttle, until_midnight

LONG_RETRY_AFTER = 36_000
"""``Retry-After`` of ``quota_answer = "429_long"``: ten hours, longer than any backoff."""

Wall = Callable[[], float]


def gateway_refusal(settings: GatewaySettings, endpoint: str, reason: str, wall: Wall) -> Answer:
    """The gateway dialect's answer to a request the throttle refused for ``reason``."""
    retry = _retry_after(settings, reason, wall)
    if reason == "quota":
        text = _quota_text(settings.quota)
        if settings.quota_answer == "403":
            body = orjson.dumps({"error": "quota_exhausted", "message": text})
            return Answer("quota_exhausted", 403, body, JSON)
        return responses.text("quota_exhausted", 429, f"429 Too Many Requests: {text}\n", *retry)
    if settings.overload_answer == "-5":
        # The overload hides behind the envelope's retryable code, as some gateways do.
        return dataclasses.replace(responses.error(endpoint, "internal_error"), outcome="throttled")
    return responses.text("throttled", 429, "429 Too Many Requests\n", *retry)


def openapi_refusal(settings: GatewaySettings, reason: str, wall: Wall) -> Answer:
    """The OpenAPI dialect's answer to a request the throttle refused for ``reason``."""
    retry = _retry_after(settings, reason, wall)
    if reason == "quota":
        name = "quota_forbidden" if settings.quota_answer == "403" else "quota_exhausted"
        answer = openapi_wire.error(name, _quota_text(settings.quota))
    elif settings.overload_answer == "-5":
        answer = openapi_wire.error("internal_error")
    else:
        answer = openapi_wire.error("throttled")
    outcome = "quota_exhausted" if reason == "quota" else "throttled"
    return dataclasses.replace(answer, outcome=outcome, headers=answer.headers + retry)


def advertised(
    style: str, throttle: Throttle, now: float, wall: Wall
) -> tuple[tuple[str, str], ...]:
    """The header fields of ``ratelimit_headers = style`` as the throttle stands at ``now``."""
    if style == "none":
        return ()
    items: list[tuple[str, int, int, int, int]] = []  # name, quota, window, remaining, reset
    limit, _ = throttle.limit(now)
    if limit:
        items.append(("default", limit, 1, throttle.remaining(now), throttle.resets_in(now)))
    if throttle.quota.size:
        stamp = wall()
        left = throttle.quota.remaining(stamp)
        items.append(("daily", throttle.quota.size, DAY, left, until_midnight(stamp)))
    if not items:
        return ()
    if style == "x":
        _, q, _, r, t = items[0]
        return (
            ("X-RateLimit-Limit", str(q)),
            ("X-RateLimit-Remaining", str(r)),
            ("X-RateLimit-Reset", str(t)),
        )
    # Structured Fields (RFC 9651) serialise a List's members joined by ", ".
    policy = ", ".join(f'"{name}";q={q};w={w}' for name, q, w, _, _ in items)
    state = ", ".join(f'"{name}";r={r};t={t}' for name, _, _, r, t in items)
    return (("RateLimit-Policy", policy), ("RateLimit", state))


def with_fields(answer: Answer, fields: tuple[tuple[str, str], ...]) -> Answer:
    """``answer`` with ``fields`` added to its headers (itself when there are none)."""
    return dataclasses.replace(answer, headers=answer.headers + fields) if fields else answer


def _retry_after(settings: GatewaySettings, reason: str, wall: Wall) -> tuple[tuple[str, str], ...]:
    """The ``Retry-After`` header a refusal carries, if any."""
    if reason == "quota":
        if settings.quota_answer == "429":
            return (("Retry-After", str(until_midnight(wall()))),)
        if settings.quota_answer == "429_long":
            return (("Retry-After", str(LONG_RETRY_AFTER)),)
        return ()
    if settings.overload_answer == "429":
        return (("Retry-After", str(settings.retry_after)),)
    return ()


def _quota_text(size: int) -> str:
    return f"daily quota of {size} requests exhausted; it renews at 00:00 UTC"
