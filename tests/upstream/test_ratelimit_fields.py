"""The RateLimit header fields an upstream may send: what they state, and junk ignored."""

from __future__ import annotations

import pytest

from harvester.upstream.ratelimit_fields import Stated, stated

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, Stated()),
        ({"RateLimit-Policy": '"default";q=5;w=1'}, Stated(per_second=5.0)),
        ({"RateLimit-Policy": "q=5;w=1"}, Stated()),  # no first member: not a policy item
        ({"RateLimit-Policy": "10;w=2"}, Stated(per_second=5.0)),  # an older draft's form
        (
            {"RateLimit-Policy": '"burst";q=100;w=60, "second";q=8;w=1'},
            Stated(per_second=100 / 60),
        ),  # the tighter of the two
        ({"RateLimit-Policy": '"daily";q=800;w=86400'}, Stated()),  # a quota, not a pace
        ({"RateLimit-Policy": '"default";q=abc;w=1'}, Stated()),
        ({"RateLimit-Policy": '"default";q=5;w=0'}, Stated()),
        ({"RateLimit": '"daily";r=0;t=36000'}, Stated(spent_for=36000.0)),
        ({"RateLimit": '"default";r=0;t=1'}, Stated()),  # a second's wait: the pace, not a quota
        ({"RateLimit": '"daily";r=3;t=36000'}, Stated()),
        ({"RateLimit": "limit=10, remaining=0, reset=7200"}, Stated(spent_for=7200.0)),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "3600"}, Stated(spent_for=3600.0)),
        (
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 600)},
            Stated(spent_for=600.0),
        ),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "soon"}, Stated()),
        ({"X-RateLimit-Limit": "5"}, Stated()),  # no window named: no pace
    ],
)
def test_what_the_fields_state(headers: dict[str, str], expected: Stated) -> None:
    assert stated(headers, NOW) == expected
