"""The OpenAPI dialect on the wire: its envelope, its error codes and its fault answers.

Success is ``{"code": 0, "message": "success", "data": {"counter_id": ...,
"data": [records]}}``: the records sit in ``data.data`` (API.md section 5). An
error is ``{"code": N, "message": text}`` with the HTTP status of
:data:`ERRORS`. Where the vendor's error-code page
(https://open.longportapp.com/docs/api-reference/error-codes) or API.md names a
code, it is used:

=================  ======  ======  ============================================
error              status  code    source
=================  ======  ======  ============================================
token_invalid      401     401004  API.md (the page lists only 401003 expired)
key_invalid        401     401102  API.md's "token verification failed" (the
signature_invalid                  page has 403/403201 "signature invalid" and
timestamp_invalid                  403/403203 "apikey illegal"; no timestamp code)
account_limited    429     429002  the page: "api request is limited"
rate_limited
http_429
throttled                          (the shared limit of :mod:`.throttle`)
quota_exhausted                    (the daily quota; message says "quota")
quota_forbidden    403     403900  the simulator's own: the daily quota as a 403
internal_error     500     500000  the page: "internal error"
invalid_parameter  400     400001  the simulator's own: the page has none
unsupported        400     400002  the simulator's own
invalid_symbol     404     404001  the simulator's own
no_data            404     404002  the simulator's own
unknown_code       200     999999  the simulator's own: a code no client knows
=================  ======  ======  ============================================

The simulator's own codes follow the vendor's pattern (the status, then three
digits). Transport faults (``http_400``, ``http_500``, ``http_502_html``,
``html_200``, ``truncated``, ``reset``) are those of the gateway dialect
(:func:`.responses.fault`): they are the proxy's, not the API's. No 429 here
carries ``Retry-After`` (the vendor documents none), except the throttle's own
refusals (:mod:`.throttle_wire`), whose settings ask for it.
"""

from __future__ import annotations

import orjson

from . import responses
from .responses import Answer

ERRORS: dict[str, tuple[int, int, str]] = {
    "token_invalid": (401, 401004, "token invalid"),
    "key_invalid": (401, 401102, "token verification failed: unknown app key"),
    "timestamp_invalid": (
        401,
        401102,
        "token verification failed: x-timestamp expired or invalid",
    ),
    "signature_invalid": (401, 401102, "token verification failed: signature invalid"),
    "account_limited": (429, 429002, "api request is limited"),
    "rate_limited": (429, 429002, "api request is limited"),
    "http_429": (429, 429002, "api request is limited"),
    "throttled": (429, 429002, "api request is limited"),
    "quota_exhausted": (429, 429002, "api request is limited"),
    "quota_forbidden": (403, 403900, "request quota exceeded"),
    "internal_error": (500, 500000, "internal error"),
    "invalid_parameter": (400, 400001, "invalid parameter"),
    "unsupported": (400, 400002, "market or security type not supported"),
    "invalid_symbol": (404, 404001, "security not found"),
    "no_data": (404, 404002, "no data for this security"),
    "unknown_code": (200, 999999, "unexpected upstream condition"),
}
"""Error name (also the outcome in the stats) -> (HTTP status, code, default message)."""


def success(counter_id: str, records: list[dict[str, object]]) -> Answer:
    """The success envelope: the records nested in ``data.data``."""
    doc = {"code": 0, "message": "success", "data": {"counter_id": counter_id, "data": records}}
    return Answer("ok" if records else "empty", 200, orjson.dumps(doc))


def error(name: str, detail: str | None = None) -> Answer:
    """The error answer for a name of :data:`ERRORS`; ``detail`` follows its message."""
    status, code, message = ERRORS[name]
    if detail:
        message = f"{message}: {detail}"
    return Answer(name, status, orjson.dumps({"code": code, "message": message}))


def fault(name: str, normal: Answer) -> Answer:
    """The answer for a fault name (:data:`.faults.FAULTS`); ``normal`` is what would be sent."""
    if name in ERRORS:
        return error(name)
    # Transport faults look the same whichever API is behind the proxy.
    return responses.fault("short_trades", name, normal)
