"""Rows out to a person or a program: an aligned table, CSV, a JSON array or JSON lines.

Every writer takes the column names and the rows in chunks (lists of tuples, as
``cursor.fetchmany`` gives them) and writes bytes as it goes, so a million rows
cost the memory of one chunk; only the table, which must know its widths,
holds its rows. Values go out as SQLite gave them: NULL is an empty CSV field,
``null`` in JSON and ``-`` in a table, whose long text cells wrap to fit the terminal.
``destination`` is stdout, a FIFO or a device written directly, or a regular file
written atomically; ``stdout_closed`` is what a command does when the reader of its
pipe went away (``harvester export t | head``). While a file is written atomically, SIGTERM and
SIGHUP raise ``Stopped``, as SIGINT raises KeyboardInterrupt, so its temporary
file is removed; ``emit`` turns it into the signal's exit code (143, 129).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import signal
import stat
import sys
import tempfile
import textwrap
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, cast

import orjson

from harvester.errors import UsageError
from harvester.exits import Exit

FORMATS = ("table", "csv", "json", "jsonl")
#: A table's width when ``$COLUMNS`` is unset and stdout is no terminal (a file, a pipe).
TABLE_WIDTH = 120
#: Text cells this wide or narrower are never wrapped: dates, times, run ids, symbols.
WRAP_ABOVE = 30
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # SIGINT raises KeyboardInterrupt already
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


def table_width() -> int:
    """The width a table fits in: ``$COLUMNS``, else the terminal's, else ``TABLE_WIDTH``."""
    return shutil.get_terminal_size((TABLE_WIDTH, 24)).columns


def _fitted(widths: list[int], text: Sequence[bool], width: int | None) -> list[int]:
    """Column widths within ``width``, narrowing only text columns wider than ``WRAP_ABOVE``.

    The widest are narrowed first, to one width, and none below ``WRAP_ABOVE``: a date,
    a time, a run id or a symbol is never wrapped, and a table of nothing else keeps its
    width however narrow the terminal.
    """
    excess = sum(widths) + 2 * (len(widths) - 1) - (width or 0)
    wide = [w for w, is_text in zip(widths, text, strict=True) if is_text and w > WRAP_ABOVE]
    if width is None or excess <= 0 or not wide:
        return widths
    cap = max(wide)
    while cap > WRAP_ABOVE and sum(max(0, w - cap) for w in wide) < excess:
        cap -= 1
    return [min(w, cap) if is_text else w for w, is_text in zip(widths, text, strict=True)]


def _pieces(cell: str, width: int) -> list[str]:
    """A cell's lines in a column ``width`` wide: wrapped at spaces, a long word cut."""
    if len(cell) <= width:
        return [cell]
    return textwrap.wrap(cell, width, break_on_hyphens=False) or [""]


def table_text(columns: Sequence[str], rows: Sequence[Row], *, width: int | None = None) -> str:
    """An aligned table: a header, a rule, numbers right-aligned, NULL as ``-``.

    Within ``width`` (None: any width) long text cells, error messages above all, are
    wrapped onto lines of their own under their column, never cut: the table holds every
    character a CSV would.
    """
    cells = [[_cell(value) for value in row] for row in rows]
    numeric = [
        all(isinstance(row[i], int | float) or row[i] is None for row in rows)
        for i in range(len(columns))
    ]
    natural = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(columns)]
    widths = _fitted(natural, [not right for right in numeric], width)

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ).rstrip()

    def lines(row: Sequence[str]) -> list[str]:
        pieces = [_pieces(cell, width) for cell, width in zip(row, widths, strict=True)]
        depth = max(map(len, pieces))
        return [line([p[n] if n < len(p) else "" for p in pieces]) for n in range(depth)]

    out = [line(columns), line(["-" * width for width in widths])]
    for row in cells:
        out += lines(row)
    return "\n".join(out) + "\n"


def write_rows(out: BinaryIO, fmt: str, columns: Sequence[str], chunks: Chunks) -> None:
    """Write the rows in ``fmt`` (one of FORMATS); a table fits ``table_width()``."""
    if fmt == "table":
        rows = [row for chunk in chunks for row in chunk]
        out.write(table_text(columns, rows, width=table_width()).encode())
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


