"""A database swept for real, shared by the tests that read data back (views, queries, check).

``swept_db`` runs ``harvester sweep --simulate`` once per test session, as a subprocess,
on a small mixed universe whose every task ends in a known way: US and HK symbols in
every accepted style, one ``no_data``, one ``unsupported``, one ``invalid`` and one that
fails on every attempt. Tests only read it; one that writes copies it first
(``copy_swept``).
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"

#: The universe, in the styles a user's own file has.
SWEPT_SYMBOLS = """\
# mixed styles on purpose
AAPL.US
US.MSFT
nvda.us
00700.HK
HK.09988
5.HK
NODATA.US
29999.HK
BADX.US
FAILS.US
"""
GOOD = ("AAPL.US", "MSFT.US", "NVDA.US", "700.HK", "9988.HK", "5.HK")
NO_DATA, UNSUPPORTED, INVALID, FAILING = "NODATA.US", "29999.HK", "BADX.US", "FAILS.US"

_SIMULATE = f"""\
no_data = ["{NO_DATA}"]
unsupported = ["{UNSUPPORTED}"]
invalid_symbol = ["{INVALID}"]
scripted = {{ "{FAILING}" = ["http_502_html", "*"] }}
"""


@dataclass(frozen=True)
class Swept:
    """The swept file, the sweep's settings and what the sweep printed."""

    db: Path
    config: Path
    symbols: Path
    result: subprocess.CompletedProcess[str]

    def rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Rows of a query, read with a connection of its own."""
        with closing(sqlite3.connect(self.db)) as db:
            return db.execute(sql, params).fetchall()


def sweep_into(folder: Path) -> Swept:
    """Sweep the mixed universe into ``folder/harvest.sqlite``; fails the test if it cannot."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "harvester.toml"
    config.write_text(
        (DATA / "fast.toml").read_text(encoding="utf-8") + _SIMULATE, encoding="utf-8"
    )
    symbols = folder / "symbols.txt"
    symbols.write_text(SWEPT_SYMBOLS, encoding="utf-8")
    db = folder / "harvest.sqlite"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "harvester",
            "sweep",
            "--simulate",
            "--config",
            str(config),
            "--symbols",
            str(symbols),
            "--db",
            str(db),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # 3: finished, and FAILS.US failed, as it must.
    assert result.returncode == 3, result.stderr[-2000:]
    return Swept(db, config, symbols, result)


@pytest.fixture(scope="session")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Swept:
    """The shared swept database: read it, never write it (see ``copy_swept``)."""
    return sweep_into(tmp_path_factory.mktemp("swept"))


@pytest.fixture
def copy_swept(swept: Swept, tmp_path: Path) -> Callable[[], Swept]:
    """``copy_swept()``: a private copy of the swept database, with its settings, in tmp_path."""

    def copy() -> Swept:
        folder = tmp_path / "swept"
        folder.mkdir()
        with (
            closing(sqlite3.connect(swept.db)) as source,
            closing(sqlite3.connect(folder / "harvest.sqlite")) as target,
        ):
            source.backup(target)  # a consistent copy, WAL included
        for name in ("harvester.toml", "symbols.txt"):
            shutil.copy(swept.db.parent / name, folder / name)
        return Swept(
            folder / "harvest.sqlite",
            folder / "harvester.toml",
            folder / "symbols.txt",
            swept.result,
        )

    return copy
