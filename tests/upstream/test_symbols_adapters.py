"""Symbols round-trip through each endpoint adapter's own style (settings/symbols.py, adapters).

Property tests: parse, format for short_trades or short_interest, parse again gives the same
symbol; and a share class named like a market is refused, so no symbol can go out ambiguous.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.settings.symbols import SymbolSyntaxError, parse_symbol
from harvester.upstream.endpoints import ADAPTERS

SHORT_TRADES = ADAPTERS["short_trades"]
SHORT_INTEREST = ADAPTERS["short_interest"]
US_CODES = st.from_regex(r"[A-Z][A-Z0-9]{0,9}", fullmatch=True)
# A share class named like a market ("X.US.US") is refused; see the last test below.
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


@pytest.mark.parametrize("text", ["X.US.US", "x.us.us", " X.US.US ", "X.HK.US", "X.US.HK"])
def test_a_share_class_named_like_a_market_is_refused(text: str) -> None:
    # As class X.US of market US it would go out as US.X.US to short_interest, and that
    # reads back as code US.X: the parser refuses a class named US or HK instead.
    with pytest.raises(SymbolSyntaxError) as refused:
        parse_symbol(text)
    assert str(refused.value) == f"not a symbol: {text.strip()!r}"
