"""The client's headers, error translation, counting and kept headers, with aioresponses.

aioresponses replaces ``ClientSession._request``: the calls it records carry the session's
default headers merged in (not the ones aiohttp's request adds later, like Host), and an
``exception=`` it is given is raised where aiohttp would raise it.
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from aioresponses import aioresponses
from aioresponses.core import RequestCall
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from harvester.errors import TransportError
from harvester.upstream.client import Client

PATH = "/v1/quote/TSLA.US/short-selling/short-trades"
QUERY = [("count", "20")]
OK_BODY = b'{"code": 0, "message": "success", "data": []}'

Recorded = dict[str, list[RequestCall]]


def url_of(base_url: str, path: str = PATH) -> str:
    return f"{base_url}{path}?count=20"


def connector_error(url: URL, token: str) -> Exception:
    key = ConnectionKey(url.host or "", url.port, False, True, None, None, None)
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused"))


def response_error(url: URL, token: str, message: str = "Invalid header value char") -> Exception:
    """An unparseable answer whose request info holds the Authorization header, as aiohttp's."""
    headers = CIMultiDictProxy(CIMultiDict({"Authorization": f"Bearer {token}"}))
    info = aiohttp.RequestInfo(url, "GET", headers, url)
    return aiohttp.ClientResponseError(info, (), status=200, message=message)


def raising(make: Callable[[], Exception]) -> Callable[[URL, str], Exception]:
    """A factory of ``make()``'s exception that needs neither the URL nor the token."""
    return lambda url, token: make()


# Headers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "authorization"),
    [("s3cret-T0KEN", ["Bearer s3cret-T0KEN"]), (None, []), ("", [])],
    ids=["token", "no-token", "empty-token"],
)
async def test_the_bearer_header_goes_out_only_with_a_token(
    token: str | None,
    authorization: list[str],
    base_url: str,
    mocked: aioresponses,
    recorded: Callable[[], Recorded],
    make_client: Callable[..., Client],
) -> None:
    mocked.get(url_of(base_url), body=OK_BODY)
    async with make_client(token=token) as client:
        await client.get("short_trades", PATH, QUERY)
    [call] = recorded()[url_of(base_url)]
    headers = call.kwargs["headers"]
    assert headers.getall("Authorization", []) == authorization
    assert headers.getall("Accept") == ["application/json"]
    assert headers.getall("User-Agent") == ["harvester"]
    assert call.kwargs["allow_redirects"] is False


# Translation of aiohttp's failures -------------------------------------------------------

NOT_CONNECTED = "cannot connect to the gateway: "
TIMED_OUT = "no complete answer within 2.5s"  # the [gateway] timeout the fixture sets
READ_TIMEOUT = "Timeout on reading data from socket"


@pytest.mark.parametrize(
    ("exception", "code", "unreachable", "message"),
    [
        pytest.param(
            connector_error,
            "connection_error",
            True,
            NOT_CONNECTED + "ClientConnectorError",
            id="refused",
        ),
        pytest.param(
            raising(lambda: aiohttp.ConnectionTimeoutError("Connection timeout")),
            "connection_error",
            True,
            NOT_CONNECTED + "ConnectionTimeoutError",
            id="connect-timeout",
        ),
        pytest.param(
            raising(lambda: aiohttp.ServerTimeoutError(READ_TIMEOUT)),
            "timeout",
            False,
            TIMED_OUT,
            id="server-timeout",
        ),
        pytest.param(
            raising(lambda: aiohttp.SocketTimeoutError(READ_TIMEOUT)),
            "timeout",
            False,
            TIMED_OUT,
            id="socket-timeout",
        ),
        pytest.param(raising(TimeoutError), "timeout", False, TIMED_OUT, id="total-timeout"),
        pytest.param(
            raising(lambda: aiohttp.ClientPayloadError("payload is not completed")),
            "connection_reset",
            False,
            "connection broken in the middle of the body",
            id="payload",
        ),
        pytest.param(
            response_error,
            "bad_http",
            False,
            "bad HTTP answer: Invalid header value char",
            id="bad-http",
        ),
        pytest.param(
            raising(aiohttp.ServerDisconnectedError),
            "connection_error",
            False,
            "cannot reach the gateway: ServerDisconnectedError",
            id="disconnected",
        ),
        pytest.param(
            raising(lambda: aiohttp.ClientOSError(104, "Connection reset by peer")),
            "connection_error",
            False,
            "cannot reach the gateway: ClientOSError",
            id="reset",
        ),
    ],
)
async def test_an_aiohttp_failure_becomes_one_transport_error(
    exception: Callable[[URL, str], Exception],
    code: str,
    unreachable: bool,
    message: str,
    base_url: str,
    token: str,
    mocked: aioresponses,
    client: Client,
) -> None:
    raised = exception(URL(url_of(base_url)), token)
    mocked.get(url_of(base_url), exception=raised)
    with pytest.raises(TransportError) as caught:
        await client.get("short_trades", PATH, QUERY)
    error = caught.value
    assert (error.code, error.unreachable, error.message) == (code, unreachable, message)
    assert error.__cause__ is raised
    assert token not in f"{error} {error!r}"
    assert client.requests["short_trades"] == 1  # a failed attempt is an attempt