class Stopped(BaseException):
    """SIGTERM or SIGHUP arrived while a file was written atomically.

    A BaseException, as KeyboardInterrupt is, so that no ``except Exception`` on
    the way swallows it; its exit code is the shell's for the signal (128 + n).
    """

    def __init__(self, signum: int) -> None:
        self.signum = signal.Signals(signum)
        super().__init__(self.signum.name)

    @property
    def exit_code(self) -> Exit:
        """``Exit.SIGTERM`` (143) or ``Exit.SIGHUP`` (129)."""
        return Exit.for_signal(self.signum)


def _raise_stopped(signum: int, frame: object) -> None:
    raise Stopped(signum)


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """Inside, SIGTERM and SIGHUP raise Stopped; the previous handlers come back after.

    A signal ignored on entry (``nohup``) stays ignored. Python sets handlers only in
    the main thread; elsewhere nothing changes.
    """
    previous: dict[signal.Signals, Any] = {}
    try:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                if signal.getsignal(signum) is not signal.SIG_IGN:
                    previous[signum] = signal.signal(signum, _raise_stopped)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def _temporary(real: Path) -> tuple[Any, set[signal.Signals]]:
    """A temporary file beside ``real``, made with SIGINT, SIGTERM and SIGHUP held back.

    Returns it and the signal mask to restore, which the caller restores inside the
    ``try`` that removes the file: a signal that came meanwhile is raised there, so
    no instant exists in which the file is made but nobody would remove it.
    """
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, (signal.SIGINT, *STOP_SIGNALS))
    try:
        return tempfile.NamedTemporaryFile(
            dir=real.parent, prefix=f".{real.name}.", suffix=".tmp", delete=False
        ), mask
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        raise


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A file that appears under ``path`` whole, or not at all.

    The rows go to a temporary file in the folder of the file ``path`` names,
    renamed over that file once everything is written and on disk. A symlink is
    kept and its target replaced; a dangling one gets the file it points to
    created. Any failure, Ctrl-C, SIGTERM and SIGHUP included, removes the
    temporary file and leaves whatever was there before.
    """
    real = Path(os.path.realpath(path))
    with _signals_raise():
        handle, mask = _temporary(real)
        temp = Path(handle.name)
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            with handle:
                yield cast(BinaryIO, handle)
                handle.flush()
                os.fsync(handle.fileno())
            # A temporary file is private (0600); the export gets a new file's usual mode.
            temp.chmod(0o666 & ~_umask())
            temp.replace(real)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise


def _open_special(path: Path) -> BinaryIO | None:
    """``path`` opened for writing when it is a FIFO, a device or ``/dev/stdout``; else None.

    Such a file is written where it is: renaming a regular file over it would put
    an ordinary file in its place (``-o /dev/null`` as root replaced /dev/null).
    Opened without O_CREAT and O_TRUNC, and looked at again once open, so a regular
    file that took its place meanwhile is neither created nor cut short here.
    """
    try:
        if stat.S_ISREG(os.stat(path).st_mode):
            return None
    except FileNotFoundError:
        return None  # a new file, or a dangling symlink: atomic_file creates it
    fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
    if stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return open(fd, "wb")


@contextlib.contextmanager
def destination(target: str | None) -> Iterator[BinaryIO]:
    """stdout for None or ``-``; a FIFO or a device written directly; else ``atomic_file``."""
    if target is None or target == "-":
        out = sys.stdout.buffer
        yield out
        out.flush()
        return
    special = _open_special(Path(target))
    if special is not None:
        with special:
            yield special
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
    return Exit.PIPE_CLOSED


def emit(target: str | None, write: Callable[[BinaryIO], None]) -> int:
    """Run ``write`` on stdout (None or ``-``) or on ``destination(target)``; the exit code."""
    to_stdout = target in (None, "-")
    try:
        with destination(target) as out:
            write(out)
    except BrokenPipeError:
        # The reader of stdout, or of a FIFO named by -o, went away, as head's does.
        return stdout_closed() if to_stdout else Exit.PIPE_CLOSED
    except OSError as exc:
        name, hint = (
            ("stdout", "")
            if to_stdout
            else (target, "; check the folder exists, is writable and has room")
        )
        raise UsageError(f"output {name}: cannot write it ({exc.strerror or exc}){hint}") from exc
    except Stopped as stop:
        # True even when the signal came just after the rename: the file is old or whole.
        sys.stderr.write(
            f"harvester: stopped by {stop.signum.name}; no partial file left at {target}\n"
        )
        return stop.exit_code
    return 0
