"""The simulated day is a flag and a variable; a ``--config`` file adds to the shipped one.

Every command runs as a process, on files in ``tmp_path`` and from there as the working
directory (so the repository's ``config/harvester.toml`` is not read unless a test writes
one there), and the database is read back. ``harvester simulate`` says where it listens
once, on stdout, and takes every symbol the harvester does.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]
Rows = list[tuple[Any, ...]]

FAST = "[sweep]\nbackoff_base = 0.0\n[simulate]\nlatency = 0.0\n"
SYMBOLS = "AAPL.US\n700.HK\n"
# What docs/settings.md promises for 2026-05-19 with schedules on: each pair's newest day.
NEWEST_ON_19 = {
    ("short_trades", "700.HK"): "2026-05-19",
    ("short_trades", "AAPL.US"): "2026-05-15",
    ("short_interest", "700.HK"): "2026-05-08",
    ("short_interest", "AAPL.US"): "2026-04-30",
}


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """``tmp_path`` with ``c.toml`` (fast, no faults) and ``s.txt`` (two symbols)."""
    (tmp_path / "c.toml").write_text(FAST, encoding="utf-8")
    (tmp_path / "s.txt").write_text(SYMBOLS, encoding="utf-8")
    return tmp_path


def sweep(
    harvester: Run, folder: Path, *extra: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """``harvester sweep --simulate`` on ``folder``'s files, from ``folder``."""
    args = ["--config", "c.toml", "--symbols", "s.txt", "--db", "h.sqlite", "-q", "--json"]
    return harvester("sweep", "--simulate", *args, *extra, cwd=folder, env=env)


def served(query: Callable[..., Rows], db: Path) -> str:
    """The served day the one run of ``db`` recorded."""
    [(day,)] = query(db, "SELECT served_day FROM runs")
    return str(day)


def newest(query: Callable[..., Rows], db: Path) -> dict[tuple[str, str], str]:
    """Each (table, symbol)'s newest stored day."""
    return {
        (table, symbol): day
        for table in ("short_trades", "short_interest")
        for symbol, day in query(db, f"SELECT symbol, MAX(trade_date) FROM {table} GROUP BY 1")
    }


# The day: --date, HARVESTER_SIMULATE_TODAY, [simulate] today --------------------------------


@pytest.mark.timeout(60)
def test_sweep_date_serves_that_day(
    harvester: Run, files: Path, query: Callable[..., Rows]
) -> None:
    done = sweep(harvester, files, "--date", "2026-05-19", HARVESTER_SIMULATE_SCHEDULES="true")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "completed"
    assert served(query, files / "h.sqlite") == "2026-05-19"
    assert newest(query, files / "h.sqlite") == NEWEST_ON_19


@pytest.mark.parametrize(
    ("extra", "env", "day"),
    [
        ((), {"HARVESTER_SIMULATE_TODAY": "2026-05-20"}, "2026-05-20"),
        (("--date", "2026-05-19"), {"HARVESTER_SIMULATE_TODAY": "2026-05-20"}, "2026-05-19"),
        ((), {}, "2026-05-18"),
    ],
    ids=["variable", "flag-over-variable", "default"],
)
@pytest.mark.timeout(60)
def test_the_variable_sets_the_day_and_the_flag_goes_over_it(
    harvester: Run,
    files: Path,
    query: Callable[..., Rows],
    extra: tuple[str, ...],
    env: dict[str, str],
    day: str,
) -> None:
    done = sweep(harvester, files, *extra, **env)
    assert done.returncode == 0, done.stderr
    assert served(query, files / "h.sqlite") == day


@pytest.mark.timeout(60)
def test_backfill_takes_the_date_too(
    harvester: Run, files: Path, query: Callable[..., Rows]
) -> None:
    args = ["--config", "c.toml", "--symbols", "s.txt", "--db", "h.sqlite", "-q"]
    done = harvester(
        "backfill",
        "--since",
        "2026-05-01",
        "--simulate",
        "--date",
        "2026-05-19",
        *args,
        cwd=files,
        env={"HARVESTER_GATEWAY_API": "openapi"},
    )
    assert done.returncode == 0, done.stderr
    assert served(query, files / "h.sqlite") == "2026-05-19"
    [(day,)] = query(files / "h.sqlite", "SELECT MAX(trade_date) FROM short_trades")
    assert day == "2026-05-19"


