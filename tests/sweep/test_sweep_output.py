"""What a sweep prints at its end: a line per failed task (at most 20, then a count), the same
in ``--json``, and JSON keys that agree with ``status --json`` (the ``runs`` table's columns).

Real sweeps against ``--simulate``: 25 symbols that always answer HTTP 500 alternate with
25 good ones, one worker at a time, so the failures never look like an outage.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]
Query = Callable[..., list[tuple[Any, ...]]]

FAILING = [f"F{i:02d}.US" for i in range(25)]
GOOD = [f"G{i:02d}.US" for i in range(25)]
SHOWN = 20


@pytest.fixture
def failing_sweep(tmp_path: Path) -> Callable[[str], tuple[list[str], Path]]:
    """``failing_sweep(name)``: arguments of a sweep in which 25 symbols fail, and its db."""
    symbols = tmp_path / "symbols.txt"
    symbols.write_text(
        "".join(f"{good}\n{bad}\n" for good, bad in zip(GOOD, FAILING, strict=True)),
        encoding="utf-8",
    )
    lines = ["[sweep]\nbackoff_base = 0.0\nmax_attempts = 2\nworkers = 1\n"]
    for name in ("short_trades", "short_interest"):
        lines.append(f"[endpoints.{name}]\nrate = 1000.0\nconcurrency = 4\n")
    lines.append("[simulate]\nlatency = 0.0\n[simulate.scripted]\n")
    lines.extend(f'"{symbol}" = ["http_500", "*"]\n' for symbol in FAILING)
    config = tmp_path / "sweep.toml"
    config.write_text("".join(lines), encoding="utf-8")

    def make(name: str) -> tuple[list[str], Path]:
        db = tmp_path / f"{name}.sqlite"
        return [
            "sweep",
            "--simulate",
            "--config",
            str(config),
            "--symbols",
            str(symbols),
            "--db",
            str(db),
            "-q",
        ], db

    return make


def first_failed(query: Query, db: Path) -> list[tuple[Any, ...]]:
    """The failed tasks a sweep names, read independently: by symbol and endpoint."""
    return query(
        db,
        "SELECT symbol, endpoint, error_code, error_message FROM tasks "
        "WHERE status = 'failed' ORDER BY symbol, endpoint LIMIT ?",
        (SHOWN,),
    )


def test_the_text_summary_names_20_failed_tasks_and_counts_the_rest(
    harvester: Run,
    query: Query,
    failing_sweep: Callable[[str], tuple[list[str], Path]],
) -> None:
    args, db = failing_sweep("text")
    result = harvester(*args)
    assert result.returncode == 3, result.stderr
    assert "looks down" not in result.stderr  # one symbol's failures are not an outage
    lines = result.stdout.splitlines()
    failed = [line for line in lines if line.startswith("  failed  ")]
    assert len(failed) == SHOWN
    assert lines[-SHOWN - 1 : -1] == failed  # after the summary, before the count
    for line, (symbol, endpoint, code, message) in zip(
        failed, first_failed(query, db), strict=True
    ):
        flat = " ".join(message.split())
        shown = flat if len(flat) <= 200 else flat[:197] + "..."
        assert line == f"  failed  {symbol}  {endpoint:<14}  {code}: {shown}"
    assert lines[-1] == (
        "  ... and 30 more failed; harvester export run_problems, "
        "or the run_problems view, lists them all"
    )
    assert query(db, "SELECT COUNT(*) FROM tasks WHERE status = 'failed'") == [(50,)]


def test_json_lists_20_failed_tasks_and_the_total(
    harvester: Run,
    query: Query,
    failing_sweep: Callable[[str], tuple[list[str], Path]],
) -> None:
    args, db = failing_sweep("json")
    result = harvester(*args, "--json")
    assert result.returncode == 3, result.stderr
    summary = json.loads(result.stdout)
    assert summary["failed_tasks_total"] == 2 * len(FAILING)
    listed = [
        (t["symbol"], t["endpoint"], t["error_code"], t["error_message"])
        for t in summary["failed_tasks"]
    ]
    assert listed == [tuple(row) for row in first_failed(query, db)]
    assert {code for _, _, code, _ in listed} == {"http_500"}


def test_a_few_failures_are_all_named_and_nothing_more(swept: Any) -> None:
    lines = swept.result.stdout.splitlines()
    failed = [line for line in lines if line.startswith("  failed  ")]
    stored = swept.rows(
        "SELECT symbol, endpoint, error_code FROM tasks WHERE status = 'failed' "
        "ORDER BY symbol, endpoint"
    )
    assert [line.split()[1:4] for line in failed] == [
        [symbol, endpoint, f"{code}:"] for symbol, endpoint, code in stored
    ]
    assert [row[0] for row in stored] == ["FAILS.US", "FAILS.US"]
    assert lines[-len(failed) :] == failed and "more failed" not in swept.result.stdout


def test_sweep_and_status_json_keys_agree(harvester: Run, fast_toml: str, tmp_path: Path) -> None:
    config = tmp_path / "fast.toml"
    config.write_text(fast_toml, encoding="utf-8")
    symbols = tmp_path / "s.txt"
    symbols.write_text("AAPL.US\n700.HK\nAAPL.US\nnot a symbol\n", encoding="utf-8")
    db = tmp_path / "h.sqlite"
    swept = harvester(
        "sweep",
        "--simulate",
        "--config",
        str(config),
        "--symbols",
        str(symbols),
        "--db",
        str(db),
        "-q",
        "--json",
    )
    assert swept.returncode == 0, swept.stderr
    summary = json.loads(swept.stdout)
    status = harvester("status", "--db", str(db), "--json")
    [run] = json.loads(status.stdout)
    # The keys that were renamed, and what both share: the runs table's columns.
    assert "rows" not in summary and "resumed" not in summary
    shared = set(summary) & set(run)
    assert {
        "run_id",
        "status",
        "tasks",
        "rows_written",
        "resumes",
        "requests",
        "warnings",
        "malformed_lines",
        "duplicates",
        "stop_reason",
    } <= shared
    # A run never resumed: this invocation's counters are the run's.
    assert {key: summary[key] for key in shared} == {key: run[key] for key in shared}
    assert summary["rows_written"] == 2 * 20 + 2 * 30 and summary["resumes"] == 0
    assert (summary["duplicates"], summary["malformed_lines"]) == (1, 1)
    assert summary["failed_tasks"] == [] and summary["failed_tasks_total"] == 0
