"""Symbols files that are not what they seem: refused in one line, or read as text after all.

/dev/zero and a file with no line break (bounded memory), a junk line, UTF-16 with and
without a byte-order mark, UTF-32, a stray NUL byte, CR-only endings, chunk boundaries,
and a FIFO read as a stream.
"""

from __future__ import annotations

import codecs
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from harvester.errors import ConfigError
from harvester.model import Symbol
from harvester.settings.symbols import (
    MAX_RAW_LINE,
    NotSymbolsText,
    SymbolLine,
    read_symbols,
    sniff_encoding,
    text_lines,
)

SAMPLE = "# universe\r\nAAPL.US\r\n\r\n  700.hk  # Tencent\r\nBAD/ONE\r\nUS.BRK.B\r\nHK.00005"


def _config_error(path: Path) -> str:
    """The one-line ConfigError that reading ``path`` raises."""
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
        "from harvester.settings.symbols import read_symbols\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "tracemalloc.start()\n"
        "try:\n"
        "    list(read_symbols(Path('/dev/zero')))\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
        "print(tracemalloc.get_traced_memory()[1])\n"
    )
    root = Path(__file__).resolve().parents[2]
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
