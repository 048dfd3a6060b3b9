"""Values that look legal but would hang, flood or mislead the run are refused in one line.

Base URLs, endpoint paths and database names: each bad one named with its problem, each
good one kept as written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from harvester.settings.config import load_settings

WriteToml = Callable[..., Path]
Refused = Callable[[Path, str], str]


def toml_string(value: str) -> str:
    """A TOML basic string; JSON's escapes (\\t, \\uXXXX) are TOML's too."""
    return json.dumps(value)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://user:pw@127.0.0.1:8787", "must not contain user:password@; put the token in"),
        ("https://user@example.com", "must not contain user:password@"),
        ("http://@example.com", "must not contain user:password@"),
        ("http://h:99999", "must have a port between 1 and 65535"),
        ("http://h:0", "must have a port between 1 and 65535"),
        ("http://h:abc", "must have a port between 1 and 65535"),
        ("http://h:-1", "must have a port between 1 and 65535"),
        ("http://[::1", "is not a valid URL"),
        ("http://[zz]/", "is not a valid URL"),
        ("http://127.0.0.1:8787/a b", "must not contain whitespace or control characters"),
        (" http://127.0.0.1:8787", "must not contain whitespace or control characters"),
        ("http://127.0.0.1:8787\n", "must not contain whitespace or control characters"),
        ("http://127.0.0.1:8787/\t", "must not contain whitespace or control characters"),
        ("http://127.0.0.1\u0000:8787", "must not contain whitespace or control characters"),
        ("http://h\u00ad/", "must not contain whitespace or control characters"),
        ("http://h/?x=1", "must not contain a query (?) or a fragment (#)"),
        ("http://h?", "must not contain a query (?) or a fragment (#)"),
        ("http://h/api#f", "must not contain a query (?) or a fragment (#)"),
        ("http://ab\ufffd/", "is not a valid URL"),  # urlsplit takes it, yarl does not
        ("ftp://h/", "must be an http:// or https:// URL with a host"),
        ("http:///path", "must be an http:// or https:// URL with a host"),
    ],
)
def test_a_bad_base_url_is_refused(
    refused: Refused, tmp_path: Path, url: str, problem: str
) -> None:
    message = refused(tmp_path, f"[gateway]\nbase_url = {toml_string(url)}\n")
    assert f"[gateway] base_url: {problem}" in message


def test_credentials_in_the_base_url_are_not_repeated_in_the_message(
    refused: Refused, tmp_path: Path
) -> None:
    message = refused(tmp_path, '[gateway]\nbase_url = "http://alice:s3cret@h:8787/api"\n')
    assert "s3cret" not in message and "alice" not in message
    assert "(got 'http://***@h:8787/api')" in message


@pytest.mark.parametrize(
    "url",
    [
        "http://h/api",
        "https://example.com/api/v2/",
        "http://[::1]:8787",
        "http://h:65535",
        "http://h:1",
        "https://bücher.example",
        "http://h/a@b",
    ],
)
def test_a_good_base_url_is_kept(write_toml: WriteToml, tmp_path: Path, url: str) -> None:
    settings = load_settings(
        write_toml(tmp_path, f"[gateway]\nbase_url = {toml_string(url)}\n"), environ={}
    )
    assert settings.gateway.base_url == url


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/v1/x", "must start with / and contain {symbol} exactly once"),
        ("v1/{symbol}", "must start with / and contain {symbol} exactly once"),
        ("/{symbol}/{symbol}", "must start with / and contain {symbol} exactly once"),
        ("/v1/{symbol}?count=5", "must not contain ? or #; the query is built from count"),
        ("/v1/{symbol}?", "must not contain ? or #"),
        ("/v1/{symbol}#top", "must not contain ? or #"),
        ("/v1/{symbol}/short trades", "must not contain whitespace or control characters"),
        ("/v1/{symbol}\t", "must not contain whitespace or control characters"),
        ("/v1/\u0007{symbol}", "must not contain whitespace or control characters"),
        ("/v1/{symbol}\u200b", "must not contain whitespace or control characters"),
    ],
)
@pytest.mark.parametrize("endpoint", ["short_trades", "short_interest"])
def test_a_bad_endpoint_path_is_refused(
    refused: Refused, tmp_path: Path, endpoint: str, path: str, problem: str
) -> None:
    message = refused(tmp_path, f"[endpoints.{endpoint}]\npath = {toml_string(path)}\n")
    assert f"[endpoints.{endpoint}] path: {problem}" in message


@pytest.mark.parametrize(
    ("db", "problem"),
    [
        ("", "must name a database file, not be empty (got '')"),
        (":memory:", "must name a database file; :memory: would keep nothing (got ':memory:')"),
        (".", "must name a database file, not a folder (got '.')"),
        ("..", "must name a database file, not a folder (got '..')"),
        ("/", "must name a database file, not a folder (got '/')"),
        ("data/", "must name a database file, not a folder (got 'data/')"),
        ("data/..", "must name a database file, not a folder (got 'data/..')"),
    ],
)
def test_a_db_that_is_not_a_file_name_is_refused(
    refused: Refused, tmp_path: Path, db: str, problem: str
) -> None:
    message = refused(tmp_path, f"[sweep]\ndb = {toml_string(db)}\n")
    assert f"[sweep] db: {problem}" in message


@pytest.mark.parametrize("db", ["h.sqlite", "data/h.sqlite", "./h.sqlite", "..h", "/tmp/x.db"])
def test_a_db_file_name_is_kept(write_toml: WriteToml, tmp_path: Path, db: str) -> None:
    settings = load_settings(write_toml(tmp_path, f"[sweep]\ndb = {toml_string(db)}\n"), environ={})
    assert settings.sweep.db == db
