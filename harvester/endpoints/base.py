"""What every endpoint adapter shares: request specs, HTTP and code classification, rows.

An adapter is a plain object with no I/O. It formats a symbol its own way,
checks its ``count`` range, parses its envelope and maps records to rows of
its table. Adding an endpoint means adding one adapter module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from itertools import repeat
from typing import Any, ClassVar
from urllib.parse import quote

import orjson

from harvester.config import EndpointConfig
from harvester.endpoints.values import column_parser, iso_text
from harvester.errors import (
    ConfigError,
    CredentialsRefused,
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
from harvester.model import MARKET_TZ, Symbol

# Upstream codes, by number and by the string ``error.code`` of the documented table.
_PERMANENT: dict[int, tuple[str, type[FetchError]]] = {
    -3: ("invalid_parameter", InvalidRequest),
    -7: ("invalid_symbol", InvalidRequest),
    -8: ("unsupported", Unsupported),
    -10: ("no_data", NoData),
    -5: ("internal_error", UpstreamError),
}
_BY_NAME = {name: number for number, (name, _) in _PERMANENT.items()}

Parser = Callable[[object], Any]


@dataclass(frozen=True, slots=True)
class Column:
    """A data column of an endpoint's table and its SQLite type."""

    name: str
    sqltype: str


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
    if name in _BY_NAME and number not in _PERMANENT:
        number = _BY_NAME[name]  # a documented string code beats an undocumented number
    label = name or (_PERMANENT[number][0] if number in _PERMANENT else None)
    code = str(number) if number is not None else name
    text = f"{label}: {message}" if label and message else (message or label or "unknown error")
    if number in _PERMANENT:
        return _PERMANENT[number][1](text, code=code)
    if retry_unknown:
        return UpstreamError(f"unknown code {code}: {message}", code=code)
    return Rejected(f"unknown code {code}: {message}", code=code)


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header given in seconds; None if absent or a date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP-date: fall back to our own backoff
    return seconds if seconds >= 0 else None


def check_http(status: int, content_type: str, headers: Mapping[str, str]) -> None:
    """Raise the error an HTTP status stands for; return on 200."""
    if status == 200:
        return
    if status == 429:
        raise RateLimited("HTTP 429 too many requests",
                          retry_after=retry_after_seconds(headers.get("Retry-After")))
    if status == 400:
        raise InvalidRequest("HTTP 400 bad request", code="http_400")
    if 300 <= status < 400:
        raise Rejected(f"HTTP {status} redirect not followed", code=f"http_{status}")
    if status in (401, 403):
        raise CredentialsRefused(f"the gateway refused the credentials (HTTP {status})",
                                 code=f"http_{status}")
    if status >= 500:
        raise TransportError(f"HTTP {status} from the gateway ({content_type or 'no type'})",
                             code=f"http_{status}")
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


class Adapter:
    """Base of the endpoint adapters; subclasses set the class attributes and ``envelope``."""

    name: str
    table: str
    count_range: tuple[int, int]
    columns: tuple[Column, ...]
    fields: ClassVar[Mapping[str, tuple[Field, ...]]]  # by market

    def format_symbol(self, symbol: Symbol) -> str:
        """The symbol in this endpoint's own style."""
        raise NotImplementedError

    def envelope(self, document: Any, retry_unknown: bool) -> Sequence[Any]:
        """The records of a success envelope; raise the classified error otherwise."""
        raise NotImplementedError

    def record_dates(
        self, records: list[dict[str, Any]], tz: str
    ) -> tuple[list[date | None], int]:
        """Each record's trading date (None if unusable), and the warnings found deciding them."""
        raise NotImplementedError

    def check_count(self, config: EndpointConfig, where: str | None = None) -> None:
        """Refuse a ``count`` outside the documented range, naming the setting and its origin."""
        low, high = self.count_range
        if not low <= config.count <= high:
            setting = where or f"[endpoints.{self.name}] count"
            raise ConfigError(f"{setting}: {config.count} is outside {low}..{high}")

    def request(self, symbol: Symbol, config: EndpointConfig) -> RequestSpec:
        """The request for ``symbol``: its style, URL-encoded as one path segment."""
        segment = quote(self.format_symbol(symbol), safe="")
        path = config.path.replace("{symbol}", segment)
        return RequestSpec(path, (("count", str(config.count)),))

    def parse(
        self,
        symbol: Symbol,
        status: int,
        content_type: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        retry_unknown: bool = False,
    ) -> Parsed:
        """Map an HTTP answer to rows, or raise the error it stands for."""
        check_http(status, content_type, headers)
        records = self.envelope(decode(body, content_type), retry_unknown)
        return self.map_records(symbol, records)

    def map_records(self, symbol: Symbol, records: Iterable[Any]) -> Parsed:
        """Map records to rows; one row per trading day, the first one seen wins.

        Works column by column, so that a clean answer is converted in C.
        """
        records = list(records)
        kept: list[dict[str, Any]] = [record for record in records if isinstance(record, dict)]
        warnings = len(records) - len(kept)
        days, problems = self.record_dates(kept, MARKET_TZ[symbol.market])
        warnings += problems
        if None in days or len(set(days)) < len(days):
            kept, days, dropped = _first_of_each_day(kept, days)
            warnings += dropped  # no usable date, or the same day twice: keep the first
        if not kept:
            return Parsed((), warnings)
        missing = [None] * len(kept)
        columns: list[list[Any]] = [missing] * len(self.columns)
        for source, parse_column, index in field_plan(self, symbol.market):
            values = parse_column([record.get(source) for record in kept])
            warnings += values.count(None)
            columns[index] = values
        head = repeat(symbol.canonical), repeat(symbol.market)
        isos = list(map(iso_text, days))  # no None is left in days
        # The heads repeat without end; the columns are all as long as ``days``.
        return Parsed(tuple(zip(*head, isos, *columns, strict=False)), warnings)


def _first_of_each_day(
    records: list[dict[str, Any]], days: list[date | None]
) -> tuple[list[dict[str, Any]], list[date | None], int]:
    """Drop records with no date and repeats of a day; return what is kept and the count dropped."""
    kept: list[dict[str, Any]] = []
    kept_days: list[date | None] = []
    seen: set[date] = set()
    for record, day in zip(records, days, strict=True):
        if day is None or day in seen:
            continue
        seen.add(day)
        kept.append(record)
        kept_days.append(day)
    return kept, kept_days, len(records) - len(kept)


@cache
def field_plan(
    adapter: Adapter, market: str
) -> tuple[tuple[str, Callable[[list[object]], list[Any]], int], ...]:
    """For one market's records: each field's source key, column parser and column position."""
    position = {column.name: index for index, column in enumerate(adapter.columns)}
    return tuple((spec.source, column_parser(spec.parse), position[spec.column])
                 for spec in adapter.fields[market])
