"""Fixtures for the simulated gateway tests: requests over loopback, the reply seen, a clock.

A test asks for ``call`` (one endpoint, one symbol) or ``fetch`` (any URL) and gets a
:class:`Reply`, transport errors included, so every fault mode can be compared by ``kind``.
The arithmetic the contract in /work/shared/API.md states (rates, local dates) is computed
here independently of the gateway, so a slip in the gateway shows as a failing test.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import aiohttp
import orjson
import pytest
from yarl import URL

from harvester.simulate import Gateway

PATHS = {
    "short_trades": "/v1/quote/{}/short-selling/short-trades",
    "short_interest": "/v1/quote/{}/short-selling/short-interest",
}


@dataclass
class Reply:
    """What the client saw: status, headers, raw body, or the transport error."""

    status: int = 0
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: bytes = b""
    error: BaseException | None = None

    def json(self) -> Any:
        """The body parsed as JSON."""
        return orjson.loads(self.body)

    @property
    def content_type(self) -> str:
        """The media type, without parameters."""
        return self.headers.get("Content-Type", "").split(";")[0]

    @property
    def kind(self) -> str:
        """A short label of the outcome, comparable across gateways."""
        if self.error is not None:
            return type(self.error).__name__
        if self.status != 200 or self.content_type != "application/json":
            return f"{self.status} {self.content_type}"
        try:
            doc = self.json()
        except orjson.JSONDecodeError:
            return "bad json"
        return str(doc.get("code", doc.get("ret_code")))


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _url(
    gw: Gateway, endpoint: str, symbol: str, count: object = None, *, raw: bool = False
) -> URL:
    """The request URL; ``raw`` sends the symbol segment exactly as given."""
    segment = symbol if raw else quote(symbol, safe="")
    text = gw.url + PATHS[endpoint].format(segment)
    if count is not None:
        text += "?count=" + quote(str(count), safe="")
    return URL(text, encoded=True)


def _quantized(short: int, total: int) -> str:
    """``short / total`` to four places, rounded half up, as the contract states it."""
    exact = Decimal(short) / Decimal(total)
    return str(exact.quantize(Decimal("0.0001"), ROUND_HALF_UP))


def _local_date(stamp: str, zone: str) -> dt.date:
    """The day an RFC 3339 timestamp names in ``zone``, where it must fall at midnight."""
    moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    local = moment.astimezone(ZoneInfo(zone))
    assert local.time() == dt.time(0, 0), stamp
    return local.date()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp client session, closed after the test."""
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture(scope="session")
def url() -> Callable[..., URL]:
    """``url(gw, endpoint, symbol, count=None, *, raw=False)``: the request URL."""
    return _url


@pytest.fixture
def fetch(session: aiohttp.ClientSession) -> Callable[..., Awaitable[Reply]]:
    """``await fetch(target, **get)``: the :class:`Reply` to a GET, transport errors included."""

    async def get(target: URL | str, **kwargs: Any) -> Reply:
        try:
            async with session.get(target, **kwargs) as response:
                return Reply(response.status, dict(response.headers), await response.read())
        except aiohttp.ClientError as exc:
            return Reply(error=exc)

    return get


@pytest.fixture
def call(fetch: Callable[..., Awaitable[Reply]]) -> Callable[..., Awaitable[Reply]]:
    """``await call(gw, endpoint, symbol, count=None, **get)``: one endpoint's :class:`Reply`."""

    async def one(
        gw: Gateway, endpoint: str, symbol: str, count: object = None, **kwargs: Any
    ) -> Reply:
        return await fetch(_url(gw, endpoint, symbol, count), **kwargs)

    return one


@pytest.fixture(scope="session")
def quantized() -> Callable[[int, int], str]:
    """``quantized(short, total)``: the ratio as the contract rounds it (half up, 4 places)."""
    return _quantized


@pytest.fixture(scope="session")
def local_date() -> Callable[[str, str], dt.date]:
    """``local_date(stamp, zone)``: the local day of a timestamp that must fall at midnight."""
    return _local_date


@pytest.fixture(scope="session")
def fake_clock() -> Callable[[], FakeClock]:
    """``fake_clock()``: a new monotonic clock at 100.0 that the test moves by setting ``now``."""
    return FakeClock