async def test_a_token_echoed_in_an_aiohttp_message_stays_out_of_the_error(
    base_url: str,
    token: str,
    mocked: aioresponses,
    client: Client,
) -> None:
    echo = f"Invalid header: 'X-Seen: Bearer {token}'"
    mocked.get(url_of(base_url), exception=response_error(URL(url_of(base_url)), token, echo))
    with pytest.raises(TransportError) as caught:
        await client.get("short_trades", PATH, QUERY)
    assert caught.value.code == "bad_http"
    assert token not in caught.value.message


# Counting and the go-ahead hook -----------------------------------------------------------


async def test_attempts_are_counted_by_endpoint_and_before_send_runs_once_each(
    base_url: str,
    mocked: aioresponses,
    recorded: Callable[[], Recorded],
    client: Client,
) -> None:
    interest = "/v1/quote/US.TSLA/short-selling/short-interest"
    mocked.get(url_of(base_url), body=OK_BODY)
    mocked.get(url_of(base_url), exception=aiohttp.ServerDisconnectedError())
    mocked.get(url_of(base_url, interest), body=b'{"ret_code": 0, "data": {"items": []}}')
    seen_before: list[int] = []  # calls aioresponses had recorded when the hook ran

    async def before_send() -> None:
        seen_before.append(sum(map(len, recorded().values())))

    await client.get("short_trades", PATH, QUERY, before_send=before_send)
    with pytest.raises(TransportError):
        await client.get("short_trades", PATH, QUERY, before_send=before_send)
    await client.get("short_interest", interest, QUERY, before_send=before_send)
    assert seen_before == [0, 1, 2]  # once per request, each time before it went out
    assert client.requests == {"short_trades": 2, "short_interest": 1}
    assert client.sent == 3
    assert {url: len(calls) for url, calls in recorded().items()} == {
        url_of(base_url): 2,
        url_of(base_url, interest): 1,
    }


async def test_a_before_send_that_raises_sends_nothing(
    base_url: str,
    mocked: aioresponses,
    recorded: Callable[[], Recorded],
    client: Client,
) -> None:
    class Refused(Exception):
        pass

    async def refuse() -> None:
        raise Refused

    mocked.get(url_of(base_url), body=OK_BODY)  # would be answered, had it gone out
    with pytest.raises(Refused):
        await client.get("short_trades", PATH, QUERY, before_send=refuse)
    assert recorded() == {}
    assert client.requests["short_trades"] == 0
    answer = await client.get("short_trades", PATH, QUERY)  # the registered answer is unused
    assert answer.body == OK_BODY


# Kept headers ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 302, 429, 503])
async def test_only_retry_after_location_and_date_are_kept(
    status: int,
    base_url: str,
    mocked: aioresponses,
    client: Client,
) -> None:
    date = "Wed, 21 Oct 2026 07:28:00 GMT"
    mocked.get(
        url_of(base_url),
        status=status,
        body=OK_BODY,
        headers={
            "retry-after": "7",
            "LOCATION": "/elsewhere",
            "Date": date,
            "X-Request-Id": "abc",
            "Set-Cookie": "session=1",
            "Cache-Control": "no-store",
        },
    )
    answer = await client.get("short_trades", PATH, QUERY)
    assert answer.headers == {"Retry-After": "7", "Location": "/elsewhere", "Date": date}
    assert (answer.status, answer.content_type, answer.body) == (
        status,
        "application/json",
        OK_BODY,
    )
