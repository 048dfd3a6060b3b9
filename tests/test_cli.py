"""End to end: the CLI as a subprocess against the simulated gateway, database read back."""

from __future__ import annotations

import argparse
import json
import re
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harvester.settings.config import SECTIONS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

Run = Callable[..., subprocess.CompletedProcess[str]]
Write = Callable[[Path, str], Path]
Query = Callable[..., list[tuple[Any, ...]]]
ErrorLine = Callable[[subprocess.CompletedProcess[str]], str]


@pytest.fixture
def cli(tmp_path: Path, harvester: Run) -> Run:
    """``cli(*args, env=None)``: ``python -m harvester ARGS`` run in tmp_path, output captured."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return harvester(*args, cwd=tmp_path, env=env)

    return run


@pytest.fixture
def simulated(cli: Run, sweep_args: Callable[..., list[str]]) -> Run:
    """``simulated(config, symbols, db, *flags, env=None)``: ``harvester sweep --simulate``."""

    def run(
        config: Path, symbols: Path, db: Path, *flags: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return cli(*sweep_args(config, symbols, db, "--simulate", *flags), env=env)

    return run


@pytest.fixture
def fast(tmp_path: Path, write_file: Write, fast_toml: str) -> Path:
    """tests/data/fast.toml in tmp_path: quick sweeps against the simulated gateway."""
    return write_file(tmp_path / "fast.toml", fast_toml)


@pytest.mark.parametrize("command", [[], ["sweep"], ["status"], ["simulate"]])
def test_every_command_has_help(cli: Run, command: list[str]) -> None:
    result = cli(*command, "-h")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: harvester")


def test_version(cli: Run) -> None:
    result = cli("--version")
    assert re.fullmatch(r"harvester \d+\.\d+\.\d+\n", result.stdout)


def test_simulated_sweep_answers_the_documented_queries(
    tmp_path: Path, cli: Run, simulated: Run, fast: Path
) -> None:
    db = tmp_path / "h.sqlite"
    result = simulated(fast, ROOT / "symbols.txt", db, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "completed"
    assert summary["tasks"]["short_trades"] == {"ok": 102}
    assert summary["tasks"]["short_interest"] == {"ok": 102}
    assert summary["rows_written"] == 102 * 20 + 102 * 30
    database_page = (ROOT / "docs" / "database.md").read_text(encoding="utf-8")
    queries = re.findall(r"```sql\n(.*?)```", database_page, re.S)
    assert len(queries) >= 4
    with sqlite3.connect(db) as conn:
        answers = [conn.execute(sql).fetchall() for sql in queries]
    conn.close()
    # A gateway sweep fills no short positions (the OpenAPI's data set): those queries run empty.
    gateway_answers = [
        answer for sql, answer in zip(queries, answers, strict=True) if "short_positions" not in sql
    ]
    assert all(gateway_answers[:3]), "the first three documented queries return rows after a sweep"
    (by_endpoint,) = [
        answer
        for sql, answer in zip(queries, answers, strict=True)
        if "GROUP BY endpoint, status" in sql
    ]
    assert by_endpoint == [
        ("short_interest", "ok", 102, 102 * 30),
        ("short_trades", "ok", 102, 102 * 20),
    ]
    status = cli("status", "--db", str(db))
    assert status.returncode == 0
    assert summary["run_id"] in status.stdout and "completed" in status.stdout


def test_human_summary_and_progress_lines(
    tmp_path: Path,
    simulated: Run,
    write_file: Write,
    fast_toml: str,
    universe: Callable[..., Path],
) -> None:
    config = write_file(
        tmp_path / "fast.toml", fast_toml.replace("latency = 0.0", "latency = 0.05")
    )
    result = simulated(config, universe(40, "P"), tmp_path / "h.sqlite")
    assert result.returncode == 0, result.stderr
    assert re.search(r"run \S+: completed", result.stdout)
    assert re.search(r"short_trades\s+ok 40\s+failed 0", result.stdout)
    assert re.search(
        r"rows 2000 \(2000 new, 0 revised, 0 unchanged\), warnings 0, "
        r"requests 80 in [\d.]+s \([\d.]+ req/s\)",
        result.stdout,
    )
    assert "progress: " in result.stderr  # not a terminal: periodic log lines


def test_failed_tasks_exit_3(
    tmp_path: Path, simulated: Run, write_file: Write, fast_toml: str, query: Query
) -> None:
    script = 'scripted = { "DOWN.US" = ["internal_error", "*"] }\n'
    config = write_file(tmp_path / "c.toml", fast_toml + script)
    symbols = write_file(tmp_path / "s.txt", "AAPL.US\nDOWN.US\n")
    db = tmp_path / "h.sqlite"
    result = simulated(config, symbols, db)
    assert result.returncode == 3, result.stderr
    assert query(db, "SELECT status, attempts FROM tasks WHERE symbol = 'DOWN.US'") == [
        ("failed", 5),
        ("failed", 5),
    ]
    assert query(db, "SELECT status FROM runs") == [("completed",)]


def test_count_out_of_range_is_refused_at_start_up(
    tmp_path: Path, cli: Run, write_file: Write, error_line: ErrorLine
) -> None:
    config = write_file(tmp_path / "c.toml", "[endpoints.short_interest]\ncount = 91\n")
    line = error_line(cli("sweep", "--config", str(config), "--db", str(tmp_path / "h.sqlite")))
    assert "[endpoints.short_interest] count" in line and "1..90" in line
    assert not (tmp_path / "h.sqlite").exists()


@pytest.mark.parametrize(
    ("text", "env", "needle"),
    [
        ("[sweep]\nwokers = 3\n", {}, "unknown setting [sweep] wokers"),
        ("[sweep]\nworkers = 'many'\n", {}, "[sweep] workers"),
        ("[endpoints.short_trades]\nrate = 0\n", {}, "[endpoints.short_trades] rate"),
        ("[gateway]\nbase_url = 'localhost:8787'\n", {}, "[gateway] base_url"),
        ("[sweep\n", {}, "c.toml"),
        ("", {"HARVESTER_SWEEP_MAX_ATTEMPTS": "x"}, "HARVESTER_SWEEP_MAX_ATTEMPTS"),
    ],
)
def test_bad_settings_exit_2_with_one_line(
    tmp_path: Path,
    cli: Run,
    write_file: Write,
    error_line: ErrorLine,
    text: str,
    env: dict[str, str],
    needle: str,
) -> None:
    config = write_file(tmp_path / "c.toml", text)
    line = error_line(cli("sweep", "--config", str(config), env=env))
    assert needle in line
    if not env:
        assert "c.toml" in line


def test_missing_config_file_and_database_folder(
    tmp_path: Path,
    cli: Run,
    simulated: Run,
    fast: Path,
    write_file: Write,
    error_line: ErrorLine,
) -> None:
    line = error_line(cli("sweep", "--config", str(tmp_path / "nope.toml")))
    assert "nope.toml" in line
    symbols = write_file(tmp_path / "s.txt", "AAPL.US\n")
    line = error_line(simulated(fast, symbols, tmp_path / "no" / "h.sqlite"))
    assert "h.sqlite" in line
    line = error_line(cli("status", "--db", str(tmp_path / "none.sqlite")))
    assert "none.sqlite" in line


def test_token_appears_in_no_log_line_database_value_or_error(
    tmp_path: Path,
    simulated: Run,
    write_file: Write,
    fast_toml: str,
    query: Query,
    error_line: ErrorLine,
) -> None:
    secret = "s3cr3t-t0ken-5f1e"
    config = write_file(tmp_path / "c.toml", fast_toml + f'token = "{secret}"\n')
    symbols = write_file(tmp_path / "s.txt", "AAPL.US\n700.HK\n")
    db = tmp_path / "h.sqlite"
    good = simulated(config, symbols, db, "-v", env={"HARVESTER_TOKEN": secret})
    assert good.returncode == 0, good.stderr
    wrong = "wr0ng-t0ken-77aa"
    refused = simulated(config, symbols, db, "-v", env={"HARVESTER_TOKEN": wrong})
    line = error_line(refused)
    assert "credentials" in line and "HARVESTER_TOKEN" in line
    assert query(db, "SELECT status FROM runs ORDER BY started_at") == [
        ("completed",),
        ("interrupted",),
    ]
    for text in (good.stdout, good.stderr, refused.stdout, refused.stderr):
        assert secret not in text and wrong not in text
    for path in tmp_path.glob("h.sqlite*"):
        assert secret.encode() not in path.read_bytes() and wrong.encode() not in path.read_bytes()
    assert query(db, "SELECT COUNT(*) FROM tasks WHERE error_message LIKE ?", (f"%{secret}%",)) == [
        (0,)
    ]


def test_missing_and_empty_symbols_files(
    tmp_path: Path,
    simulated: Run,
    fast: Path,
    write_file: Write,
    query: Query,
    error_line: ErrorLine,
) -> None:
    db = tmp_path / "h.sqlite"
    line = error_line(simulated(fast, tmp_path / "gone.txt", db))
    assert "symbols file" in line and "gone.txt" in line
    # An empty universe is a broken file (a generator that failed), not a quiet night.
    for name, text, expected in (
        ("empty.txt", "", "it is empty or only comments"),
        ("comments.txt", "# nothing yet\n\n", "it is empty or only comments"),
        ("bare.txt", "AAPL\nMSFT\n", "line 1: not a symbol: 'AAPL'"),
    ):
        line = error_line(simulated(fast, write_file(tmp_path / name, text), db))
        assert name in line and "no valid symbol" in line and expected in line
    assert query(db, "SELECT COUNT(*) FROM runs") == [(0,)]  # no run was recorded


def test_malformed_lines_are_reported_or_strict(
    tmp_path: Path,
    simulated: Run,
    fast: Path,
    write_file: Write,
    query: Query,
    error_line: ErrorLine,
) -> None:
    symbols = write_file(tmp_path / "s.txt", "AAPL.US\n# fine\nNOT A SYMBOL\n700.HK\n")
    result = simulated(fast, symbols, tmp_path / "h.sqlite")
    assert result.returncode == 0, result.stderr
    # One warning a night, not one a line: the first is named, plan lists them all.
    assert re.search(
        r"s\.txt: 1 malformed lines skipped, the first line 3: not a symbol: 'NOT A SYMBOL'; "
        r"harvester plan lists them",
        result.stderr,
    )
    assert "1 malformed lines skipped" in result.stdout
    strict_db = tmp_path / "strict.sqlite"
    result = simulated(fast, symbols, strict_db, "--strict")
    assert "line 3" in error_line(result)
    assert query(strict_db, "SELECT COUNT(*) FROM runs") == [(0,)]


def test_simulate_command_serves_until_interrupted(gateway_process: Callable[..., Any]) -> None:
    with gateway_process(0) as gateway:
        with urllib.request.urlopen(
            gateway.url + "/v1/quote/HK.00700/short-selling/short-interest?count=2", timeout=5
        ) as answer:
            body = json.loads(answer.read())
        assert body["ret_code"] == 0 and len(body["data"]["items"]) == 2
    assert gateway.process.returncode == 0  # SIGINT: a clean exit


@pytest.mark.slow
def test_sigint_leaves_an_interrupted_run_that_resume_completes(
    tmp_path: Path,
    simulated: Run,
    write_file: Write,
    fast_toml: str,
    universe: Callable[..., Path],
    sweep_args: Callable[..., list[str]],
    start_sweep: Callable[..., subprocess.Popen[str]],
    query: Query,
) -> None:
    config = write_file(tmp_path / "slow.toml", fast_toml.replace("rate = 500.0", "rate = 25.0"))
    symbols = universe(100, "Q")
    db = tmp_path / "h.sqlite"
    process = start_sweep(sweep_args(config, symbols, db, "--simulate"), db=db, ok=20, cwd=tmp_path)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "interrupted" in out
    assert query(db, "SELECT status FROM runs") == [("interrupted",)]
    ok_before = query(db, "SELECT COUNT(*) FROM tasks WHERE status = 'ok'")[0][0]
    assert 20 <= ok_before < 200
    assert query(db, "PRAGMA integrity_check") == [("ok",)]

    resumed = simulated(config, symbols, db, "--resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["resumes"] == 1 and summary["status"] == "completed"
    assert summary["requests"] == 200 - ok_before  # only the unfinished tasks were fetched
    assert query(db, "SELECT status, resumes FROM runs") == [("completed", 1)]
    assert query(db, "SELECT status, COUNT(*) FROM tasks GROUP BY 1") == [("ok", 200)]


def test_readme_quick_start_matches_ci_and_the_docs_list_every_setting() -> None:
    block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert block
    main_job, tests = block.group(1).strip().splitlines()
    assert main_job.endswith("harvester sweep --simulate") and "pip install -e ." in main_job
    assert "pip install -e '.[test,explore]'" in tests
    assert tests.endswith('pytest -m "not slow"')  # and CI runs the slow ones after it:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "sed -n 2p" in ci and "\n.venv/bin/pytest -m slow\n" in ci
    settings_page = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    for specs in SECTIONS.values():
        for spec in specs:
            assert f"`{spec.key}`" in settings_page, spec.key
    operations_page = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for code in ("| 0 |", "| 2 |", "| 3 |", "| 130 |", "| 143 |"):
        assert code in operations_page


# The event loop ------------------------------------------------------------------------


def test_event_loop_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from harvester.cli import loop_factory
    from harvester.errors import ConfigError

    assert loop_factory("asyncio") is None
    factory = loop_factory("auto")
    if factory is not None:  # uvloop is installed here
        loop = factory()
        try:
            assert type(loop).__module__.startswith("uvloop")
        finally:
            loop.close()
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if it were not installed
    assert loop_factory("auto") is None
    with pytest.raises(ConfigError, match=r"event_loop: uvloop is not installed"):
        loop_factory("uvloop")
    with asyncio.Runner(loop_factory=loop_factory("auto")) as runner:
        assert runner.run(asyncio.sleep(0, 7)) == 7


def test_a_bad_event_loop_setting_is_one_line_and_exit_2(
    tmp_path: Path, cli: Run, write_file: Write
) -> None:
    config = write_file(tmp_path / "c.toml", '[sweep]\nevent_loop = "trio"\n')
    done = cli("sweep", "--config", str(config), "--db", str(tmp_path / "h.sqlite"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"harvester: error: {config}: [sweep] event_loop: must be one of auto, asyncio, uvloop "
        "(got 'trio')"
    ]
    assert not (tmp_path / "h.sqlite").exists()


# One way to register a command, one declaration per shared flag --------------------------


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    from harvester.cli import build_parser

    (commands,) = (
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    return dict(commands.choices)


def test_every_subcommand_sets_run_and_shares_the_common_flags() -> None:
    from harvester.cli import common_flags

    shared = {action.dest: action.help for action in common_flags()._actions}
    for name, parser in _subcommands().items():
        assert callable(parser.get_default("run")), name
        helps = {action.dest: action.help for action in parser._actions}
        if name == "simulate":  # its --config is the [simulate] table only, no default file
            assert "db" not in helps and helps["config"] != shared["config"]
            continue
        assert helps["config"] == shared["config"] and helps["db"] == shared["db"], name


def test_an_argument_named_like_a_setting_flag_is_that_flag() -> None:
    """``command_settings`` reads every ``FLAGS`` name the namespace holds: none may be another
    argument, and every flag is declared by some command."""
    from harvester.settings.config import FLAGS

    declared = set()
    for name, parser in _subcommands().items():
        for action in parser._actions:
            if action.dest in FLAGS:
                assert "--" + action.dest.replace("_", "-") in action.option_strings, name
                declared.add(action.dest)
    assert declared == set(FLAGS)
