"""Unit tests of the symbols file parser (harvester/symbols.py): pure, no network, no event loop.

Covers every accepted style, case and spacing, other markets (unsupported), malformed lines,
hints for bare codes, comments, line numbers, a UTF-8 BOM, CRLF and CR endings, UTF-16 and UTF-32
files, files that are not text (/dev/zero, a line with no break), laziness, a FIFO, and the
round trip through each endpoint adapter's own symbol style.
"""

from __future__ import annotations

import codecs
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.endpoints import ADAPTERS
from harvester.errors import ConfigError
from harvester.model import Symbol
from harvester.symbols import (
    MAX_RAW_LINE,
    NotSymbolsText,
    SymbolLine,
    SymbolSyntaxError,
    parse_lines,
    parse_symbol,
    read_symbols,
    sniff_encoding,
    suggestion,
    text_lines,
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


def test_read_symbols_reports_the_hint_on_the_line(tmp_path: Path) -> None:
    path = tmp_path / "symbols.txt"
    path.write_text("AAPL\n00700  # Tencent\nMSFT.US\n", encoding="utf-8")
    assert list(read_symbols(path)) == [
        SymbolLine(1, None, "not a symbol: 'AAPL' (did you mean AAPL.US?)"),
        SymbolLine(2, None, "not a symbol: '00700' (did you mean 700.HK?)"),
        SymbolLine(3, Symbol("MSFT", "US")),
    ]


# Files that are not what they seem -------------------------------------------------------

SAMPLE = "# universe\r\nAAPL.US\r\n\r\n  700.hk  # Tencent\r\nBAD/ONE\r\nUS.BRK.B\r\nHK.00005"


def _config_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        list(read_symbols(path))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_dev_zero_is_refused_quickly_in_bounded_memory() -> None:
    # A child process with a memory cap: a reader that reads until a line break would hit
    # the cap (or the time-out) there instead of exhausting this machine.
    script = (
        "import resource, tracemalloc\n"
        "from pathlib import Path\n"
        "from harvester.errors import ConfigError\n"
        "from harvester.symbols import read_symbols\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "tracemalloc.start()\n"
        "try:\n"
        "    list(read_symbols(Path('/dev/zero')))\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
        "print(tracemalloc.get_traced_memory()[1])\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    message, peak = done.stdout.splitlines()
    assert message == (
        "symbols file /dev/zero line 1: over 1 MiB without a line break;"
        " is it a text file of symbols?"
    )
    assert int(peak) < 16 * MAX_RAW_LINE


def test_a_2_mib_file_without_a_line_break_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "symbols.txt"
    path.write_bytes(b"A" * (2 << 20))
    assert _config_error(path) == (
        f"symbols file {path} line 1: over 1 MiB without a line break;"
        " is it a text file of symbols?"
    )


def test_the_runaway_line_is_named_after_good_lines(tmp_path: Path) -> None:
    path = tmp_path / "symbols.txt"
    path.write_bytes(b"AAPL.US\r\n\r\n" + b"x" * (2 << 20))
    lines = read_symbols(path)
    assert next(lines) == SymbolLine(1, Symbol("AAPL", "US"))
    with pytest.raises(ConfigError, match=r"symbols\.txt line 3: over 1 MiB without a line break"):
        next(lines)


def test_a_line_of_exactly_max_raw_line_is_only_malformed() -> None:
    line = "x" * MAX_RAW_LINE
    assert list(text_lines([line.encode(), b"\nAAPL.US"])) == [line, "AAPL.US"]
    with pytest.raises(NotSymbolsText) as info:
        list(text_lines([line.encode(), b"x\nAAPL.US"]))
    assert info.value.lineno == 1


def test_a_10_kb_junk_line_is_malformed_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "symbols.txt"
    junk = bytes(range(32, 127)) * 100 + b"\xff\xfe" * 300  # 10 KB, no line break
    path.write_bytes(b"AAPL.US\n700.HK\n" + junk + b"\nMSFT.US\r\nUS.BRK.B\n")
    result = list(read_symbols(path))
    assert [(line.lineno, line.symbol) for line in result] == [
        (1, Symbol("AAPL", "US")),
        (2, Symbol("700", "HK")),
        (3, None),
        (4, Symbol("MSFT", "US")),
        (5, Symbol("BRK.B", "US")),
    ]
    assert result[2].error is not None and len(result[2].error) < 80


@pytest.mark.parametrize(
    ("encoding", "mark"),
    [
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-16", b""),  # Python's utf-16 writes its own mark, in this machine's byte order
    ],
)
def test_utf16_with_a_byte_order_mark_reads_like_utf8(
    tmp_path: Path, encoding: str, mark: bytes
) -> None:
    utf8 = tmp_path / "utf8.txt"
    utf8.write_bytes(SAMPLE.encode("utf-8"))
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes(mark + SAMPLE.encode(encoding))
    expected = list(read_symbols(utf8))
    assert [line.symbol for line in expected] == [
        Symbol("AAPL", "US"),
        Symbol("700", "HK"),
        None,
        Symbol("BRK.B", "US"),
        Symbol("5", "HK"),
    ]
    assert list(read_symbols(utf16)) == expected


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_refused(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "symbols.txt"
    path.write_bytes(SAMPLE.encode(encoding))
    assert _config_error(path) == (
        f"symbols file {path}: looks like UTF-16 without a byte-order mark; save it as UTF-8"
    )


@pytest.mark.parametrize(
    ("encoding", "mark"),
    [
        ("utf-32", b""),
        ("utf-32-le", codecs.BOM_UTF32_LE),
        ("utf-32-be", codecs.BOM_UTF32_BE),
    ],
)
def test_utf32_is_refused(tmp_path: Path, encoding: str, mark: bytes) -> None:
    path = tmp_path / "symbols.txt"
    path.write_bytes(mark + SAMPLE.encode(encoding))
    assert _config_error(path) == f"symbols file {path}: UTF-32 text; save it as UTF-8"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"AAPL.US\n", ("utf-8", 0)),
        (codecs.BOM_UTF8 + b"AAPL.US\n", ("utf-8", 3)),
        (codecs.BOM_UTF16_LE + "AAPL".encode("utf-16-le"), ("utf-16-le", 2)),
        (codecs.BOM_UTF16_BE + "AAPL".encode("utf-16-be"), ("utf-16-be", 2)),
        (b"\0" * 64, ("utf-8", 0)),  # NUL everywhere is no UTF-16: the line limit catches it
        (b"AAPL.US\nA\0B.US\nMSFT.US\n", ("utf-8", 0)),  # one stray NUL: a malformed line
        (b"", ("utf-8", 0)),
    ],
)
def test_sniff_encoding(head: bytes, expected: tuple[str, int]) -> None:
    assert sniff_encoding(head) == expected


