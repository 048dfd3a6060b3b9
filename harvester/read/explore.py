"""Datasette over the database: ``harvester datasette-metadata`` and ``harvester explore``.

``harvester datasette-metadata`` writes the metadata file Datasette 0.65 reads
(``datasette harvest.sqlite -m FILE``), made by ``datasette_metadata``.
``harvester explore`` serves the file with that metadata on 127.0.0.1 only,
through Datasette (the ``explore`` extra) in a child process; Datasette loads the
harvester's plugin (``datasette_plugin``) by its entry point.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from harvester.arguments import port
from harvester.errors import UsageError
from harvester.read.datasette_metadata import metadata
from harvester.settings.config import command_settings
from harvester.store.database import reading
from harvester.store.schema import SCHEMA_VERSION

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8001  # Datasette's own
NOT_INSTALLED = (
    "harvester explore needs Datasette: pip install 'harvester[explore]' "
    "(in a checkout: pip install -e '.[explore]')"
)


def require_views(path: Path) -> None:
    """Fail with one line unless ``path`` is a database at this harvester's schema version."""
    with reading(path, at_least=SCHEMA_VERSION):
        pass


def _database(args: argparse.Namespace) -> Path:
    path = Path(command_settings(args).sweep.db)
    require_views(path)
    return path


def _metadata_json(path: Path) -> bytes:
    return orjson.dumps(metadata(path.stem), option=orjson.OPT_INDENT_2) + b"\n"


def _write_metadata(args: argparse.Namespace) -> int:
    text = _metadata_json(_database(args))
    if args.output is None:
        sys.stdout.buffer.write(text)
        return 0
    try:
        args.output.write_bytes(text)
    except OSError as exc:
        raise UsageError(f"-o {args.output}: cannot write it ({exc.strerror})") from exc
    return 0


def _explore(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("datasette") is None:
        raise UsageError(NOT_INSTALLED)
    path = _database(args)
    _check_port(args.port)
    with tempfile.TemporaryDirectory(prefix="harvester-explore-") as folder:
        meta = Path(folder) / "metadata.json"
        meta.write_bytes(_metadata_json(path))
        sys.stdout.write(
            f"serving {path} with Datasette on http://{LOOPBACK}:{args.port}/ (Ctrl-C stops it)\n"
        )
        sys.stdout.flush()
        return _serve(
            [
                sys.executable,
                "-m",
                "datasette",
                "serve",
                str(path),
                "--metadata",
                str(meta),
                "--host",
                LOOPBACK,
                "--port",
                str(args.port),
            ]
        )


def _check_port(port: int) -> None:
    """One clear line for a port already taken, rather than Datasette's log and exit code."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((LOOPBACK, port))
        except OSError as exc:
            raise UsageError(
                f"--port {port}: cannot listen on {LOOPBACK}:{port} "
                f"({exc.strerror}); choose another port"
            ) from exc


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _end_with_parent(parent: int) -> None:
    """In the child, before exec: on Linux, a SIGTERM when its parent dies, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _serve(command: list[str]) -> int:
    """Run Datasette until it ends; a stop signal to us is passed on to it once.

    It runs in a session of its own, so Ctrl-C in the terminal reaches it only
    through us: exactly one stop request, whichever way ours came (SIGINT,
    SIGTERM, SIGHUP). On Linux it also ends if we are killed outright, so a
    server is never left listening on its own.
    """
    parent = os.getpid()
    child = subprocess.Popen(
        command, start_new_session=True, preexec_fn=lambda: _end_with_parent(parent)
    )
    stopped: list[int] = []

    def stop(signum: int, frame: object) -> None:
        stopped.append(signum)
        if child.poll() is None:
            child.send_signal(signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    names = ("SIGINT", "SIGTERM", "SIGHUP")
    handled = [getattr(signal, name) for name in names if hasattr(signal, name)]
    previous = {signum: signal.signal(signum, stop) for signum in handled}
    try:
        code = child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if child.poll() is None:
            child.kill()
            child.wait()
    if stopped and (code == 0 or -code in handled):
        return 0  # stopped as asked, as `harvester simulate` is
    return 128 - code if code < 0 else code


_METADATA_EXAMPLE = """\
examples:
  harvester datasette-metadata -o metadata.json
  datasette harvest.sqlite -m metadata.json -h 127.0.0.1
"""
_EXPLORE_EXAMPLE = """\
examples:
  harvester explore                      # http://127.0.0.1:8001/
  harvester explore --db shorts.sqlite --port 8080
"""


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``datasette-metadata`` and ``explore`` to ``commands``, with the ``common`` flags."""
    meta = commands.add_parser(
        "datasette-metadata",
        parents=[common],
        help="write Datasette metadata: descriptions, units, queries",
        description="Write Datasette metadata for the database: a description of every table, "
        "view and column (with units) and canned queries, keyed by the database file's name.",
        epilog=_METADATA_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    meta.add_argument("-o", "--output", type=Path, help="write here (default: stdout)")
    meta.set_defaults(run=_write_metadata)

    explore = commands.add_parser(
        "explore",
        parents=[common],
        help="serve the database with Datasette on 127.0.0.1",
        description="Serve the database with Datasette and its metadata, on "
        f"{LOOPBACK} only, until Ctrl-C. Needs pip install 'harvester[explore]'.",
        epilog=_EXPLORE_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    explore.add_argument(
        "--port",
        type=port,
        default=DEFAULT_PORT,
        help=f"port on {LOOPBACK} (default {DEFAULT_PORT})",
    )
    explore.set_defaults(run=_explore)