# One line for each mistake ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (
            ("sweep", "--date", "2026-05-19"),
            {},
            "harvester: error: --date sets the simulated gateway's day: it needs --simulate",
        ),
        (
            ("backfill", "--since", "2026-05-01", "--date", "2026-05-19"),
            {"HARVESTER_GATEWAY_API": "openapi"},
            "harvester: error: --date sets the simulated gateway's day: it needs --simulate",
        ),
        (
            ("sweep", "--simulate", "--date", "2026-13-01"),
            {},
            "harvester: error: argument --date: simulate: today must be a date like "
            "2026-05-18, got '2026-13-01'",
        ),
        (
            ("sweep", "--simulate"),
            {"HARVESTER_SIMULATE_TODAY": "soon"},
            "harvester: error: environment HARVESTER_SIMULATE_TODAY: today must be a date "
            "like 2026-05-18, got 'soon'",
        ),
        (
            ("sweep", "--simulate"),
            {"HARVESTER_SIMULATE_SCHEDULE": "true"},
            "harvester: error: environment HARVESTER_SIMULATE_SCHEDULE: unknown setting "
            "variable; did you mean HARVESTER_SIMULATE_SCHEDULES?",
        ),
    ],
    ids=["sweep-without-simulate", "backfill-without-simulate", "bad-date", "bad-var", "typo"],
)
@pytest.mark.timeout(60)
def test_a_mistake_is_one_line_and_exit_2(
    harvester: Run, files: Path, args: tuple[str, ...], env: dict[str, str], line: str
) -> None:
    common = ["--config", "c.toml", "--symbols", "s.txt", "--db", "h.sqlite", "-q"]
    done = harvester(*args, *common, cwd=files, env=env)
    assert done.returncode == 2
    assert done.stderr == line + "\n"
    assert done.stdout == ""
    assert not (files / "h.sqlite").exists()  # refused before the file is opened


# --config adds to config/harvester.toml --------------------------------------------------


@pytest.mark.timeout(60)
def test_a_config_file_adds_to_the_shipped_one(
    harvester: Run, files: Path, query: Callable[..., Rows]
) -> None:
    (files / "config").mkdir()
    shipped = '[sweep]\ndb = "shipped.sqlite"\nbackoff_base = 0.0\n[simulate]\nerror_rate = 1.0\n'
    (files / "config" / "harvester.toml").write_text(shipped, encoding="utf-8")
    day = '[simulate]\nlatency = 0.0\ntoday = "2026-05-19"\n'
    (files / "day.toml").write_text(day, encoding="utf-8")
    done = harvester(
        "sweep", "--simulate", "--config", "day.toml", "--symbols", "s.txt", "--json", cwd=files
    )
    assert done.returncode == 0, done.stderr
    # The database the shipped file names, the day the named file's scenario serves, and
    # none of the shipped scenario's faults: the named file's [simulate] table is the one.
    assert served(query, files / "shipped.sqlite") == "2026-05-19"
    assert json.loads(done.stdout)["requests"] == 4


# harvester simulate ---------------------------------------------------------------------


@pytest.fixture
def simulate_process(
    clean_env: Callable[..., dict[str, str]], first_line: Callable[..., str]
) -> Iterator[Callable[..., tuple[str, subprocess.Popen[str]]]]:
    """``start(*flags, **env)``: ``harvester simulate --port 0`` started; its first stdout line."""
    started: list[subprocess.Popen[str]] = []

    def start(*flags: str, **env: str) -> tuple[str, subprocess.Popen[str]]:
        process = subprocess.Popen(
            [sys.executable, "-m", "harvester", "simulate", "--port", "0", *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(**env),
        )
        started.append(process)
        return first_line(process), process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


@pytest.mark.timeout(60)
def test_simulate_says_where_it_listens_once(
    simulate_process: Callable[..., tuple[str, subprocess.Popen[str]]],
) -> None:
    line, process = simulate_process()
    assert line.startswith("simulated gateway listening on http://127.0.0.1:")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=10)
    assert "listening" not in out + err


@pytest.mark.timeout(60)
def test_simulate_takes_a_symbol_the_harvester_takes(
    gateway_process: Callable[..., AbstractContextManager[Any]],
) -> None:
    with gateway_process(0, "--no-data", "NODATAX.US") as gateway:
        url = f"{gateway.url}/v1/quote/NODATAX.US/short-selling/short-trades?count=5"
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert json.load(answer)["code"] == -10


@pytest.mark.timeout(60)
def test_simulate_without_a_config_takes_the_variables(
    simulate_process: Callable[..., tuple[str, subprocess.Popen[str]]],
    harvester: Run,
) -> None:
    line, process = simulate_process(HARVESTER_SIMULATE_TODAY="2026-05-20")
    url = line.removeprefix("simulated gateway listening on ").strip()
    with urllib.request.urlopen(f"{url}/_sim/today", timeout=10) as answer:
        assert json.load(answer)["today"] == "2026-05-20"
    process.send_signal(signal.SIGINT)
    bad = harvester("simulate", "--port", "0", env={"HARVESTER_SIMULATE_TODAY": "soon"})
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "harvester: error: environment HARVESTER_SIMULATE_TODAY: today must be a date like "
        "2026-05-18, got 'soon'"
    ]
