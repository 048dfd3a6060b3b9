"""The HTTP client: one aiohttp session, the account's limits and each endpoint's under them.

Every attempt, retries included, takes a slot of its endpoint's in-flight cap
and one of the account's (``[gateway] concurrency``, every endpoint together),
then the go-ahead of its endpoint's :class:`~harvester.upstream.rate_limit.RateLimit`
(``rate`` a second on average, never more than ``rate + burst`` in any second)
and of the account's :class:`~harvester.upstream.pacer.Pacer` (no burst): the
upstream counts calls per account, so the endpoints' limits are only ceilings
under it. The pacer starts at ``[gateway] rate`` (else the endpoints' rates
together) and moves with what the upstream answers. Then the request is signed
(:mod:`harvester.upstream.auth`) with the time it goes out.
Redirects are never followed, bodies over ``max_body_bytes`` are refused
unread, and credentials only ever go into headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import quote

import aiohttp
from yarl import URL

from harvester.errors import Rejected, TransportError
from harvester.settings.config import EndpointConfig, GatewayConfig
from harvester.upstream.auth import Anonymous, Auth
from harvester.upstream.pacer import Pacer
from harvester.upstream.rate_limit import ACCOUNT_KEPT, RATE_KEPT, RateLimit

# Date: a Retry-After date is relative to it. The RateLimit fields state the upstream's limit.
_KEPT_HEADERS = (
    "Retry-After",
    "Location",
    "Date",
    "RateLimit-Policy",
    "RateLimit",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
)
REDACTED = "[redacted]"
_CHUNK = 65_536


@dataclass(frozen=True, slots=True)
class Response:
    """What the adapters need of an HTTP answer."""

    status: int
    content_type: str
    headers: dict[str, str]
    body: bytes


class Client:
    """Sends GET requests for the sweep; use as ``async with Client(...) as client``."""

    def __init__(
        self,
        gateway: GatewayConfig,
        endpoints: Sequence[EndpointConfig],
        *,
        auth: Auth | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._gateway = gateway
        self._endpoints = {endpoint.name: endpoint for endpoint in endpoints}
        self.auth: Auth = auth if auth is not None else Anonymous()  #: what signs each request
        self._wall = wall  # the clock a signature's time is read from
        self._base = gateway.base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._limiters: dict[str, RateLimit] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._account_slots: asyncio.Semaphore | None = None
        #: the account's pace over every endpoint; built in the running loop
        self.pacer: Pacer | None = None
        self.requests: Counter[str] = Counter()  #: attempts sent, by endpoint

    def __repr__(self) -> str:
        return f"<Client {self._base} requests={dict(self.requests)}>"

    @property
    def sent(self) -> int:
        """Requests sent so far, every endpoint and retry included."""
        return sum(self.requests.values())

    async def __aenter__(self) -> Client:
        # The session, limiters and semaphores belong to the running loop.
        headers = {"Accept": "application/json", "User-Agent": "harvester"}
        in_flight = sum(endpoint.concurrency for endpoint in self._endpoints.values())
        if self._gateway.concurrency:
            in_flight = min(in_flight, self._gateway.concurrency)
            self._account_slots = asyncio.Semaphore(self._gateway.concurrency)
        # Without an account's rate the endpoints' together are the pace's ceiling: the
        # upstream may still limit them together, lower, and the pacer finds that out.
        rates = sum(endpoint.rate for endpoint in self._endpoints.values())
        self.pacer = (
            Pacer(self._gateway.rate, kept=ACCOUNT_KEPT)
            if self._gateway.rate
            else Pacer(rates, kept=RATE_KEPT, engaged=False)
        )
        self._session = aiohttp.ClientSession(
            headers=headers,
            connector=aiohttp.TCPConnector(limit=in_flight, limit_per_host=0),
            timeout=aiohttp.ClientTimeout(
                total=self._gateway.timeout, sock_connect=self._gateway.connect_timeout
            ),
            raise_for_status=False,
        )
        for name, endpoint in self._endpoints.items():
            self._limiters[name] = RateLimit(endpoint.rate, endpoint.burst)
            self._slots[name] = asyncio.Semaphore(endpoint.concurrency)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session; harmless when already closed."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def url(self, path: str, query: Sequence[tuple[str, str]]) -> URL:
        """The URL of a request; the path is already percent-encoded by the adapter."""
        query_text = "&".join(
            f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in query
        )
        # encoded=True keeps yarl from quoting the adapter's encoding a second time.
        return URL(f"{self._base}{path}?{query_text}" if query else self._base + path, encoded=True)

    def redact(self, text: str) -> str:
        """``text`` with the credentials taken out: an upstream may echo the request's headers."""
        if not text:
            return text
        for secret in self.auth.secrets:
            for form in (secret, quote(secret, safe="")):
                text = text.replace(form, REDACTED)
        return text

    async def get(
        self,
        endpoint: str,
        path: str,
        query: Sequence[tuple[str, str]],
        *,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> Response:
        """One attempt: wait for a slot and a token, send, read the bounded body.

        ``before_send`` runs once the slot and the token are granted, just
        before the request goes out; it may raise to send nothing after all.
        """
        if self._session is None or self.pacer is None:
            raise RuntimeError("Client used outside 'async with'")
        url = self.url(path, query)
        async with self._slots[endpoint], self._account_slot():
            await self._limiters[endpoint].acquire()
            await self.pacer.acquire()
            if before_send is not None:
                await before_send()
            self.requests[endpoint] += 1
            signed = self.auth.headers("GET", url.raw_path, url.raw_query_string, self._wall())
            try:
                async with self._session.get(url, headers=signed, allow_redirects=False) as answer:
                    body = await self._read(answer)
                    kept = answer.headers
                    headers = {k: kept[k] for k in _KEPT_HEADERS if k in kept}
                    return Response(answer.status, answer.content_type, headers, body)
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                # No connection at all: the gateway's state, not an answer about a symbol.
                raise TransportError(
                    f"cannot connect to the gateway: {type(exc).__name__}",
                    code="connection_error",
                    unreachable=True,
                ) from exc
            except TimeoutError as exc:
                raise TransportError(
                    f"no complete answer within {self._gateway.timeout:g}s", code="timeout"
                ) from exc
            except aiohttp.ClientPayloadError as exc:
                raise TransportError(
                    "connection broken in the middle of the body", code="connection_reset"
                ) from exc
            except aiohttp.ClientResponseError as exc:
                # aiohttp's message may quote the answer, which may echo the token.
                raise TransportError(
                    f"bad HTTP answer: {self.redact(exc.message)}", code="bad_http"
                ) from exc
            except aiohttp.ClientError as exc:
                raise TransportError(
                    f"cannot reach the gateway: {type(exc).__name__}", code="connection_error"
                ) from exc

    def _account_slot(self) -> contextlib.AbstractAsyncContextManager[object]:
        """One of the account's in-flight slots, or nothing when it has no cap."""
        return self._account_slots if self._account_slots is not None else contextlib.nullcontext()

    async def _read(self, answer: aiohttp.ClientResponse) -> bytes:
        """Read the body, refusing anything over the size limit without reading it all."""
        limit = self._gateway.max_body_bytes
        length = answer.content_length
        if length is not None and length > limit:
            raise Rejected(
                f"answer of {length} bytes is over the {limit}-byte limit", code="body_too_large"
            )
        if length is not None:
            # aiohttp stops at the declared length, so this read is bounded too.
            return await answer.read()
        chunks: list[bytes] = []
        size = 0
        async for chunk in answer.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise Rejected(f"answer is over the {limit}-byte limit", code="body_too_large")
            chunks.append(chunk)
        return b"".join(chunks)
