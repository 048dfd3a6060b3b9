"""What every endpoint adapter shares: request specs, HTTP and code classification, rows.

An adapter is a plain object with no I/O, bound to its entry in ``harvester.catalog``
(name, default path, default ``count`` and its range, and the columns of its table
with the upstream field each market fills them from). It formats a symbol its own
way, parses its envelope and maps records to rows of its table. Adding an endpoint
means one catalog entry and one adapter module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import cache, cached_property
from itertools import repeat
from typing import Any, ClassVar, cast
from urllib.parse import quote

import orjson

from harvester.catalog import ROW_HEAD, Column, Endpoint
from harvester.errors import (
    CredentialsRefused,
    FetchError,
    InvalidRequest,
    MalformedResponse,
    NoData,
    QuotaSpent,
    RateLimited,
    Rejected,
    TransportError,
    Unsupported,
    UpstreamError,
)
from harvester.model import MARKET_TZ, SUPPORTED_MARKETS, Symbol
from harvester.upstream.endpoints.values import PARSERS, iso_text, zone

# Every documented non-zero upstream code, transient (-5) and permanent alike: its number,
# its string ``error.code`` and the error it stands for.
_CODES: dict[int, tuple[str, type[FetchError]]] = {
    -3: ("invalid_parameter", InvalidRequest),
    -7: ("invalid_symbol", InvalidRequest),
    -8: ("unsupported", Unsupported),
    -10: ("no_data", NoData),
    -5: ("internal_error", UpstreamError),
}
_BY_NAME = {name: number for number, (name, _) in _CODES.items()}

Parser = Callable[[object], Any]
_QUOTA_LOOK = 4096  # bytes of a 403's body looked at for the word "quota"


@dataclass(frozen=True, slots=True)
class Field:
    """Where a column's value comes from in one market's record."""

    source: str
    column: str
    parse: Parser


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """The path and query of one request, the symbol already encoded."""

    path: str
    query: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Parsed:
    """Rows mapped from one successful answer and the warnings raised on the way."""

    rows: tuple[tuple[Any, ...], ...]
    warnings: int


def classify_code(
    number: int | None, name: str | None, message: str, *, retry_unknown: bool = False
) -> FetchError:
    """Translate a non-zero upstream code (number or string ``error.code``) into an error."""
    if name in _BY_NAME and number not in _CODES:
        number = _BY_NAME[name]  # a documented string code beats an undocumented number
    label = name or (_CODES[number][0] if number in _CODES else None)
    code = str(number) if number is not None else name
    text = f"{label}: {message}" if label and message else (message or label or "unknown error")
    if number in _CODES:
        return _CODES[number][1](text, code=code)
    if retry_unknown:
        return UpstreamError(f"unknown code {code}: {message}", code=code)
    return Rejected(f"unknown code {code}: {message}", code=code)


def retry_after_seconds(
    value: str | None, *, date_header: str | None = None, now: datetime | None = None
) -> float | None:
    """Seconds a ``Retry-After`` (seconds or HTTP-date) asks for; None if absent or junk."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 else None
    retry_at = http_date(value)
    if retry_at is None:
        return None
    # The answer's own Date is the gateway's clock: our clock's skew cancels out.
    reference = http_date(date_header) or _clock(now)
    return max(0.0, (retry_at - reference).total_seconds())


