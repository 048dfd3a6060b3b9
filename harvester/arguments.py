"""The types of the command line's values: each refuses a bad value with one line (exit 2).

argparse turns the ``ArgumentTypeError`` into ``harvester: error: argument --flag: ...``.
"""

from __future__ import annotations

import argparse
import re
from datetime import date

LARGEST_COUNT = 2**63 - 1  #: SQLite's largest INTEGER: a larger LIMIT overflows


def positive_count(text: str) -> int:
    """``--last``, ``--top``: a count in ASCII digits, from 1 to SQLite's largest INTEGER."""
    # str.isdigit takes "²", which int() refuses; a larger count overflows SQLite's LIMIT,
    # and int() refuses more than 4,300 digits, so a long one is too large before int() runs.
    largest, digits = LARGEST_COUNT, text.lstrip("0")
    if not re.fullmatch(r"[0-9]+", text) or not digits:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    if len(digits) > len(str(largest)) or int(digits) > largest:
        raise argparse.ArgumentTypeError(f"too large: {text} (at most {largest})")
    return int(digits)


def day(text: str) -> str:
    """``--since``: a date written YYYY-MM-DD, the one spelling the file's ``trade_date`` has."""
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"not a date: {text!r} (write YYYY-MM-DD)")


def port(text: str) -> int:
    """``--port``: 1 to 65535."""
    return _port(text, lowest=1)


def port_or_any(text: str) -> int:
    """``simulate --port``: 0 (any free port) to 65535."""
    return _port(text, lowest=0)


def _port(text: str, *, lowest: int) -> int:
    number = int(text) if re.fullmatch(r"[0-9]{1,5}", text) else -1
    if not lowest <= number <= 65535:
        raise argparse.ArgumentTypeError(f"not a port: {text!r} ({lowest} to 65535)")
    return number
