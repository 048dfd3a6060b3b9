"""Parsing one symbol (harvester/settings/symbols.py): which texts are symbols, and the hint
for a bare code.

Pure unit tests, no files, no network, no event loop: every accepted style, case and spacing,
other markets (unsupported), malformed text, and the "did you mean" hint for a bare code.
"""

from __future__ import annotations

import pytest

from harvester.model import Symbol
from harvester.settings.symbols import SymbolSyntaxError, parse_symbol, suggestion

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


# Hints for bare codes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AAPL", "AAPL.US"),
        ("aapl", "AAPL.US"),
        (" brk.b ", "BRK.B.US"),
        ("700", "700.HK"),
        ("00700", "700.HK"),
        ("99999", "99999.HK"),
        ("0", None),
        ("00000", None),
        ("123456", None),
        ("1ABC", None),
        ("TOOLONGCODE1", None),
        ("A/B", None),
        ("AA PL", None),
        ("AAPL.SH", None),  # the tail already names a market
        ("BRK.B.X", None),
        ("tßla", None),  # would upper-case to the plausible TSSLA
        ("\uff17\uff10\uff10", None),  # fullwidth digits
        ("", None),
    ],
)
def test_suggestion_completes_only_plausible_bare_codes(text: str, expected: str | None) -> None:
    assert suggestion(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("AAPL", "not a symbol: 'AAPL' (did you mean AAPL.US?)"),
        ("brk.b", "not a symbol: 'brk.b' (did you mean BRK.B.US?)"),
        ("  700 ", "not a symbol: '700' (did you mean 700.HK?)"),
        ("00700", "not a symbol: '00700' (did you mean 700.HK?)"),
        ("0", "not a symbol: '0'"),
        ("A/B", "not a symbol: 'A/B'"),
    ],
)
def test_a_bare_code_is_malformed_with_a_hint(text: str, message: str) -> None:
    with pytest.raises(SymbolSyntaxError) as info:
        parse_symbol(text)
    assert str(info.value) == message
