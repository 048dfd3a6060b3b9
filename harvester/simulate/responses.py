"""Answers on the wire: both envelopes, the error table and every fault mode.

An :class:`Answer` is a plain value (status, headers, body bytes), so what the
gateway says can be built and checked without a server; ``app`` only sends it.
The two endpoints come from different API families and keep their own
envelopes: ``short_trades`` says ``code``/``message``, ``short_interest`` says
``ret_code``/``ret_msg`` plus a string ``error.code``.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

JSON = "application/json"
"""Content types of the answers; text ones are sent with ``charset=utf-8``."""
HTML = "text/html"
TEXT = "text/plain"

ERRORS: dict[str, tuple[int, str, str]] = {
    "invalid_parameter": (-3, "invalid_parameter", "invalid parameter"),
    "internal_error": (-5, "internal_error", "internal error, please retry"),
    "invalid_symbol": (-7, "invalid_symbol", "symbol does not exist"),
    "unsupported": (-8, "unsupported", "market or security type not supported"),
    "no_data": (-10, "no_data", "no data for this security"),
    # Not in the documented table: the harvester must keep code and message.
    "unknown_code": (-99, "unknown_error", "unexpected upstream condition"),
}
"""Error name -> (numeric code, ``error.code`` string, default message)."""

_HTML_502 = b"""<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""

_HTML_200 = b"""<!DOCTYPE html>
<html><head><title>Scheduled maintenance</title></head>
<body><h1>We'll be right back</h1><p>The quote service is under maintenance.</p></body>
</html>
"""


@dataclass(frozen=True)
class Answer:
    """One HTTP answer; ``abort_after`` > 0 means cut the connection after that many bytes."""

    outcome: str
    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()
    abort_after: int | None = None


def success(endpoint: str, records: list[dict[str, object]]) -> Answer:
    """The success envelope of the endpoint around ``records``."""
    if endpoint == "short_trades":
        doc: dict[str, object] = {"code": 0, "message": "success", "data": records}
    else:
        doc = {"ret_code": 0, "ret_msg": "success", "data": {"items": records}}
    return Answer("ok" if records else "empty", 200, orjson.dumps(doc))


def error(endpoint: str, name: str, message: str | None = None) -> Answer:
    """The error envelope for a name of :data:`ERRORS`, with HTTP status 200."""
    code, string_code, default = ERRORS[name]
    message = message or default
    if endpoint == "short_trades":
        doc: dict[str, object] = {"code": code, "message": message, "data": []}
    else:
        doc = {
            "ret_code": code,
            "ret_msg": message,
            "error": {"code": string_code, "message": message},
            "data": None,
        }
    return Answer(name, 200, orjson.dumps(doc))


def text(outcome: str, status: int, body: str, *headers: tuple[str, str]) -> Answer:
    """A small plain-text answer, for statuses that carry no envelope."""
    return Answer(outcome, status, body.encode(), TEXT, tuple(headers))


def bad_request(reason: str) -> Answer:
    """HTTP 400: the upstream documents no body schema, so plain text."""
    return text("http_400", 400, f"400 Bad Request: {reason}\n")


def unauthorized() -> Answer:
    """HTTP 401 for a missing or wrong bearer token."""
    return text("http_401", 401, "401 Unauthorized\n", ("WWW-Authenticate", 'Bearer realm="quote"'))


def rate_limited() -> Answer:
    """HTTP 429 from the rate limit, with ``Retry-After: 1``."""
    return text("rate_limited", 429, "429 Too Many Requests\n", ("Retry-After", "1"))


def fault(endpoint: str, name: str, normal: Answer) -> Answer:
    """The answer for a fault name; ``normal`` is what would have been sent."""
    if name in ERRORS:
        return error(endpoint, name)
    if name == "http_429":
        return text(name, 429, "429 Too Many Requests\n", ("Retry-After", "1"))
    if name == "http_400":
        return text(name, 400, "400 Bad Request\n")
    if name == "http_500":
        return text(name, 500, "500 Internal Server Error\n")
    if name == "http_502_html":
        return Answer(name, 502, _HTML_502, HTML)
    if name == "html_200":
        return Answer(name, 200, _HTML_200, HTML)
    half = len(normal.body) // 2
    if name == "truncated":
        return Answer(name, 200, normal.body[:half], normal.content_type)
    if name == "reset":
        return Answer(name, 200, normal.body, normal.content_type, abort_after=max(half, 1))
    raise ValueError(f"not a fault name: {name!r}")
