"""What the read commands share: the file they name, safe names in SQL, their parsers' shape.

``show``, ``latest``, ``export`` and ``changes`` each open the file named by ``--db`` (or
the settings) read-only, quote only names first found in the file itself, and build their
subparser the same way: a summary, examples, and the exit codes of ``harvester.exits``
(``READ``).
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harvester.catalog import ENDPOINTS
from harvester.exits import READ, help_text
from harvester.model import SUPPORTED_MARKETS
from harvester.settings.config import command_settings
from harvester.store.database import added_in

ENDPOINT_NAMES = tuple(endpoint.name for endpoint in ENDPOINTS)
ALL = "all"


def quote(name: str) -> str:
    """An SQL identifier, quoted; only ever applied to names read from the file or the code."""
    return '"' + name.replace('"', '""') + '"'


def columns_of(db: sqlite3.Connection, name: str) -> list[str]:
    """The column names of a table or view, in order; empty when there is no such thing."""
    return [row[0] for row in db.execute("SELECT name FROM pragma_table_info(?)", (name,))]


def db_path(args: argparse.Namespace) -> Path:
    """The database file a command reads: ``--db``, else the settings' ``[sweep] db``."""
    return Path(command_settings(args).sweep.db)


def one_of(names: Sequence[str]) -> str:
    """``a, b or c``."""
    return f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]


def endpoints_in(db: sqlite3.Connection, chosen: str) -> tuple[str, ...]:
    """The endpoints a flag names; ``all``: every one whose table the file has."""
    if chosen != ALL:
        return (chosen,)
    version = db.execute("PRAGMA user_version").fetchone()[0]
    return tuple(name for name in ENDPOINT_NAMES if added_in(name) <= version)


def add_market(parser: argparse.ArgumentParser, what: str) -> None:
    """``--market US|HK``, in any case; ``what`` says what it narrows to."""
    parser.add_argument("--market", type=str.upper, choices=SUPPORTED_MARKETS, help=what)


def add_format(parser: argparse.ArgumentParser, formats: Sequence[str], default: str) -> None:
    """``--format``, one of ``formats``."""
    parser.add_argument(
        "--format", choices=formats, default=default, help=f"output format (default {default})"
    )


def command_parser(
    commands: Any, common: argparse.ArgumentParser, name: str, summary: str, examples: str
) -> Any:
    """A read command's subparser: ``summary`` as its description, examples and exit codes."""
    return commands.add_parser(
        name,
        parents=[common],
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog="examples:\n" + examples + "\nexit codes:\n" + help_text(READ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
