"""Parse the symbols file into canonical symbols, one line at a time.

Accepted styles (any case, surrounding spaces, ``#`` comments and blank lines
are fine): ``700.HK``, ``00700.HK``, ``HK.00700``, ``AAPL.US``, ``US.AAPL``,
``BRK.B.US``, ``US.BRK.B``. Other markets (``600519.SH``) parse too and come
out unsupported; the sweep records them without sending a request.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harvester.errors import ConfigError
from harvester.model import Symbol

MAX_LINE = 64  # longer lines are malformed rather than scanned

_MARKET = re.compile(r"[A-Z]{2}")
# A share class named like a market (X.US.US) would not survive the round trip via US.X.US.
_US_CODE = re.compile(r"[A-Z][A-Z0-9]{0,9}(?:\.(?!US$|HK$)[A-Z]{1,2})?")
_HK_CODE = re.compile(r"[0-9]{1,5}")
_OTHER_CODE = re.compile(r"[A-Z0-9]{1,12}")


class SymbolSyntaxError(ValueError):
    """A line that is neither a comment nor a symbol in an accepted style."""


def _code(code: str, market: str) -> str | None:
    """Return the canonical code for ``market``, or None when it is not one."""
    if market == "HK":
        if _HK_CODE.fullmatch(code) and int(code) > 0:
            return str(int(code))  # HK codes are canonical without leading zeros
        return None
    pattern = _US_CODE if market == "US" else _OTHER_CODE
    return code if pattern.fullmatch(code) else None


def parse_symbol(text: str) -> Symbol:
    """Parse one symbol in any accepted style; raise SymbolSyntaxError otherwise."""
    stripped = text.strip()
    # ASCII is checked before upper-casing: "ß".upper() is "SS" and would sneak through.
    if not stripped or len(stripped) > MAX_LINE or not stripped.isascii():
        raise SymbolSyntaxError(f"not a symbol: {stripped[:40]!r}")
    raw = stripped.upper()
    head, _, tail = raw.partition(".")
    rest, _, last = raw.rpartition(".")
    # Try the interpretations in order: a supported market wins over another one,
    # so US.BRK.B is BRK.B in the US and not code "US.BRK" in market "B".
    candidates = []
    if rest and last in ("US", "HK"):
        candidates.append((rest, last))
    if tail and head in ("US", "HK"):
        candidates.append((tail, head))
    if rest and _MARKET.fullmatch(last):
        candidates.append((rest, last))
    if tail and _MARKET.fullmatch(head):
        candidates.append((tail, head))
    for code, market in candidates:
        canonical = _code(code, market)
        if canonical is not None:
            return Symbol(canonical, market)
    raise SymbolSyntaxError(f"not a symbol: {text.strip()[:40]!r}")


@dataclass(frozen=True, slots=True)
class SymbolLine:
    """One line of the symbols file: a symbol, or the reason it is not one."""

    lineno: int
    symbol: Symbol | None
    error: str | None = None


def parse_lines(lines: Iterator[str]) -> Iterator[SymbolLine]:
    """Yield a SymbolLine for every line that is not blank or a comment."""
    for lineno, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if lineno == 1:
            text = text.lstrip("\ufeff").strip()
        if not text:
            continue
        try:
            yield SymbolLine(lineno, parse_symbol(text))
        except SymbolSyntaxError as exc:
            yield SymbolLine(lineno, None, str(exc))


def read_symbols(path: Path) -> Iterator[SymbolLine]:
    """Stream the symbols file line by line; a missing or unreadable file is a ConfigError."""
    try:
        handle = path.open(encoding="utf-8", errors="replace", newline=None)
    except OSError as exc:
        raise ConfigError(f"symbols file {path}: {exc.strerror or exc}") from exc
    with handle:
        yield from parse_lines(iter(handle))