def http_date(value: str | None) -> datetime | None:
    """An aware datetime from an HTTP-date (``Wed, 21 Oct 2026 07:28:00 GMT``), or None."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # A ``-0000`` zone parses as naive; HTTP-dates are always GMT.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _clock(now: datetime | None) -> datetime:
    """``now`` if given (it must be aware), else the current UTC time."""
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    return now


def _latest_day(now: datetime | None, tz: str) -> date:
    """The last trading day an answer may hold: tomorrow in zone ``tz``.

    Tomorrow, not today: the exchange's day may start before ours, and some
    figures are published ahead of the day they stand for.
    """
    return _clock(now).astimezone(zone(tz)).date() + timedelta(days=1)


def refuse_quota(status: int, body: bytes) -> None:
    """Raise QuotaSpent for a 403 whose body names the quota: not bad credentials."""
    if status == 403 and b"quota" in body[:_QUOTA_LOOK].lower():
        raise QuotaSpent("HTTP 403: the upstream says the account's quota is spent", code="quota")


def check_http(
    status: int, content_type: str, headers: Mapping[str, str], *, now: datetime | None = None
) -> None:
    """Raise the error an HTTP status stands for; return on 200."""
    if status == 200:
        return
    if status == 429:
        wait = retry_after_seconds(
            headers.get("Retry-After"), date_header=headers.get("Date"), now=now
        )
        raise RateLimited("HTTP 429 too many requests", retry_after=wait)
    if status == 400:
        raise InvalidRequest("HTTP 400 bad request", code="http_400")
    if 300 <= status < 400:
        raise Rejected(f"HTTP {status} redirect not followed", code=f"http_{status}")
    if status in (401, 403):
        raise CredentialsRefused(
            f"the gateway refused the credentials (HTTP {status})", code=f"http_{status}"
        )
    if status >= 500:
        raise TransportError(
            f"HTTP {status} from the gateway ({content_type or 'no type'})", code=f"http_{status}"
        )
    raise Rejected(f"HTTP {status}", code=f"http_{status}")


def decode(body: bytes, content_type: str) -> Any:
    """Parse a JSON body; anything else is a malformed (retryable) answer."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedResponse(
            f"body is not JSON ({content_type or 'no type'}, {len(body)} bytes)",
            code="malformed_body",
        ) from exc


