"""The OpenAPI's credentials and signature: pure functions, no network."""

from __future__ import annotations

import pytest

from harvester.catalog import DIALECTS, GATEWAY, OPENAPI
from harvester.errors import ConfigError
from harvester.upstream.auth import Anonymous, Bearer, Signed, credentials, signature

OPEN = DIALECTS[OPENAPI]

# Captured on loopback from the official Python SDK (longbridge 5.3.0): its request and the
# signature it sent for key ``key1``, secret ``secret1`` and token ``token1``.
SDK_PATH = "/v1/quote/short-trades/us"
SDK_QUERY = "symbol=AAPL.US&last_timestamp=1796580880&page_size=5"
SDK_SIGNATURE = "202030701ab887da8e6f3173d9bea8fb0a5501d714acf2f496ef61b6013b4e1a"


def test_the_signature_is_the_sdks_for_a_captured_request() -> None:
    signed = signature(
        "secret1", "GET", SDK_PATH, SDK_QUERY, token="token1", key="key1", timestamp="1796580880"
    )
    assert signed == SDK_SIGNATURE


@pytest.mark.parametrize(
    "change",
    [
        {"secret": "secret2"},
        {"path": "/v1/quote/short-trades/hk"},
        {"query": SDK_QUERY.replace("5", "6")},
        {"token": "token2"},
        {"key": "key2"},
        {"timestamp": "1796580881"},
    ],
)
def test_every_signed_part_changes_the_signature(change: dict[str, str]) -> None:
    parts = {
        "secret": "secret1",
        "path": SDK_PATH,
        "query": SDK_QUERY,
        "token": "token1",
        "key": "key1",
        "timestamp": "1796580880",
    } | change
    signed = signature(
        parts["secret"],
        "GET",
        parts["path"],
        parts["query"],
        token=parts["token"],
        key=parts["key"],
        timestamp=parts["timestamp"],
    )
    assert signed != SDK_SIGNATURE


def test_signed_headers_carry_the_time_they_are_made_at() -> None:
    auth = Signed("key1", "secret1", "token1", hint="")
    headers = auth.headers("GET", SDK_PATH, SDK_QUERY, 1796580880.9)
    assert headers == {
        "x-api-key": "key1",
        "authorization": "token1",
        "x-timestamp": "1796580880",
        "x-api-signature": "HMAC-SHA256 SignedHeaders=authorization;x-api-key;x-timestamp, "
        f"Signature={SDK_SIGNATURE}",
    }


def test_secrets_stay_out_of_the_repr() -> None:
    shown = repr(Signed("key1", "the-secret", "the-token", hint="check it"))
    assert "the-secret" not in shown and "the-token" not in shown
    assert "the-token" not in repr(Bearer("the-token", "check it"))


def test_the_sdks_variables_give_signed_credentials() -> None:
    environ = {
        "LONGBRIDGE_APP_KEY": "k",
        "LONGBRIDGE_APP_SECRET": "s",
        "LONGBRIDGE_ACCESS_TOKEN": "t",
        "HARVESTER_TOKEN": "oauth",
    }
    auth = credentials(OPEN, "HARVESTER_TOKEN", environ)
    assert isinstance(auth, Signed) and (auth.key, auth.secret, auth.token) == ("k", "s", "t")
    assert "LONGBRIDGE_APP_SECRET" in auth.hint


def test_the_older_longport_variables_are_read_too() -> None:
    environ = {"LONGPORT_APP_KEY": "k", "LONGPORT_APP_SECRET": "s", "LONGPORT_ACCESS_TOKEN": "t"}
    auth = credentials(OPEN, "HARVESTER_TOKEN", environ)
    assert isinstance(auth, Signed) and "LONGPORT_APP_KEY" in auth.hint


def test_an_oauth_token_is_a_bearer_without_signature() -> None:
    auth = credentials(OPEN, "HARVESTER_TOKEN", {"HARVESTER_TOKEN": "oauth"})
    assert isinstance(auth, Bearer)
    assert auth.headers("GET", "/p", "q", 0) == {"Authorization": "Bearer oauth"}


def test_half_set_variables_name_the_missing_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        credentials(OPEN, "HARVESTER_TOKEN", {"LONGBRIDGE_APP_KEY": "k"})
    message = str(caught.value)
    assert "LONGBRIDGE_APP_SECRET" in message and "LONGBRIDGE_ACCESS_TOKEN" in message
    assert "\n" not in message


def test_no_credentials_at_all_is_one_line_naming_the_variables() -> None:
    with pytest.raises(ConfigError) as caught:
        credentials(OPEN, "HARVESTER_TOKEN", {})
    message = str(caught.value)
    for name in ("LONGBRIDGE_APP_KEY", "LONGBRIDGE_APP_SECRET", "LONGBRIDGE_ACCESS_TOKEN"):
        assert name in message
    assert "HARVESTER_TOKEN" in message and "\n" not in message


def test_the_gateway_takes_an_optional_bearer_token() -> None:
    assert isinstance(credentials(DIALECTS[GATEWAY], "T", {}), Anonymous)
    auth = credentials(DIALECTS[GATEWAY], "T", {"T": "x"})
    assert isinstance(auth, Bearer) and auth.token == "x" and "T" in auth.hint
