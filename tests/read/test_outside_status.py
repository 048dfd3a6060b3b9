"""From outside: ``status`` reads a copy of the database that its user cannot write.

A read-only file in a read-only folder, read by root and by uid 65534 (nobody); the file is
left untouched and the listing is the same as on the original. A sweep and two or three
processes a test: slow tests (CI's slow job runs them); tests/store/test_store_reads.py
reads the status of a file in process and checks that it is left untouched.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

NOBODY = 65534

Run = Callable[..., subprocess.CompletedProcess[str]]
Write = Callable[[Path, str], Path]
Env = Callable[..., dict[str, str]]


@pytest.fixture
def finished_db(
    tmp_path: Path,
    run: Run,
    write_file: Write,
    fast_toml: str,
    sweep_args: Callable[..., list[str]],
) -> tuple[Path, str]:
    """A database left by a completed sweep (the sweep has ended); and its run id."""
    config = write_file(tmp_path / "fast.toml", fast_toml)
    symbols = write_file(tmp_path / "s.txt", "AAPL.US\n700.HK\n")
    db = tmp_path / "h.sqlite"
    result = run(*sweep_args(config, symbols, db, "--simulate", "--json"))
    assert result.returncode == 0, result.stderr
    return db, json.loads(result.stdout)["run_id"]


@contextlib.contextmanager
def read_only_copy(db: Path, parent: Path) -> Iterator[Path]:
    """Only the .sqlite file, copied into a folder: the file 0444, the folder 0555."""
    folder = parent / "ro"
    folder.mkdir()
    copy = folder / "copy.sqlite"
    shutil.copyfile(db, copy)
    copy.chmod(0o444)
    folder.chmod(0o555)
    try:
        yield copy
    finally:
        folder.chmod(0o755)


def assert_status_lists(
    text: subprocess.CompletedProcess[str], as_json: subprocess.CompletedProcess[str], run_id: str
) -> None:
    assert text.returncode == 0, text.stderr
    assert run_id in text.stdout and "completed" in text.stdout
    # The newest stored day of each market and data set closes the text.
    last = text.stdout.splitlines()[-1]
    assert last.startswith("newest stored day: US short_trades 20"), text.stdout
    assert "US short_interest 20" in last
    assert as_json.returncode == 0, as_json.stderr
    [run] = json.loads(as_json.stdout)
    assert run["run_id"] == run_id and run["status"] == "completed"
    assert run["tasks"] == {"short_interest": {"ok": 2}, "short_trades": {"ok": 2}}


def test_status_reads_a_read_only_copy_and_leaves_it_untouched(
    tmp_path: Path, run: Run, finished_db: tuple[Path, str]
) -> None:
    db, run_id = finished_db
    with read_only_copy(db, tmp_path) as copy:
        before = copy.read_bytes()
        text = run("status", "--db", str(copy))
        as_json = run("status", "--db", str(copy), "--json")
        assert copy.read_bytes() == before
        # Who can write the folder (root here) gets SQLite's -shm and an empty -wal beside
        # it, as any WAL reader does; nothing is written into the database.
        beside = {path.name: path.stat().st_size for path in copy.parent.iterdir()}
        assert set(beside) <= {"copy.sqlite", "copy.sqlite-shm", "copy.sqlite-wal"}, beside
        assert beside.get("copy.sqlite-wal", 0) == 0
    assert_status_lists(text, as_json, run_id)


PROBE = """
import sys, harvester
try:
    open(sys.argv[1], "x")
except PermissionError:
    print("shut")
"""


def _interpreter_for_nobody(
    probe_file: Path, cwd: Path, nobody: dict[str, Any], clean_env: Env
) -> tuple[str, dict[str, str]]:
    """A Python that uid 65534 can start and import harvester with, and its environment.

    The venv's interpreter may sit under a folder only root can enter (/root/.pyenv);
    the system's Python of the same version then runs with the venv's packages.
    """
    here = Path(__file__).resolve().parents[2]  # the checkout, above tests/read
    packages = os.pathsep.join([*site.getsitepackages(), str(here)])
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [
        (sys.executable, clean_env()),
        (f"/usr/bin/{version}", clean_env(PYTHONPATH=packages)),
        (f"/usr/local/bin/{version}", clean_env(PYTHONPATH=packages)),
    ]
    tried = []
    for python, env in candidates:
        try:
            probe = subprocess.run(
                [python, "-c", PROBE, str(probe_file)],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
                **nobody,
            )
        except OSError as exc:
            tried.append(f"{python}: {exc.strerror}")
            continue
        if probe.returncode == 0:
            assert probe.stdout == "shut\n", "uid 65534 can write the folder: no proof"
            return python, env
        tried.append(f"{python}: {probe.stderr.strip().splitlines()[-1:]}")
    pytest.skip(f"uid {NOBODY} can start no Python with harvester: {'; '.join(tried)}")


def test_status_reads_a_copy_its_user_cannot_write(
    finished_db: tuple[Path, str], clean_env: Env
) -> None:
    if os.geteuid() != 0:
        pytest.skip("not root: the file modes bind this user in the test above")
    db, run_id = finished_db
    nobody: dict[str, Any] = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
    # tmp_path's parents are private to root: the copy goes where uid 65534 can look.
    parent = Path(tempfile.mkdtemp(prefix="harvester-outside-"))
    try:
        parent.chmod(0o755)
        with read_only_copy(db, parent) as copy:
            python, env = _interpreter_for_nobody(copy.parent / "probe", parent, nobody, clean_env)
            run = functools.partial(
                subprocess.run,
                cwd=parent,
                capture_output=True,
                text=True,
                timeout=60,
                env=env,
                check=False,
                **nobody,
            )
            text = run([python, "-m", "harvester", "status", "--db", str(copy)])
            as_json = run([python, "-m", "harvester", "status", "--db", str(copy), "--json"])
            assert [path.name for path in copy.parent.iterdir()] == ["copy.sqlite"]
        assert_status_lists(text, as_json, run_id)
    finally:
        shutil.rmtree(parent)