def test_a_stray_nul_byte_makes_a_malformed_line_not_a_refusal(tmp_path: Path) -> None:
    path = tmp_path / "symbols.txt"
    path.write_bytes(b"AAPL.US\nA\0B.US\nMSFT.US\n")
    assert [(line.lineno, line.symbol) for line in read_symbols(path)] == [
        (1, Symbol("AAPL", "US")),
        (2, None),
        (3, Symbol("MSFT", "US")),
    ]


def test_cr_only_line_endings_are_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "symbols.txt"
    path.write_bytes(b"AAPL.US\r# comment\r\r700.HK\r")
    assert list(read_symbols(path)) == [
        SymbolLine(1, Symbol("AAPL", "US")),
        SymbolLine(4, Symbol("700", "HK")),
    ]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le", "utf-16-be"])
def test_text_lines_does_not_depend_on_where_the_chunks_break(encoding: str) -> None:
    # One byte at a time splits every \r\n and every UTF-16 code unit across two chunks.
    data = SAMPLE.encode(encoding)
    expected = SAMPLE.replace("\r\n", "\n").split("\n")
    assert list(text_lines([data], encoding)) == expected
    assert list(text_lines([data[i : i + 1] for i in range(len(data))], encoding)) == expected


def test_text_lines_treats_a_split_crlf_as_one_break() -> None:
    assert list(text_lines([b"A\r", b"\nB\r", b"C\r"])) == ["A", "B", "C"]


def test_a_fifo_is_read_as_a_stream(tmp_path: Path) -> None:
    # The writer holds back the rest of the file until the first symbol has come out:
    # a reader that waited for the end of the file (or seeked) would never get there.
    path = tmp_path / "symbols.fifo"
    os.mkfifo(path)
    first_seen = threading.Event()
    waited: list[bool] = []

    def write() -> None:
        with path.open("wb") as pipe:
            pipe.write(b"AAPL.US\n" * 50)
            pipe.flush()
            waited.append(first_seen.wait(timeout=10))
            pipe.write(b"700.HK\r\nMSFT.US")

    writer = threading.Thread(target=write)
    writer.start()
    try:
        lines = read_symbols(path)
        assert next(lines) == SymbolLine(1, Symbol("AAPL", "US"))
        first_seen.set()
        rest = list(lines)
    finally:
        first_seen.set()
        writer.join(timeout=10)
    assert waited == [True]
    assert len(rest) == 51
    assert rest[-2:] == [SymbolLine(51, Symbol("700", "HK")), SymbolLine(52, Symbol("MSFT", "US"))]


# Round trip through the adapters ---------------------------------------------------------

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