def as_code(value: object) -> int | None:
    """An envelope's numeric code, tolerating a numeric string; None if absent or junk."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def code_envelope_data(document: Any, refusal: Callable[[int, str], FetchError]) -> Any:
    """The ``data`` of a ``code``/``message`` envelope (both dialects' short trades, the
    OpenAPI's short positions) whose code is 0; else raise ``refusal(code, message)``."""
    if not isinstance(document, dict) or "code" not in document:
        raise MalformedResponse("answer is not a code/message envelope", code="malformed_body")
    code = as_code(document.get("code"))
    if code is None:
        raise MalformedResponse(
            f"envelope code {document.get('code')!r} is not a number", code="malformed_body"
        )
    if code != 0:
        message = document.get("message")
        raise refusal(code, message if isinstance(message, str) else "")
    return document.get("data")


class Adapter:
    """Base of the endpoint adapters; subclasses name their catalog entry and read envelopes."""

    endpoint: ClassVar[Endpoint]  # the catalog entry: name, path, count, columns

    @property
    def name(self) -> str:
        """The endpoint's name, as in ``[endpoints.NAME]`` and the ``tasks`` table."""
        return self.endpoint.name

    @property
    def table(self) -> str:
        """The table its rows go to, named after the endpoint."""
        return self.endpoint.name

    @property
    def columns(self) -> tuple[Column, ...]:
        """The data columns of its rows, after ``symbol, market, trade_date``, in order."""
        return self.endpoint.columns

    @cached_property
    def fields(self) -> Mapping[str, tuple[Field, ...]]:
        """Per market, each filled column's upstream field and the parser of its SQL type."""
        return {
            market: tuple(
                Field(source, column.name, PARSERS[column.type])
                for column in self.columns
                if (source := column.source(market))
            )
            for market in SUPPORTED_MARKETS
        }

    def format_symbol(self, symbol: Symbol) -> str:
        """The symbol in this endpoint's own style."""
        raise NotImplementedError

    def envelope(self, document: Any, retry_unknown: bool) -> Sequence[Any]:
        """The records of a success envelope; raise the classified error otherwise."""
        raise NotImplementedError

    def record_dates(self, records: list[dict[str, Any]], tz: str) -> tuple[list[date | None], int]:
        """Each record's trading date (None if unusable), and the warnings found deciding them."""
        raise NotImplementedError

    def request(
        self,
        symbol: Symbol,
        path: str,
        count: int,
        *,
        before: int | None = None,
        now: datetime | None = None,
    ) -> RequestSpec:
        """The request for ``symbol`` at ``path`` (a template with ``{symbol}``), asking for
        ``count`` records: the symbol in its style, URL-encoded as one path segment.

        The gateway dialect has no cut-off: ``before`` must be None (history stops at
        ``count``), and ``now`` is not needed.
        """
        if before is not None:
            raise ValueError(f"{self.name}: the gateway dialect cannot page back (no cut-off)")
        segment = quote(self.format_symbol(symbol), safe="")
        return RequestSpec(path.replace("{symbol}", segment), (("count", str(count)),))

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
        """Map an HTTP answer to rows or raise its error, as of ``now`` (default: the clock)."""
        now = _clock(now)
        refuse_quota(status, body)
        check_http(status, content_type, headers, now=now)
        records = self.envelope(decode(body, content_type), retry_unknown)
        return self.map_records(symbol, records, now=now)

    def map_records(
        self, symbol: Symbol, records: Iterable[Any], *, now: datetime | None = None
    ) -> Parsed:
        """Map records to rows ``(*ROW_HEAD, *columns)``; one per trading day, the first wins.

        Works column by column, zipped into rows at the end. A record
        dated after tomorrow in the exchange's zone, as of ``now`` (default: the
        clock), is dropped like one with no date: it would top every "latest" query.
        """
        records = list(records)
        kept: list[dict[str, Any]] = [record for record in records if isinstance(record, dict)]
        warnings = len(records) - len(kept)
        tz = MARKET_TZ[symbol.market]
        days, problems = self.record_dates(kept, tz)
        warnings += problems
        # Computed per call, not inside the cached date parsers: it moves with the clock.
        ceiling = _latest_day(now, tz)
        if (
            None in days
            or len(set(days)) < len(days)
            or max(cast(list[date], days), default=ceiling) > ceiling
        ):
            kept, days, dropped = _first_of_each_day(kept, days, ceiling)
            # No usable date, a day after tomorrow, or the same day twice: keep the first.
            warnings += dropped
        if not kept:
            return Parsed((), warnings)
        missing = [None] * len(kept)
        columns: list[list[Any]] = [missing] * len(self.columns)
        for source, parse, index in field_plan(self, symbol.market):
            values = [parse(record.get(source)) for record in kept]
            warnings += values.count(None)
            columns[index] = values
        head = {"symbol": repeat(symbol.canonical), "market": repeat(symbol.market)}
        head["trade_date"] = map(iso_text, days)  # no None is left in days
        # symbol and market repeat without end; the dates and columns are as long as ``days``.
        rows = zip(*(head[name] for name in ROW_HEAD), *columns, strict=False)
        return Parsed(tuple(rows), warnings)


def _first_of_each_day(
    records: list[dict[str, Any]], days: list[date | None], ceiling: date
) -> tuple[list[dict[str, Any]], list[date | None], int]:
    """Drop records with no date, a date after ``ceiling`` or a repeated day; count the dropped."""
    kept: list[dict[str, Any]] = []
    kept_days: list[date | None] = []
    seen: set[date] = set()
    for record, day in zip(records, days, strict=True):
        if day is None or day > ceiling or day in seen:
            continue
        seen.add(day)
        kept.append(record)
        kept_days.append(day)
    return kept, kept_days, len(records) - len(kept)


@cache
def field_plan(adapter: Adapter, market: str) -> tuple[tuple[str, Parser, int], ...]:
    """For one market's records: each field's source key, parser and column position."""
    position = {column.name: index for index, column in enumerate(adapter.columns)}
    return tuple(
        (spec.source, spec.parse, position[spec.column]) for spec in adapter.fields[market]
    )
