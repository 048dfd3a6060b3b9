"""Unit tests of the symbols file parser (harvester/symbols.py): pure, no network, no event loop.

Covers every accepted style, case and spacing, other markets (unsupported), malformed lines,
comments, line numbers, a UTF-8 BOM, CRLF endings, laziness, and the round trip through each
endpoint adapter's own symbol style.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.endpoints import ADAPTERS
from harvester.errors import ConfigError
from harvester.model import Symbol
from harvester.symbols import (
    SymbolLine,
    SymbolSyntaxError,
    parse_lines,
    parse_symbol,
    read_symbols,
)

SHORT_TRADES = ADAPTERS["short_trades"]
SHORT_INTEREST = ADAPTERS["short_interest"]


# Accepted styles -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("700.HK", "700.HK"),
        ("00700.HK", "700.HK"),
        ("HK.00700", "700.HK"),
        ("HK.700", "700.HK"),
        ("AAPL.US", "AAPL.US"),
        ("US.AAPL", "AAPL.US"),
        ("BRK.B.US", "BRK.B.US"),
        ("US.BRK.B", "BRK.B.US"),
    ],
)
def test_every_accepted_style_parses_to_the_canonical_form(text: str, canonical: str) -> None:
    symbol = parse_symbol(text)
    assert symbol.canonical == canonical
    assert str(symbol) == canonical
    assert symbol.supported is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("aapl.us", Symbol("AAPL", "US")),
        ("us.brk.b", Symbol("BRK.B", "US")),
        ("hk.00700", Symbol("700", "HK")),
        ("  700.hk  ", Symbol("700", "HK")),
        ("\tUS.Aapl \n", Symbol("AAPL", "US")),
    ],
)
def test_lower_case_and_surrounding_spaces_are_accepted(text: str, expected: Symbol) -> None:
    assert parse_symbol(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("600519.SH", Symbol("600519", "SH")), ("D05.SG", Symbol("D05", "SG"))],
)
def test_other_markets_parse_as_unsupported(text: str, expected: Symbol) -> None:
    symbol = parse_symbol(text)
    assert symbol == expected
    assert symbol.supported is False


# Malformed lines -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "0.HK",
        "00000.HK",
        "123456.HK",
        "A/B.US",
        "../x",
        "%2F",
        "AA PL.US",
        "AAPL",
        ".US",
        ".HK",
        "US.",
        "HK.",
        "AAPL.",
        ".",
        "",
        "   ",
        "ÄPPL.US",
        "AAPL.ÜS",
        "\uff17\uff10\uff10.HK",  # fullwidth digits: int() would accept them
        "A" * 10_000 + ".US",
        "TOOLONGCODE1.US",
        "1ABC.US",
        "700.HK.X",
    ],
)
def test_malformed_symbols_are_rejected(text: str) -> None:
    with pytest.raises(SymbolSyntaxError, match="not a symbol"):
        parse_symbol(text)


def test_rejection_message_of_a_huge_line_is_short() -> None:
    with pytest.raises(SymbolSyntaxError) as info:
        parse_symbol("X" * 10_000)
    assert len(str(info.value)) < 80


@pytest.mark.parametrize("text", ["tßla.us", "\u0131bm.us", "\ufb01x.us"])
def test_non_ascii_that_upper_cases_to_ascii_is_rejected(text: str) -> None:
    with pytest.raises(SymbolSyntaxError):
        parse_symbol(text)


# parse_lines and read_symbols ------------------------------------------------------------


def test_parse_lines_skips_blanks_and_comments_and_numbers_lines_from_one() -> None:
    lines = [
        "# universe\n",
        "\n",
        "AAPL.US\n",
        "   \n",
        "  700.hk   # Tencent\n",
        "#US.MSFT\n",
        "A/B.US\n",
        "US.BRK.B # class B\n",
        "0.HK\n",
        "600519.SH",
    ]
    result = list(parse_lines(iter(lines)))
    assert [(line.lineno, line.symbol) for line in result] == [
        (3, Symbol("AAPL", "US")),
        (5, Symbol("700", "HK")),
        (7, None),
        (8, Symbol("BRK.B", "US")),
        (9, None),
        (10, Symbol("600519", "SH")),
    ]
    assert [line.error is None for line in result] == [True, True, False, True, False, True]
    assert "A/B.US" in (result[2].error or "")
    assert "0.HK" in (result[4].error or "")


def test_read_symbols_handles_a_bom_and_crlf_endings(tmp_path: Path) -> None:
    path = tmp_path / "symbols.txt"
    text = "AAPL.US\r\n# comment\r\n\r\n700.HK # trailing\r\nBAD/ONE\r\nUS.BRK.B\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert list(read_symbols(path)) == [
        SymbolLine(1, Symbol("AAPL", "US")),
        SymbolLine(4, Symbol("700", "HK")),
        SymbolLine(5, None, "not a symbol: 'BAD/ONE'"),
        SymbolLine(6, Symbol("BRK.B", "US")),
    ]


def test_a_bom_before_a_comment_on_line_one_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "symbols.txt"
    path.write_bytes("\ufeff# header\r\nUS.AAPL\r\n".encode())
    assert list(read_symbols(path)) == [SymbolLine(2, Symbol("AAPL", "US"))]


def test_invalid_utf8_bytes_make_a_malformed_line_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "symbols.txt"
    path.write_bytes(b"AAPL.US\nAB\xff.US\nMSFT.US\n")
    result = list(read_symbols(path))
    assert [(line.lineno, line.symbol) for line in result] == [
        (1, Symbol("AAPL", "US")),
        (2, None),
        (3, Symbol("MSFT", "US")),
    ]


def test_read_symbols_on_a_missing_file_raises_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "no-such-symbols.txt"
    with pytest.raises(ConfigError) as info:
        list(read_symbols(path))
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_read_symbols_is_lazy(tmp_path: Path) -> None:
    # Far more than one read buffer: if the file were read whole up front, the change made
    # to its last line after the first next() would not be seen.
    path = tmp_path / "symbols.txt"
    count = 20_000
    path.write_text("AAPL.US\n" * count, encoding="utf-8")
    lines = read_symbols(path)
    assert isinstance(lines, Iterator)
    assert next(lines) == SymbolLine(1, Symbol("AAPL", "US"))
    with path.open("r+b") as handle:
        handle.seek(-len(b"AAPL.US\n"), 2)
        handle.write(b"MSFT.US\n")
    rest = list(lines)
    assert len(rest) == count - 1
    assert rest[-1] == SymbolLine(count, Symbol("MSFT", "US"))


def test_parse_lines_pulls_one_line_at_a_time() -> None:
    pulled: list[int] = []

    def source() -> Iterator[str]:
        for number in range(1, 1000):
            pulled.append(number)
            yield f"{number}.HK\n"

    lines = parse_lines(source())
    assert next(lines) == SymbolLine(1, Symbol("1", "HK"))
    assert pulled == [1]


# Round trip through the adapters ---------------------------------------------------------

US_CODES = st.from_regex(r"[A-Z][A-Z0-9]{0,9}", fullmatch=True)
# A share class named like a market ("X.US.US") is refused; see the test below.
CLASSES = st.from_regex(r"[A-Z]{1,2}", fullmatch=True).filter(lambda c: c not in ("US", "HK"))


@st.composite
def us_symbols(draw: st.DrawFn) -> tuple[str, str]:
    code = draw(US_CODES)
    if draw(st.booleans()):
        code = f"{code}.{draw(CLASSES)}"
    text = f"US.{code}" if draw(st.booleans()) else f"{code}.US"
    return text, f"{code}.US"


@st.composite
def hk_symbols(draw: st.DrawFn) -> tuple[str, str]:
    number = draw(st.integers(min_value=1, max_value=99_999))
    width = draw(st.integers(min_value=len(str(number)), max_value=5))
    code = str(number).zfill(width)
    text = f"HK.{code}" if draw(st.booleans()) else f"{code}.HK"
    return text, f"{number}.HK"


@st.composite
def styled(draw: st.DrawFn) -> tuple[str, str]:
    text, canonical = draw(st.one_of(us_symbols(), hk_symbols()))
    text = text.lower() if draw(st.booleans()) else text
    pad = draw(st.sampled_from(["", " ", "  ", "\t"]))
    return f"{pad}{text}{pad}", canonical


@settings(database=None, deadline=None)
@given(styled())
def test_parse_then_format_for_each_endpoint_then_parse_is_the_identity(
    case: tuple[str, str],
) -> None:
    text, canonical = case
    symbol = parse_symbol(text)
    assert symbol.canonical == canonical
    for adapter in (SHORT_TRADES, SHORT_INTEREST):
        assert parse_symbol(adapter.format_symbol(symbol)) == symbol


@settings(database=None, deadline=None)
@given(st.integers(min_value=1, max_value=99_999))
def test_hk_codes_take_each_endpoints_own_style(number: int) -> None:
    symbol = parse_symbol(f"{number}.HK")
    assert SHORT_TRADES.format_symbol(symbol) == f"{number}.HK"
    assert SHORT_INTEREST.format_symbol(symbol) == f"HK.{number:05d}"


def test_hk_and_us_example_styles_per_endpoint() -> None:
    tencent = parse_symbol("HK.00700")
    brk = parse_symbol("BRK.B.US")
    assert SHORT_TRADES.format_symbol(tencent) == "700.HK"
    assert SHORT_INTEREST.format_symbol(tencent) == "HK.00700"
    assert SHORT_TRADES.format_symbol(brk) == "BRK.B.US"
    assert SHORT_INTEREST.format_symbol(brk) == "US.BRK.B"


def test_a_share_class_named_like_a_market_is_refused_or_round_trips() -> None:
    try:
        symbol = parse_symbol("X.US.US")
    except SymbolSyntaxError:
        return  # refusing the ambiguous class is a fine answer too
    for adapter in (SHORT_TRADES, SHORT_INTEREST):
        assert parse_symbol(adapter.format_symbol(symbol)) == symbol
