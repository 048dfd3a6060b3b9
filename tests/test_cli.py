"""End to end: the CLI as a subprocess against the simulated gateway, database read back."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import query

from harvester.config import SECTIONS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

FAST = """
[sweep]
backoff_base = 0.0
log_interval = 0.2
[endpoints.short_trades]
rate = 500.0
concurrency = 8
[endpoints.short_interest]
rate = 500.0
concurrency = 8
[simulate]
latency = 0.0
"""


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``python -m harvester ARGS`` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "harvester", *args], cwd=cwd, capture_output=True, text=True,
        timeout=timeout, env={**os.environ, **(env or {})},
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The error line of a failed command, checking it is one line and no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", [[], ["sweep"], ["status"], ["simulate"]])
def test_every_command_has_help(tmp_path: Path, command: list[str]) -> None:
    result = cli(*command, "-h", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: harvester")


def test_version(tmp_path: Path) -> None:
    result = cli("--version", cwd=tmp_path)
    assert re.fullmatch(r"harvester \d+\.\d+\.\d+\n", result.stdout)


def test_simulated_sweep_answers_the_readme_queries(tmp_path: Path) -> None:
    config = write(tmp_path / "fast.toml", FAST)
    db = tmp_path / "h.sqlite"
    result = cli("sweep", "--simulate", "--config", str(config), "--symbols",
                 str(ROOT / "symbols.txt"), "--db", str(db), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "completed"
    assert summary["tasks"]["short_trades"] == {"ok": 102}
    assert summary["tasks"]["short_interest"] == {"ok": 102}
    assert summary["rows"] == 102 * 20 + 102 * 30
    queries = re.findall(r"```sql\n(.*?)```", README, re.S)
    assert len(queries) >= 4
    with sqlite3.connect(db) as conn:
        answers = [conn.execute(sql).fetchall() for sql in queries]
    assert all(answers[:3]), "the first three README queries return rows after a sweep"
    assert answers[2] == [
        ("short_interest", "ok", 102, 102 * 30), ("short_trades", "ok", 102, 102 * 20)]
    status = cli("status", "--db", str(db), cwd=tmp_path)
    assert status.returncode == 0
    assert summary["run_id"] in status.stdout and "completed" in status.stdout


def test_human_summary_and_progress_lines(tmp_path: Path) -> None:
    config = write(tmp_path / "fast.toml", FAST.replace("latency = 0.0", "latency = 0.05"))
    symbols = write(tmp_path / "s.txt", "".join(f"P{i}.US\n" for i in range(40)))
    result = cli("sweep", "--simulate", "--config", str(config), "--symbols", str(symbols),
                 "--db", str(tmp_path / "h.sqlite"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"run \S+: completed", result.stdout)
    assert re.search(r"short_trades\s+ok 40\s+failed 0", result.stdout)
    assert re.search(r"rows written 2000, warnings 0, requests 80 in [\d.]+s \([\d.]+ req/s\)",
                     result.stdout)
    assert "progress: " in result.stderr  # not a terminal: periodic log lines


def test_failed_tasks_exit_3(tmp_path: Path) -> None:
    script = 'scripted = { "DOWN.US" = ["internal_error", "*"] }\n'
    config = write(tmp_path / "c.toml", FAST + script)
    symbols = write(tmp_path / "s.txt", "AAPL.US\nDOWN.US\n")
    db = tmp_path / "h.sqlite"
    result = cli("sweep", "--simulate", "--config", str(config), "--symbols", str(symbols),
                 "--db", str(db), cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert query(db, "SELECT status, attempts FROM tasks WHERE symbol = 'DOWN.US'") == [
        ("failed", 5), ("failed", 5)]
    assert query(db, "SELECT status FROM runs") == [("completed",)]


def test_count_out_of_range_is_refused_at_start_up(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "[endpoints.short_interest]\ncount = 91\n")
    result = cli("sweep", "--config", str(config), "--db", str(tmp_path / "h.sqlite"),
                 cwd=tmp_path)
    line = one_line_error(result)
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
    tmp_path: Path, text: str, env: dict[str, str], needle: str
) -> None:
    config = write(tmp_path / "c.toml", text)
    line = one_line_error(cli("sweep", "--config", str(config), cwd=tmp_path, env=env))
    assert needle in line
    if not env:
        assert "c.toml" in line


def test_missing_config_file_and_database_folder(tmp_path: Path) -> None:
    line = one_line_error(cli("sweep", "--config", str(tmp_path / "nope.toml"), cwd=tmp_path))
    assert "nope.toml" in line
    config = write(tmp_path / "fast.toml", FAST)
    symbols = write(tmp_path / "s.txt", "AAPL.US\n")
    line = one_line_error(cli("sweep", "--simulate", "--config", str(config), "--symbols",
                              str(symbols), "--db", str(tmp_path / "no" / "h.sqlite"),
                              cwd=tmp_path))
    assert "h.sqlite" in line
    line = one_line_error(cli("status", "--db", str(tmp_path / "none.sqlite"), cwd=tmp_path))
    assert "none.sqlite" in line


def test_token_appears_in_no_log_line_database_value_or_error(tmp_path: Path) -> None:
    secret = "s3cr3t-t0ken-5f1e"
    config = write(tmp_path / "c.toml", FAST + f'token = "{secret}"\n')
    symbols = write(tmp_path / "s.txt", "AAPL.US\n700.HK\n")
    db = tmp_path / "h.sqlite"
    good = cli("sweep", "--simulate", "-v", "--config", str(config), "--symbols", str(symbols),
               "--db", str(db), cwd=tmp_path, env={"HARVESTER_TOKEN": secret})
    assert good.returncode == 0, good.stderr
    wrong = "wr0ng-t0ken-77aa"
    refused = cli("sweep", "--simulate", "-v", "--config", str(config), "--symbols",
                  str(symbols), "--db", str(db), cwd=tmp_path, env={"HARVESTER_TOKEN": wrong})
    line = one_line_error(refused)
    assert "credentials" in line and "HARVESTER_TOKEN" in line
    assert query(db, "SELECT status FROM runs ORDER BY started_at") == [
        ("completed",), ("interrupted",)]
    for text in (good.stdout, good.stderr, refused.stdout, refused.stderr):
        assert secret not in text and wrong not in text
    for path in tmp_path.glob("h.sqlite*"):
        assert secret.encode() not in path.read_bytes() and wrong.encode() not in path.read_bytes()
    assert query(db, "SELECT COUNT(*) FROM tasks WHERE error_message LIKE ?", (f"%{secret}%",)) \
        == [(0,)]


def test_missing_and_empty_symbols_files(tmp_path: Path) -> None:
    config = write(tmp_path / "fast.toml", FAST)
    line = one_line_error(cli("sweep", "--simulate", "--config", str(config), "--symbols",
                              str(tmp_path / "gone.txt"), "--db", str(tmp_path / "h.sqlite"),
                              cwd=tmp_path))
    assert "symbols file" in line and "gone.txt" in line
    db = tmp_path / "h.sqlite"
    # An empty universe is a broken file (a generator that failed), not a quiet night.
    for name, text, expected in (
        ("empty.txt", "", "it is empty or only comments"),
        ("comments.txt", "# nothing yet\n\n", "it is empty or only comments"),
        ("bare.txt", "AAPL\nMSFT\n", "line 1: not a symbol: 'AAPL'"),
    ):
        result = cli("sweep", "--simulate", "--config", str(config), "--symbols",
                     str(write(tmp_path / name, text)), "--db", str(db), cwd=tmp_path)
        line = one_line_error(result)
        assert name in line and "no valid symbol" in line and expected in line
    assert query(db, "SELECT COUNT(*) FROM runs") == [(0,)]  # no run was recorded


def test_malformed_lines_are_reported_or_strict(tmp_path: Path) -> None:
    config = write(tmp_path / "fast.toml", FAST)
    symbols = write(tmp_path / "s.txt", "AAPL.US\n# fine\nNOT A SYMBOL\n700.HK\n")
    db = tmp_path / "h.sqlite"
    result = cli("sweep", "--simulate", "--config", str(config), "--symbols", str(symbols),
                 "--db", str(db), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"s\.txt line 3: not a symbol: 'NOT A SYMBOL'; skipped", result.stderr)
    assert "1 malformed lines skipped" in result.stdout
    strict_db = tmp_path / "strict.sqlite"
    result = cli("sweep", "--simulate", "--strict", "--config", str(config), "--symbols",
                 str(symbols), "--db", str(strict_db), cwd=tmp_path)
    assert "line 3" in one_line_error(result)
    assert query(strict_db, "SELECT COUNT(*) FROM runs") == [(0,)]


def test_simulate_command_serves_until_interrupted(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "harvester", "simulate", "--port", "0"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url, line
        with urllib.request.urlopen(
            url.group(0) + "/v1/quote/HK.00700/short-selling/short-interest?count=2", timeout=5
        ) as answer:
            body = json.loads(answer.read())
        assert body["ret_code"] == 0 and len(body["data"]["items"]) == 2
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    assert process.returncode == 0


@pytest.mark.slow
def test_sigint_leaves_an_interrupted_run_that_resume_completes(tmp_path: Path) -> None:
    config = write(tmp_path / "slow.toml", FAST.replace("rate = 500.0", "rate = 25.0"))
    symbols = write(tmp_path / "s.txt", "".join(f"Q{i}.US\n" for i in range(100)))
    db = tmp_path / "h.sqlite"
    args = [sys.executable, "-m", "harvester", "sweep", "--simulate", "--config", str(config),
            "--symbols", str(symbols), "--db", str(db)]
    process = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    done = 0
    while time.monotonic() < deadline and done < 20:
        time.sleep(0.1)
        if db.exists():
            with contextlib.suppress(sqlite3.OperationalError):  # schema not there yet
                done = query(db, "SELECT COUNT(*) FROM tasks WHERE status = 'ok'")[0][0]
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "interrupted" in out
    assert query(db, "SELECT status FROM runs") == [("interrupted",)]
    ok_before = query(db, "SELECT COUNT(*) FROM tasks WHERE status = 'ok'")[0][0]
    assert 20 <= ok_before < 200
    assert query(db, "PRAGMA integrity_check") == [("ok",)]

    resumed = cli("sweep", "--simulate", "--resume", "--config", str(config), "--symbols",
                  str(symbols), "--db", str(db), "--json", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["resumed"] and summary["status"] == "completed"
    assert summary["requests"] == 200 - ok_before  # only the unfinished tasks were fetched
    assert query(db, "SELECT status, resumes FROM runs") == [("completed", 1)]
    assert query(db, "SELECT status, COUNT(*) FROM tasks GROUP BY 1") == [("ok", 200)]


def test_readme_quick_start_matches_ci_and_lists_every_setting() -> None:
    block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert block
    main_job, tests = block.group(1).strip().splitlines()
    assert main_job.endswith("harvester sweep --simulate") and "pip install -e ." in main_job
    assert "pip install -e '.[test]'" in tests and tests.endswith("pytest")
    assert "sed -n 2p" in (ROOT / ".ci" / "run").read_text()
    for specs in SECTIONS.values():
        for spec in specs:
            assert f"`{spec.key}`" in README, spec.key
    for code in ("| 0 |", "| 2 |", "| 3 |", "| 130 |", "| 143 |"):
        assert code in README


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


def test_a_bad_event_loop_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[sweep]\nevent_loop = "trio"\n')
    done = subprocess.run(
        [sys.executable, "-m", "harvester", "sweep", "--config", str(config),
         "--db", str(tmp_path / "h.sqlite")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"harvester: error: {config}: [sweep] event_loop: must be one of auto, asyncio, uvloop "
        "(got 'trio')"
    ]
    assert not (tmp_path / "h.sqlite").exists()
