"""Who the harvester is to the upstream: the headers each request carries, signed or not.

- ``Anonymous``: nothing (a gateway without a token).
- ``Bearer``: ``Authorization: Bearer <token>``; the gateway's token, or an OAuth
  access token for the vendor's OpenAPI (no signature, as the vendor's SDK does it).
- ``Signed``: the OpenAPI's signed headers (API.md section 5): the app key, the
  access token as issued, the time in unix seconds and an HMAC-SHA256 signature
  over the method, path, query and those three headers. It reproduces the
  official SDK's signature (``tests/upstream/test_sdk_conformance.py``).

Credentials come from the environment the vendor's SDK reads
(``LONGBRIDGE_APP_KEY`` ... or the older ``LONGPORT_*``); they only ever go into
headers, never into a log, a message or the database (``secrets`` lists what
the client redacts from any text it passes on).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from harvester.catalog import GATEWAY, Dialect
from harvester.errors import ConfigError

SIGNED_HEADERS = "authorization;x-api-key;x-timestamp"
_CREDENTIALS = ("APP_KEY", "APP_SECRET", "ACCESS_TOKEN")


def signature(
    secret: str,
    method: str,
    path: str,
    query: str,
    *,
    token: str,
    key: str,
    timestamp: str,
    body: bytes = b"",
) -> str:
    """The hex HMAC-SHA256 the OpenAPI checks; ``query`` exactly as sent, without ``?``."""
    canonical = (
        f"{method}|{path}|{query}|"
        f"authorization:{token}\nx-api-key:{key}\nx-timestamp:{timestamp}\n"
        f"|{SIGNED_HEADERS}|"
    )
    if body:
        canonical += hashlib.sha1(body).hexdigest()
    digest = hashlib.sha1(canonical.encode()).hexdigest()
    message = f"HMAC-SHA256|{digest}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Anonymous:
    """No credentials: requests go out without any."""

    hint: str = "the gateway asks for credentials: set the token's environment variable"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Nothing to redact."""
        return ()

    def headers(self, method: str, path: str, query: str, now: float) -> dict[str, str]:
        """No headers."""
        return {}


@dataclass(frozen=True, slots=True)
class Bearer:
    """A bearer token; ``hint`` says where it came from, for a refusal's message."""

    token: str = field(repr=False)
    hint: str

    @property
    def secrets(self) -> tuple[str, ...]:
        """The token."""
        return (self.token,)

    def headers(self, method: str, path: str, query: str, now: float) -> dict[str, str]:
        """``Authorization: Bearer <token>``."""
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True, slots=True)
class Signed:
    """The OpenAPI's app key, secret and access token: every request signed at its send time."""

    key: str
    secret: str = field(repr=False)
    token: str = field(repr=False)
    hint: str

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secret and the token (the key goes out in the clear, but is no one's business)."""
        return (self.secret, self.token, self.key)

    def headers(self, method: str, path: str, query: str, now: float) -> dict[str, str]:
        """The four headers, with the time ``now`` (unix seconds) in them."""
        timestamp = str(int(now))
        signed = signature(
            self.secret, method, path, query, token=self.token, key=self.key, timestamp=timestamp
        )
        return {
            "x-api-key": self.key,
            "authorization": self.token,
            "x-timestamp": timestamp,
            "x-api-signature": f"HMAC-SHA256 SignedHeaders={SIGNED_HEADERS}, Signature={signed}",
        }


Auth = Anonymous | Bearer | Signed


def credentials(dialect: Dialect, token_env: str, environ: Mapping[str, str]) -> Auth:
    """The credentials for ``dialect`` from ``environ``, or a ConfigError naming what to set.

    The gateway takes an optional bearer token from ``token_env``. The OpenAPI takes
    the SDK's app key, secret and access token (the first prefix of
    ``dialect.env_prefixes`` that sets any of them), else an OAuth access token in
    ``token_env``; with neither, nothing could be signed, so nothing is sent.
    """
    token = environ.get(token_env) or ""
    if dialect.name == GATEWAY:
        hint = f"check the token in the environment variable {token_env}"
        return Bearer(token, hint) if token else Anonymous(hint)
    for prefix in dialect.env_prefixes:
        names = [f"{prefix}{part}" for part in _CREDENTIALS]
        values = [environ.get(name) or "" for name in names]
        if not any(values):
            continue
        missing = [name for name, value in zip(names, values, strict=True) if not value]
        if missing:
            raise ConfigError(
                f"environment: {', '.join(missing)} not set; the OpenAPI needs "
                f"{', '.join(names)} (as the vendor's SDK reads them)"
            )
        return Signed(*values, hint=f"check {', '.join(names)}")
    if token:
        return Bearer(token, f"check the OAuth access token in {token_env}")
    first = dialect.env_prefixes[0]
    raise ConfigError(
        f"environment: no OpenAPI credentials; set {first}APP_KEY, {first}APP_SECRET and "
        f"{first}ACCESS_TOKEN (as for the vendor's SDK), or an OAuth access token in {token_env}"
    )
