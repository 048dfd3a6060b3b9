"""The vendor's request signature (API.md section 5), worked out and checked on the gateway's side.

A signed request carries ``x-api-key``, ``authorization`` (the access token as
issued), ``x-timestamp`` (unix seconds) and ``x-api-signature``::

    HMAC-SHA256 SignedHeaders=authorization;x-api-key;x-timestamp, Signature=<hex>

where the signature is ``hex(HMAC_SHA256(app_secret, "HMAC-SHA256|" +
sha1_hex(canonical)))`` over::

    METHOD|path|query|name:value\\n...|name;name;...|[sha1_hex(body)]

with ``query`` the query string exactly as sent. The signed headers are those
the request names, in its order; the official SDK names the three above, and a
request that leaves one of them out is refused. An OAuth client sends
``authorization: Bearer <token>`` and no signature at all.

:func:`verify` says why a request is refused, as a name of the OpenAPI error
table (:mod:`.openapi_wire`), or None. Pure: no clock of its own, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence

from .settings import GatewaySettings

ALGORITHM = "HMAC-SHA256"
"""The only signing algorithm the vendor uses."""

REQUIRED: tuple[str, ...] = ("authorization", "x-api-key", "x-timestamp")
"""Headers every signature must cover, in the order the SDK signs them."""

_HEADER = re.compile(
    r"HMAC-SHA256 SignedHeaders=([a-z0-9-]+(?:;[a-z0-9-]+)*), Signature=([0-9a-f]{64})"
)
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def canonical(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    signed: Sequence[str] = REQUIRED,
    body: bytes = b"",
) -> str:
    """The text that is signed; ``headers`` maps lower-case names to values."""
    lines = "".join(f"{name}:{headers.get(name, '')}\n" for name in signed)
    text = f"{method}|{path}|{query}|{lines}|{';'.join(signed)}|"
    # Only a request with a body signs its hash: a GET adds nothing, not the empty hash.
    return text + hashlib.sha1(body).hexdigest() if body else text


def signature(secret: str, text: str) -> str:
    """The hex signature of a canonical text under ``secret``."""
    digest = hashlib.sha1(text.encode()).hexdigest()
    return hmac.new(secret.encode(), f"{ALGORITHM}|{digest}".encode(), hashlib.sha256).hexdigest()


def signature_header(signed: Sequence[str], hex_signature: str) -> str:
    """The ``x-api-signature`` value naming the signed headers."""
    return f"{ALGORITHM} SignedHeaders={';'.join(signed)}, Signature={hex_signature}"


def signed_headers(
    key: str, secret: str, token: str, timestamp: int, path: str, query: str, method: str = "GET"
) -> dict[str, str]:
    """The four headers a signed request carries, as the official SDK sends them."""
    headers = {"authorization": token, "x-api-key": key, "x-timestamp": str(timestamp)}
    text = canonical(method, path, query, headers)
    headers["x-api-signature"] = signature_header(REQUIRED, signature(secret, text))
    return headers


def verify(
    settings: GatewaySettings,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    now: float,
) -> str | None:
    """Why the request is refused (``token_invalid``, ``key_invalid``, ``timestamp_invalid``,
    ``signature_invalid``), or None when it is let through.

    ``headers`` maps lower-case names to values; ``now`` is the gateway's wall
    clock, unix seconds. Checked in that order, so a request with a wrong token
    hears about the token first, as from a gateway that looks the token up
    before anything else.
    """
    token = headers.get("authorization", "")
    scheme, _, bearer = token.partition(" ")
    if scheme.lower() == "bearer":
        oauth = settings.oauth_token
        return None if oauth is not None and _same(bearer, oauth) else "token_invalid"
    if not _same(token, settings.access_token):
        return "token_invalid"
    if not _same(headers.get("x-api-key", ""), settings.app_key):
        return "key_invalid"
    stamp = headers.get("x-timestamp", "")
    if _TIMESTAMP.fullmatch(stamp) is None or abs(int(stamp) - now) > settings.max_clock_skew:
        return "timestamp_invalid"
    found = _HEADER.fullmatch(headers.get("x-api-signature", ""))
    if found is None:
        return "signature_invalid"
    signed = tuple(found.group(1).split(";"))
    if not set(REQUIRED) <= set(signed) or len(set(signed)) != len(signed):
        return "signature_invalid"
    expected = signature(settings.app_secret, canonical(method, path, query, headers, signed))
    return None if _same(found.group(2), expected) else "signature_invalid"


def _same(given: str, expected: str) -> bool:
    """Compare secrets in constant time (any text: bytes of their UTF-8)."""
    return hmac.compare_digest(given.encode(errors="surrogatepass"), expected.encode())
