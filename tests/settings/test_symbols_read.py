"""Reading a symbols file line by line (harvester/settings/symbols.py): comments, numbers, laziness.

Blank lines and comments skipped, lines numbered from one, a UTF-8 BOM and CRLF endings,
bad bytes and a missing file, one line pulled at a time, and hints reported on their line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harvester.errors import ConfigError
from harvester.model import Symbol
from harvester.settings.symbols import SymbolLine, parse_lines, read_symbols


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


def test_read_symbols_reports_the_hint_on_the_line(tmp_path: Path) -> None:
    path = tmp_path / "symbols.txt"
    path.write_text("AAPL\n00700  # Tencent\nMSFT.US\n", encoding="utf-8")
    assert list(read_symbols(path)) == [
        SymbolLine(1, None, "not a symbol: 'AAPL' (did you mean AAPL.US?)"),
        SymbolLine(2, None, "not a symbol: '00700' (did you mean 700.HK?)"),
        SymbolLine(3, Symbol("MSFT", "US")),
    ]
