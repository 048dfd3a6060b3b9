"""The gateway's own reading of the symbol styles.

``short_trades`` takes ``CODE.MARKET`` (``700.HK``), ``short_interest`` takes
``MARKET.CODE`` (``HK.00700``). The OpenAPI dialect takes ``CODE.MARKET`` with
or without the HK zero padding (``00700.HK``: its SDK sends a symbol as given)
or a counter ID (``ST/HK/700``, ``ETF/US/SPY``). All are reduced to one
canonical form, ``CODE.MARKET`` with the HK code stripped of leading zeros,
which keys the data, the special symbol lists and the fault scripts.

What a US or other market's code may look like is the harvester's own rule
(``harvester.settings.symbols``), one rule in one home: the gateway never refuses
a symbol the harvester accepts from a symbols file, nor one its settings name.
The HK code's padding is the wire format's, and stays the gateway's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from harvester.settings.symbols import SymbolSyntaxError, parse_symbol

MARKETS: tuple[str, ...] = ("US", "HK")
"""Markets that have data."""

OTHER_MARKETS = frozenset({"SH", "SZ", "SG", "JP", "UK", "DE", "CA", "AU", "TW", "KR"})
"""Markets the gateway recognises only to answer ``unsupported``."""

_HK_TRADES_CODE = re.compile(r"[1-9][0-9]{0,4}")
_HK_INTEREST_CODE = re.compile(r"[0-9]{5}")


class SymbolStyleError(ValueError):
    """The text is not a symbol in the style the endpoint expects."""


@dataclass(frozen=True)
class Symbol:
    """A parsed symbol: its code (HK without leading zeros) and market."""

    code: str
    market: str

    @cached_property
    def canonical(self) -> str:
        """The ``CODE.MARKET`` form used as key everywhere in the gateway (asked often)."""
        return f"{self.code}.{self.market}"

    @property
    def supported(self) -> bool:
        """Whether the market has data at all."""
        return self.market in MARKETS


def parse_trades_symbol(text: str) -> Symbol:
    """Read a ``CODE.MARKET`` symbol (``TSLA.US``, ``BRK.B.US``, ``700.HK``)."""
    code, dot, market = text.rpartition(".")
    if not dot:
        raise SymbolStyleError(text)
    if not _code_ok(code, market, _HK_TRADES_CODE):
        raise SymbolStyleError(text)
    return Symbol(code, market)


def parse_interest_symbol(text: str) -> Symbol:
    """Read a ``MARKET.CODE`` symbol (``US.AAPL``, ``US.BRK.B``, ``HK.00700``)."""
    market, dot, code = text.partition(".")
    if not dot:
        raise SymbolStyleError(text)
    if not _code_ok(code, market, _HK_INTEREST_CODE) or code == "00000":
        raise SymbolStyleError(text)
    # The canonical HK code drops the zero padding: HK.00700 is 700.HK.
    return Symbol(str(int(code)) if market == "HK" else code, market)


COUNTER_KINDS: tuple[str, ...] = ("ST", "ETF")
"""Counter ID prefixes of the securities with data: stocks and funds."""

_HK_OPENAPI_CODE = re.compile(r"(?=[0-9]{1,5}$)0*[1-9][0-9]*")
# Room for any code the market's rule allows (``_listed``: ten characters and a class).
_COUNTER_ID = re.compile(r"([A-Z]{2,5})/([A-Z]{2})/([A-Z0-9.]{1,16})")


def parse_openapi_symbol(text: str) -> Symbol:
    """Read an OpenAPI ``symbol``: ``AAPL.US``, ``700.HK`` or ``00700.HK`` (at most five digits)."""
    code, dot, market = text.rpartition(".")
    if not dot or not _code_ok(code, market, _HK_OPENAPI_CODE):
        raise SymbolStyleError(text)
    return Symbol(code.lstrip("0") if market == "HK" else code, market)


def parse_counter_id(text: str) -> tuple[str, Symbol]:
    """Read a counter ID (``ST/US/AAPL``, ``ETF/US/SPY``, ``ST/HK/700``) into (kind, symbol).

    Another kind (``IX/US/DJI``, ``WT/HK/12345``) parses too, with its code as
    given: the caller answers it ``unsupported``, as upstream does indices and
    warrants.
    """
    found = _COUNTER_ID.fullmatch(text)
    if found is None:
        raise SymbolStyleError(text)
    kind, market, code = found.groups()
    if kind not in COUNTER_KINDS:
        return kind, Symbol(code, market)
    return kind, parse_openapi_symbol(f"{code}.{market}")


def _code_ok(code: str, market: str, hk_code: re.Pattern[str]) -> bool:
    """Check a code against its market's pattern; HK's differs by endpoint."""
    if market == "HK":
        return hk_code.fullmatch(code) is not None
    return (market == "US" or market in OTHER_MARKETS) and _listed(code, market)


def _listed(code: str, market: str) -> bool:
    """Whether ``CODE.MARKET`` is already canonical by the harvester's rule (upper case too)."""
    text = f"{code}.{market}"
    try:
        return parse_symbol(text).canonical == text
    except SymbolSyntaxError:
        return False


def is_canonical(text: str) -> bool:
    """Whether the text is a symbol already in canonical ``CODE.MARKET`` form."""
    try:
        return parse_trades_symbol(text).canonical == text
    except SymbolStyleError:
        return False
