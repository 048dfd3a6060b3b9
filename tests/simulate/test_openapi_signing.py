"""The OpenAPI dialect's signature, checked without a server: the formula, a captured vector,
and the order in which a gateway refuses a request.

The expected signatures are worked out here from API.md section 5 by hand, not by the
gateway's own code, so a slip in either shows as a failing test.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from harvester.simulate import GatewaySettings
from harvester.simulate.settings import (
    DEMO_ACCESS_TOKEN,
    DEMO_APP_KEY,
    DEMO_APP_SECRET,
    DEMO_OAUTH_TOKEN,
)
from harvester.simulate.signing import canonical, signature, signed_headers, verify

NOW = 1796580880
PATH = "/v1/quote/short-trades/us"
QUERY = "symbol=AAPL.US&last_timestamp=1796580880&page_size=5"


def by_hand(secret: str, key: str, token: str, stamp: str, path: str, query: str) -> str:
    """API.md section 5's formula, written out."""
    text = (
        "GET|" + path + "|" + query + "|authorization:" + token + "\n"
        "x-api-key:" + key + "\n"
        "x-timestamp:" + stamp + "\n"
        "|authorization;x-api-key;x-timestamp|"
    )
    digest = hashlib.sha1(text.encode()).hexdigest()
    return hmac.new(secret.encode(), ("HMAC-SHA256|" + digest).encode(), hashlib.sha256).hexdigest()


def headers(
    secret: str = DEMO_APP_SECRET,
    key: str = DEMO_APP_KEY,
    token: str = DEMO_ACCESS_TOKEN,
    stamp: int = NOW,
    query: str = QUERY,
) -> dict[str, str]:
    """Headers signed by hand, as the SDK sends them (names in lower case)."""
    sig = by_hand(secret, key, token, str(stamp), PATH, query)
    return {
        "x-api-key": key,
        "authorization": token,
        "x-timestamp": str(stamp),
        "x-api-signature": "HMAC-SHA256 SignedHeaders=authorization;x-api-key;x-timestamp, "
        f"Signature={sig}",
    }


def test_the_formula_reproduces_the_signature_captured_from_the_sdk():
    captured = "202030701ab887da8e6f3173d9bea8fb0a5501d714acf2f496ef61b6013b4e1a"
    assert by_hand("secret1", "key1", "token1", "1796580880", PATH, QUERY) == captured
    made = {"authorization": "token1", "x-api-key": "key1", "x-timestamp": "1796580880"}
    assert signature("secret1", canonical("GET", PATH, QUERY, made)) == captured
    sent = signed_headers("key1", "secret1", "token1", 1796580880, PATH, QUERY)
    assert sent["x-api-signature"].endswith(f"Signature={captured}")
    settings = GatewaySettings(app_key="key1", app_secret="secret1", access_token="token1")
    assert verify(settings, "GET", PATH, QUERY, sent, NOW) is None


def test_the_demo_credentials_sign_and_verify():
    assert verify(GatewaySettings(), "GET", PATH, QUERY, headers(), NOW) is None
    # Whatever the query, as long as the signature covers it exactly as sent.
    odd = "counter_id=ST%2FUS%2FAAPL&count=7"
    assert verify(GatewaySettings(), "GET", PATH, odd, headers(query=odd), NOW) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"authorization": "someone-else"}, "token_invalid"),
        ({"authorization": ""}, "token_invalid"),
        ({"x-api-key": "other-key"}, "key_invalid"),
        ({"x-timestamp": str(NOW - 301)}, "timestamp_invalid"),
        ({"x-timestamp": str(NOW + 301)}, "timestamp_invalid"),
        ({"x-timestamp": "soon"}, "timestamp_invalid"),
        ({"x-api-signature": "HMAC-SHA256 Signature=abc"}, "signature_invalid"),
        ({"x-api-signature": ""}, "signature_invalid"),
    ],
)
def test_a_request_is_refused_for_its_first_fault(change, reason):
    sent = headers() | change
    assert verify(GatewaySettings(), "GET", PATH, QUERY, sent, NOW) == reason


def test_the_signature_covers_secret_path_query_and_headers():
    settings = GatewaySettings()
    assert verify(settings, "GET", PATH, QUERY, headers(secret="wrong"), NOW) == "signature_invalid"
    assert verify(settings, "GET", PATH + "x", QUERY, headers(), NOW) == "signature_invalid"
    reordered = "page_size=5&symbol=AAPL.US&last_timestamp=1796580880"
    assert verify(settings, "GET", PATH, reordered, headers(), NOW) == "signature_invalid"
    unsigned_stamp = headers() | {"x-timestamp": str(NOW + 1)}
    assert verify(settings, "GET", PATH, QUERY, unsigned_stamp, NOW) == "signature_invalid"
    fewer = headers()
    fewer["x-api-signature"] = fewer["x-api-signature"].replace(";x-timestamp", "")
    assert verify(settings, "GET", PATH, QUERY, fewer, NOW) == "signature_invalid"


def test_the_clock_skew_is_a_setting():
    late = headers(stamp=NOW - 300)
    assert verify(GatewaySettings(), "GET", PATH, QUERY, late, NOW) is None
    strict = GatewaySettings(max_clock_skew=10)
    assert verify(strict, "GET", PATH, QUERY, late, NOW) == "timestamp_invalid"


def test_oauth_sends_a_bearer_token_and_no_signature():
    bearer = {"authorization": f"Bearer {DEMO_OAUTH_TOKEN}"}
    assert verify(GatewaySettings(), "GET", PATH, QUERY, bearer, NOW) is None
    wrong = {"authorization": "Bearer nope"}
    assert verify(GatewaySettings(), "GET", PATH, QUERY, wrong, NOW) == "token_invalid"
    off = GatewaySettings(oauth_token=None)
    assert verify(off, "GET", PATH, QUERY, bearer, NOW) == "token_invalid"
