"""The house's layers hold: import-linter's contract (pyproject.toml) passes on the package,
and fails on a copy of it given one forbidden import (the read side importing the sweep).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = [
    sys.executable,
    "-c",
    "import sys; from importlinter.cli import lint_imports_command; "
    "sys.exit(lint_imports_command())",
]


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports on the package in ``root``, with the contract of this checkout."""
    return subprocess.run(
        [*LINT, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_layers_of_the_package_hold() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.slow
def test_a_forbidden_import_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(
        ROOT / "harvester", tmp_path / "harvester", ignore=shutil.ignore_patterns("__pycache__")
    )
    status = tmp_path / "harvester" / "read" / "status.py"
    status.write_text(status.read_text() + "\nfrom harvester.sweep import run  # noqa\n")
    result = _lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "harvester.read is not allowed to import harvester.sweep" in result.stdout
    assert "harvester.read.status -> harvester.sweep.run" in result.stdout
