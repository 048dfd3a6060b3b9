"""Rows out to a person or a program: an aligned table, CSV, a JSON array or JSON lines.

Every writer takes the column names and the rows in chunks (lists of tuples, as
``cursor.fetchmany`` gives them) and writes bytes as it goes, so a million rows
cost the memory of one chunk; only the table, which must know its widths,
holds its rows. Values go out as SQLite gave them: NULL is an empty CSV field,
``null`` in JSON and ``-`` in a table. ``destination`` is stdout or a file
written atomically, and ``stdout_closed`` is what a command does when the
reader of its pipe went away (``harvester export t | head``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, cast

import orjson

from harvester.errors import UsageError

FORMATS = ("table", "csv", "json", "jsonl")
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE: what a shell reports for `yes | head`
NULL = "-"

Row = Sequence[Any]
Chunks = Iterable[Sequence[Row]]


def _csv(out: BinaryIO, columns: Sequence[str], chunks: Chunks) -> None:
    """CSV with a header row; one encode and one write per chunk."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for chunk in chunks:
        writer.writerows(chunk)
        out.write(text.getvalue().encode())
        text.seek(0)
        text.truncate()
    out.write(text.getvalue().encode())


def _blob(value: Any) -> str:
    """A BLOB as hex text: none of ours has one, a user's own table might."""
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _object(columns: Sequence[str], row: Row, option: int = 0) -> bytes:
    """One row as a JSON object."""
    return orjson.dumps(dict(zip(columns, row, strict=True)), option=option, default=_blob)


def _jsonl(out: BinaryIO, columns: Sequence[str], chunks: Chunks) -> None:
    """One JSON object per line."""
    for chunk in chunks:
        out.write(b"".join(_object(columns, row, orjson.OPT_APPEND_NEWLINE) for row in chunk))


def _json(out: BinaryIO, columns: Sequence[str], chunks: Chunks) -> None:
    """One JSON array of objects, one object a line, written as the rows come."""
    separator = b"[\n"
    for chunk in chunks:
        for row in chunk:
            out.write(separator + _object(columns, row))
            separator = b",\n"
    out.write(b"[]\n" if separator == b"[\n" else b"\n]\n")


def _cell(value: Any) -> str:
    return NULL if value is None else str(value)


def table_text(columns: Sequence[str], rows: Sequence[Row]) -> str:
    """An aligned table: a header, a rule, numbers right-aligned, NULL as ``-``."""
    cells = [[_cell(value) for value in row] for row in rows]
    numeric = [all(isinstance(row[i], int | float) or row[i] is None for row in rows)
               for i in range(len(columns))]
    widths = [max([len(name), *(len(row[i]) for row in cells)])
              for i, name in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(value.rjust(width) if right else value.ljust(width)
                         for value, width, right in zip(values, widths, numeric, strict=True)
                         ).rstrip()

    return "\n".join([line(columns), line(["-" * width for width in widths]),
                      *(line(row) for row in cells)]) + "\n"


def write_rows(out: BinaryIO, fmt: str, columns: Sequence[str], chunks: Chunks) -> None:
    """Write the rows in ``fmt`` (one of FORMATS)."""
    if fmt == "table":
        out.write(table_text(columns, [row for chunk in chunks for row in chunk]).encode())
    elif fmt == "csv":
        _csv(out, columns, chunks)
    elif fmt == "json":
        _json(out, columns, chunks)
    elif fmt == "jsonl":
        _jsonl(out, columns, chunks)
    else:
        raise ValueError(f"unknown format {fmt!r}")


def chunked(cursor: Any, size: int = 1000) -> Iterator[list[Any]]:
    """A cursor's rows in lists of at most ``size``; never the whole result at once."""
    while chunk := cursor.fetchmany(size):
        yield chunk


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A file that appears under ``path`` whole, or not at all.

    The rows go to a temporary file in the same folder, renamed over ``path``
    once everything is written and on disk; any failure, Ctrl-C included,
    removes it and leaves whatever ``path`` was before.
    """
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed or removed below
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    temp = Path(handle.name)
    try:
        with handle:
            yield cast(BinaryIO, handle)
            handle.flush()
            os.fsync(handle.fileno())
        # A temporary file is private (0600); the export gets a new file's usual mode.
        temp.chmod(0o666 & ~_umask())
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def destination(target: str | None) -> Iterator[BinaryIO]:
    """stdout for None or ``-``, else ``atomic_file(target)``."""
    if target is None or target == "-":
        out = sys.stdout.buffer
        yield out
        out.flush()
        return
    with atomic_file(Path(target)) as handle:
        yield handle


def stdout_closed() -> int:
    """The reader of stdout went away: end quietly, as ``head``'s writer should.

    stdout now points at /dev/null, so the interpreter's last flush at exit
    cannot raise a second BrokenPipeError and print a traceback.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_PIPE_CLOSED


def emit(target: str | None, write: Callable[[BinaryIO], None]) -> int:
    """Run ``write`` on stdout (None or ``-``) or on a file written atomically; the exit code."""
    try:
        with destination(target) as out:
            write(out)
    except BrokenPipeError:
        if target in (None, "-"):
            return stdout_closed()
        raise
    except OSError as exc:
        raise UsageError(f"output {target}: cannot write it ({exc.strerror or exc}); check the "
                         "folder exists, is writable and has room") from exc
    return 0
