"""Parse the symbols file into canonical symbols, one line at a time.

Accepted styles (any case, surrounding spaces, ``#`` comments and blank lines
are fine): ``700.HK``, ``00700.HK``, ``HK.00700``, ``AAPL.US``, ``US.AAPL``,
``BRK.B.US``, ``US.BRK.B``. Other markets (``600519.SH``) parse too and come
out unsupported; the sweep records them without sending a request. A bare code
(``AAPL``, ``00700``) is malformed, and its message suggests the full symbol.

The file is UTF-8 (a byte-order mark is fine) or UTF-16 with a byte-order mark,
with ``\\n``, ``\\r\\n`` or ``\\r`` line endings. It is read as a stream in
bounded pieces, so a pipe works and a file that is not text cannot exhaust
memory: UTF-32, UTF-16 without a mark and a line over ``MAX_RAW_LINE`` refuse
the whole file, while a line over ``MAX_LINE`` is merely malformed.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import chain
from pathlib import Path

from harvester.errors import ConfigError
from harvester.model import Symbol

MAX_LINE = 64  # longer lines are malformed rather than scanned
MAX_RAW_LINE = 1 << 20  # characters (1 MiB or more) without a line break refuse the file
_SNIFF = 64  # bytes read before the first line to tell the encoding; a pipe waits for them
_CHUNK = 1 << 16

_MARKET = re.compile(r"[A-Z]{2}")
# A share class named like a market (X.US.US) would not survive the round trip via US.X.US.
_US_CODE = re.compile(r"[A-Z][A-Z0-9]{0,9}(?:\.(?!US$|HK$)[A-Z]{1,2})?")
_HK_CODE = re.compile(r"[0-9]{1,5}")
_OTHER_CODE = re.compile(r"[A-Z0-9]{1,12}")
# A bare code has no market; a two-letter tail (AAPL.SH) already reads as one.
_BARE_US = re.compile(r"[A-Z][A-Z0-9]{0,9}(?:\.[A-Z])?")

# Byte-order marks and the codec each one means; None is refused. The UTF-32 LE mark
# begins with the UTF-16 LE one, so it must be tried first.
_MARKS: tuple[tuple[bytes, str | None], ...] = (
    (codecs.BOM_UTF32_LE, None),
    (codecs.BOM_UTF32_BE, None),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class SymbolSyntaxError(ValueError):
    """A line that is neither a comment nor a symbol in an accepted style."""


class NotSymbolsText(ValueError):
    """The bytes cannot be a text file of symbols; ``lineno`` is set when one line is to blame."""

    def __init__(self, reason: str, *, lineno: int | None = None) -> None:
        super().__init__(reason)
        self.lineno = lineno


def _code(code: str, market: str) -> str | None:
    """Return the canonical code for ``market``, or None when it is not one."""
    if market == "HK":
        if _HK_CODE.fullmatch(code) and int(code) > 0:
            return str(int(code))  # HK codes are canonical without leading zeros
        return None
    pattern = _US_CODE if market == "US" else _OTHER_CODE
    return code if pattern.fullmatch(code) else None


def suggestion(text: str) -> str | None:
    """Return the symbol a bare code most likely means (``AAPL.US``, ``700.HK``), or None."""
    stripped = text.strip()
    # ASCII is checked before upper-casing, as in parse_symbol: "tßla" must not become TSSLA.
    if not stripped.isascii():
        return None
    code = stripped.upper()
    if _HK_CODE.fullmatch(code):
        return f"{int(code)}.HK" if int(code) > 0 else None
    return f"{code}.US" if _BARE_US.fullmatch(code) else None


def _rejection(stripped: str) -> SymbolSyntaxError:
    """The error for a line that is not a symbol, with a hint when it is a bare code."""
    hint = suggestion(stripped)
    tail = f" (did you mean {hint}?)" if hint else ""
    return SymbolSyntaxError(f"not a symbol: {stripped[:40]!r}{tail}")


def parse_symbol(text: str) -> Symbol:
    """Parse one symbol in any accepted style; raise SymbolSyntaxError otherwise."""
    stripped = text.strip()
    # ASCII is checked before upper-casing: "ß".upper() is "SS" and would sneak through.
    if not stripped or len(stripped) > MAX_LINE or not stripped.isascii():
        raise _rejection(stripped)
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
    raise _rejection(stripped)


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


def _looks_like_utf16(head: bytes) -> bool:
    """True when NUL fills one byte of many two-byte units and never the other, as in UTF-16."""
    units = len(head) // 2
    even, odd = head[0 : 2 * units : 2].count(0), head[1 : 2 * units : 2].count(0)
    # UTF-8 text holds no NUL at all, and NUL everywhere (/dev/zero) is not UTF-16 either.
    return min(even, odd) == 0 and 4 * max(even, odd) >= units > 0


def sniff_encoding(head: bytes) -> tuple[str, int]:
    """Return the codec of a file starting with ``head`` and its byte-order mark's length."""
    for mark, codec in _MARKS:
        if head.startswith(mark):
            if codec is None:
                raise NotSymbolsText("UTF-32 text; save it as UTF-8")
            return codec, len(mark)
    if _looks_like_utf16(head):
        raise NotSymbolsText("looks like UTF-16 without a byte-order mark; save it as UTF-8")
    return "utf-8", 0


def _runaway(lineno: int) -> NotSymbolsText:
    """The refusal of a line that outgrew MAX_RAW_LINE, however the chunks broke it."""
    return NotSymbolsText(
        "over 1 MiB without a line break; is it a text file of symbols?", lineno=lineno
    )


def text_lines(chunks: Iterable[bytes], codec: str = "utf-8") -> Iterator[str]:
    """Decode byte chunks into lines without endings; a line past MAX_RAW_LINE is NotSymbolsText."""
    # The newline decoder holds back a trailing \r until it knows whether \n follows.
    decoder = io.IncrementalNewlineDecoder(
        codecs.getincrementaldecoder(codec)(errors="replace"), translate=True
    )
    texts = chain((decoder.decode(chunk) for chunk in chunks), [decoder.decode(b"", final=True)])
    pending: list[str] = []  # pieces of the line not yet ended, joined once it ends
    size = 0
    lineno = 1
    for text in texts:
        *ended, rest = text.split("\n")
        if ended:
            ended[0] = "".join(pending) + ended[0]
            pending, size = [], 0
        pending.append(rest)
        size += len(rest)
        for line in ended:
            if len(line) > MAX_RAW_LINE:
                raise _runaway(lineno)
            yield line
            lineno += 1
        if size > MAX_RAW_LINE:
            raise _runaway(lineno)
    if size:
        yield "".join(pending)


def read_symbols(path: Path) -> Iterator[SymbolLine]:
    """Stream the symbols file line by line; an unreadable or non-text file is a ConfigError."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ConfigError(f"symbols file {path}: {exc.strerror or exc}") from exc
    with handle:
        try:
            head = handle.read(_SNIFF)
            codec, mark = sniff_encoding(head)
            # read1 returns what a pipe has so far instead of waiting for a full chunk.
            chunks = chain([head[mark:]], iter(partial(handle.read1, _CHUNK), b""))
            yield from parse_lines(text_lines(chunks, codec))
        except NotSymbolsText as exc:
            where = "" if exc.lineno is None else f" line {exc.lineno}"
            raise ConfigError(f"symbols file {path}{where}: {exc}") from exc
