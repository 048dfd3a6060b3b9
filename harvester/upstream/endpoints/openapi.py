"""The vendor's own OpenAPI (API.md section 5): short trades and short positions.

Requests go to a path per market (``/v1/quote/short-trades/us``) with the symbol,
a ``last_timestamp`` cut-off (unix seconds: records up to it, newest first) and
the count in the query. Answers nest the records in ``data.data``; every value
is a string and ``timestamp`` is unix seconds at midnight of the day in the
exchange's zone. The vendor's codes (https://open.longportapp.com/docs/error-codes,
and ``401004``/``401102`` from API.md) decide what a refusal means: bad
credentials stop the run, rate limiting and internal errors are retried.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from harvester import catalog
from harvester.errors import (
    CredentialsRefused,
    FetchError,
    InvalidRequest,
    MalformedResponse,
    RateLimited,
    Rejected,
    UpstreamError,
)
from harvester.model import Symbol
from harvester.upstream.endpoints.base import (
    Adapter,
    Parsed,
    RequestSpec,
    _clock,
    as_code,
    check_http,
    code_envelope_data,
    decode,
    http_date,
    refuse_quota,
    retry_after_seconds,
)
from harvester.upstream.endpoints.values import epoch_s_date

#: The vendor's documented codes: what each means and the error it stands for.
CODES: dict[int, tuple[str, type[FetchError]]] = {
    401003: ("token expired: refresh the access token", CredentialsRefused),
    401004: ("token invalid", CredentialsRefused),
    401102: ("token verification failed", CredentialsRefused),
    403201: ("signature invalid", CredentialsRefused),
    403202: ("duplicate request (same x-timestamp)", RateLimited),
    403203: ("app key illegal", CredentialsRefused),
    403205: ("IP address not allowed", CredentialsRefused),
    429001: ("too many requests from this IP address", RateLimited),
    429002: ("too many requests to the API", RateLimited),
    500000: ("internal error", UpstreamError),
}
#: A request repeated within the second it was signed in carries the same ``x-timestamp``
#: and is refused as a duplicate (403202): its retry waits for the next second.
DUPLICATE, NEXT_SECOND = 403202, 1.0
CLOCK_SKEW_MAX = 60.0  # seconds between our clock and the upstream's that a refusal blames


def classify(code: int, message: str, *, retry_unknown: bool = False) -> FetchError:
    """The error for a non-zero OpenAPI ``code``; an unknown one keeps its code and message."""
    meaning, kind = CODES.get(code, ("", Rejected))
    # The upstream's own words, unless they only repeat (or begin with) the code's meaning.
    said = message.removeprefix(meaning).lstrip(": ") if meaning else message
    text = f"{code} {meaning}" + (f": {said}" if said else "")
    if code == DUPLICATE:
        return RateLimited(text, retry_after=NEXT_SECOND, code=str(code))
    if kind is RateLimited:
        return RateLimited(f"HTTP 429 {text}")
    if kind is Rejected:
        if retry_unknown:
            return UpstreamError(f"unknown code {code}: {message}", code=str(code))
        return Rejected(f"unknown code {code}: {message}", code=str(code))
    return kind(text, code=str(code))


def clock_note(headers: Mapping[str, str], now: datetime) -> str:
    """A sentence blaming this machine's clock, if the answer's ``Date`` is far from it."""
    theirs = http_date(headers.get("Date"))
    if theirs is None:
        return ""
    skew = (now - theirs).total_seconds()
    if abs(skew) <= CLOCK_SKEW_MAX:
        return ""
    way = "ahead of" if skew > 0 else "behind"
    return (
        f"; this machine's clock is {abs(skew) / 60:.0f} min {way} the upstream's, and the "
        "signature carries the time: set the clock right (NTP)"
    )


class OpenApiAdapter(Adapter):
    """Base of the two OpenAPI adapters: request, envelope and dates are the same."""

    def format_symbol(self, symbol: Symbol) -> str:
        """``700.HK``, ``AAPL.US``: as the SDK sends them."""
        return symbol.canonical

    def request(
        self,
        symbol: Symbol,
        path: str,
        count: int,
        *,
        before: int | None = None,
        now: datetime | None = None,
    ) -> RequestSpec:
        """The request for ``count`` records up to ``before`` (unix s; default: ``now``).

        ``path`` (the gateway dialect's setting) is not used: the paths are the vendor's.
        """
        template = self.endpoint.openapi or ""
        cutoff = before if before is not None else int(_clock(now).timestamp())
        query = (
            ("symbol", self.format_symbol(symbol)),
            ("last_timestamp", str(cutoff)),
            (self.endpoint.openapi_count, str(count)),
        )
        return RequestSpec(template.replace("{market}", symbol.market.lower()), query)

    def parse(
        self,
        symbol: Symbol,
        status: int,
        content_type: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        retry_unknown: bool = False,
        now: datetime | None = None,
    ) -> Parsed:
        """Map an answer to rows; a refusal with the vendor's code is classified by it."""
        now = _clock(now)
        refuse_quota(status, body)
        if status != 200 and (code := _code_of(body)) is not None:
            error = _refusal(status, *code, retry_unknown=retry_unknown)
            if isinstance(error, RateLimited):
                wait = retry_after_seconds(
                    headers.get("Retry-After"), date_header=headers.get("Date"), now=now
                )
                wait = wait if wait is not None else error.retry_after
                raise RateLimited(error.message, retry_after=wait, code=error.code or "http_429")
            if isinstance(error, CredentialsRefused):
                note = clock_note(headers, now)
                raise CredentialsRefused(
                    f"the OpenAPI refused the credentials (HTTP {status} {error.message}){note}",
                    code=error.code,
                )
            raise error
        try:
            check_http(status, content_type, headers, now=now)
        except CredentialsRefused as error:
            note = clock_note(headers, now)
            raise CredentialsRefused(error.message + note, code=error.code) from None
        records = self.envelope(decode(body, content_type), retry_unknown)
        return self.map_records(symbol, records, now=now)

    def envelope(self, document: Any, retry_unknown: bool) -> Sequence[Any]:
        """The ``data.data`` list of a ``code``/``message`` envelope."""
        data = code_envelope_data(
            document, lambda code, message: classify(code, message, retry_unknown=retry_unknown)
        )
        if data is None:
            return []
        # A flat list here is not this dialect: the SDK would silently return nothing.
        records = data.get("data") if isinstance(data, dict) else None
        if records is None and isinstance(data, dict):
            return []
        if not isinstance(records, list):
            raise MalformedResponse("envelope data.data is not a list", code="malformed_body")
        return records

    def record_dates(self, records: list[dict[str, Any]], tz: str) -> tuple[list[date | None], int]:
        """The exchange-local days of the records' unix-second ``timestamp``s."""
        return [epoch_s_date(record.get("timestamp"), tz) for record in records], 0


def _refusal(status: int, code: int, message: str, *, retry_unknown: bool) -> FetchError:
    """A non-200 answer with the vendor's ``code``: by the code if documented, else by the
    status (400: the request is invalid; 5xx: retried), the code and message kept."""
    if code in CODES:
        return classify(code, message, retry_unknown=retry_unknown)
    if status == 400:
        return InvalidRequest(f"HTTP 400 {code}: {message}", code=str(code))
    if status >= 500:
        return UpstreamError(f"HTTP {status} {code}: {message}", code=str(code))
    return classify(code, f"HTTP {status}: {message}", retry_unknown=retry_unknown)


def _code_of(body: bytes) -> tuple[int, str] | None:
    """The ``code`` and ``message`` of a refusal's JSON body, if it has them."""
    try:
        document = decode(body, "")
    except MalformedResponse:
        return None
    if not isinstance(document, dict):
        return None
    code = as_code(document.get("code"))
    message = document.get("message")
    if not code:
        return None
    return code, message if isinstance(message, str) else ""


class OpenShortTrades(OpenApiAdapter):
    """Daily short trades on the OpenAPI: the same records and table as the gateway's."""

    endpoint = catalog.SHORT_TRADES


class OpenShortPositions(OpenApiAdapter):
    """Short positions on the OpenAPI: a data set of their own."""

    endpoint = catalog.SHORT_POSITIONS


OPEN_SHORT_TRADES = OpenShortTrades()
OPEN_SHORT_POSITIONS = OpenShortPositions()
