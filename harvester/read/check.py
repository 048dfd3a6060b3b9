"""``harvester check``: is the latest run complete and healthy? An answer for cron, Nagios, systemd.

It reads the file read-only and looks at the sweep's lock without taking it
(harvester.store.lock), so it never blocks or disturbs a sweep. One line per problem
on stdout (``--json``: one object), and an exit code per cause; when several
hold, every line is printed and the code is the first in ``CHECK_PRECEDENCE``. The
codes and what they mean are declared in ``harvester.exits`` (``Exit``), and ``-h``
shows them.
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from harvester.exits import CHECK, CHECK_PRECEDENCE, Exit, help_text
from harvester.model import RunStatus, TaskStatus, duration_text, tasks_in, utc_time
from harvester.read.status import mark_orphans, read_consistent, read_runs
from harvester.settings.config import command_settings
from harvester.store.database import corrupt, is_empty, readable_version
from harvester.store.lock import LockHolder

# A nightly run plus two hours of slack for a night that starts or ends late.
DEFAULT_MAX_AGE = 26.0
NAMED = 5  # failed tasks named in the text line; --json lists them all
RESUME = "finish it with: harvester sweep --resume"

EPILOG = f"""\
exit codes (several problems: every line is printed, the code is the first
that holds in the order {", ".join(map(str, CHECK_PRECEDENCE))}):
{help_text(CHECK)}
examples:
  harvester check                     # after last night's sweep: exit 0?
  harvester check --json              # the same, and every task that did not end ok
  harvester check --max-age 74        # at weekends, when the sweep runs on weekdays
  out=$(harvester check) || echo "$out" | mail -s "harvester: exit $?" ops@example.com

default --max-age: {DEFAULT_MAX_AGE:g} hours (a nightly run, and two hours of slack)
"""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the latest run: its exit code and one line saying what to do."""

    code: Exit
    message: str


@dataclass(frozen=True, slots=True)
class Finding:
    """What ``check`` read: the latest run (None: no run), its problem tasks, the lock."""

    run: dict[str, Any] | None
    tasks: list[dict[str, Any]]
    holder: LockHolder | None


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``check`` to ``commands`` (argparse subparsers), with the ``common`` flags."""
    parser = commands.add_parser(
        "check",
        parents=[common],
        help="exit 0 only if the latest run is complete, recent and without failures",
        description="Is the latest run complete and healthy? One line per problem, "
        "and an exit code per cause, for cron and monitoring.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--max-age",
        type=_hours,
        default=DEFAULT_MAX_AGE,
        metavar="HOURS",
        help=f"the latest run must have finished within this many hours "
        f"(default {DEFAULT_MAX_AGE:g})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run_check)


def _hours(text: str) -> float:
    try:
        hours = float(text)
    except ValueError:
        hours = math.nan
    if not (math.isfinite(hours) and hours > 0):
        raise argparse.ArgumentTypeError(f"not a positive number of hours: {text!r}")
    return hours


def run_check(args: argparse.Namespace) -> int:
    """``harvester check``: print the problems (or that all is well); return the exit code."""
    path = Path(command_settings(args).sweep.db)
    finding = inspect(path)
    now = datetime.now(UTC)
    problems = find_problems(finding, args.max_age, now)
    code = exit_code(problems)
    if args.json:
        sys.stdout.write(
            orjson.dumps(
                as_json(finding, problems, code, path, args.max_age), option=orjson.OPT_INDENT_2
            ).decode()
            + "\n"
        )
    else:
        lines = [problem.message for problem in problems] or [healthy_line(finding, now)]
        sys.stdout.write("\n".join(lines) + "\n")
    return code


def inspect(path: Path) -> Finding:
    """Read the latest run, its problem tasks and the lock's holder, read-only."""
    reading = read_consistent(path, lambda db: _read(db, path))
    run, tasks = reading.value
    if run is not None:
        mark_orphans([run], reading.holder)
    return Finding(run, tasks, reading.holder)


def _read(db: sqlite3.Connection, path: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The latest run and its tasks that ended neither ``ok``, ``unchanged`` nor ``pending``.

    An empty file (0 bytes) has no run yet, as docs/operations.md says: exit 7, not a bad file.
    """
    if is_empty(db):
        return None, []
    readable_version(db, path)
    verdict = db.execute("PRAGMA quick_check(1)").fetchone()[0]
    if verdict != "ok":
        raise corrupt(path, verdict)
    runs = read_runs(db, 1)
    if not runs:
        return None, []
    tasks = [
        dict(row)
        for row in db.execute(
            "SELECT symbol, endpoint, status, attempts, error_code, error_message FROM tasks "
            "WHERE run_id = ? AND status NOT IN (?, ?, ?) "
            "ORDER BY status != ?, status, symbol, endpoint",
            (
                runs[0]["run_id"],
                TaskStatus.OK.value,
                TaskStatus.PENDING.value,
                TaskStatus.UNCHANGED.value,
                TaskStatus.FAILED.value,
            ),
        )
    ]
    return runs[0], tasks


def _count(run: dict[str, Any], status: TaskStatus) -> int:
    return tasks_in(run["tasks"], status)


def find_problems(finding: Finding, max_age: float, now: datetime) -> list[Problem]:
    """Every problem that holds, in the order of ``CHECK_PRECEDENCE``."""
    run, holder = finding.run, finding.holder
    problems = []
    if run is None:
        problems.append(Problem(Exit.NO_RUN, "no run in the database yet: run harvester sweep"))
    if holder is not None:
        live = run is not None and run["status"] == RunStatus.RUNNING
        on = f", run {run['run_id']} started {run['started_at']}" if live and run else ""
        problems.append(
            Problem(
                Exit.RUNNING, f"a sweep is running now ({holder}{on}); check again when it ends"
            )
        )
    if run is None:
        return problems
    unfinished = _unfinished(run)
    if unfinished:
        problems.append(Problem(Exit.UNFINISHED, unfinished))
    failed = [task for task in finding.tasks if task["status"] == TaskStatus.FAILED]
    if failed:
        problems.append(Problem(Exit.FAILED, _failed_line(run, failed)))
    stale = _stale(run, max_age, now)
    if stale:
        problems.append(Problem(Exit.STALE, stale))
    return problems


def _unfinished(run: dict[str, Any]) -> str | None:
    """The line for an interrupted or orphaned run, or None."""
    left = f"{_count(run, TaskStatus.PENDING)} tasks not fetched"
    if run["status"] == RunStatus.INTERRUPTED:
        why = f" ({run['stop_reason']})" if run.get("stop_reason") else ""
        return f"run {run['run_id']} is interrupted{why}: {left}; {RESUME}"
    if run["orphaned"]:
        return (
            f"run {run['run_id']} is marked running but no sweep holds the database's "
            f"lock (crashed or killed): {left}; {RESUME}"
        )
    return None


def _failed_line(run: dict[str, Any], failed: list[dict[str, Any]]) -> str:
    named = ", ".join(
        f"{task['symbol']} {task['endpoint']} ({task['error_code'] or '-'})"
        for task in failed[:NAMED]
    )
    more = f" and {len(failed) - NAMED} more" if len(failed) > NAMED else ""
    return (
        f"run {run['run_id']}: {len(failed)} tasks failed: {named}{more}; "
        "harvester check --json lists them with their errors"
    )


def _stale(run: dict[str, Any], max_age: float, now: datetime) -> str | None:
    """The line for a run older than ``max_age`` hours, or None."""
    finished = run["finished_at"]
    age = (now - utc_time(finished or run["started_at"])).total_seconds()
    if age <= max_age * 3600:
        return None
    span = duration_text(age)
    when = f"finished {span} ago" if finished else f"started {span} ago, unfinished"
    return f"run {run['run_id']} {when}: older than --max-age {max_age:g} hours"


def exit_code(problems: list[Problem]) -> Exit:
    """``Exit.OK`` without problems, else the code that comes first in ``CHECK_PRECEDENCE``."""
    codes = {problem.code for problem in problems}
    return next((code for code in CHECK_PRECEDENCE if code in codes), Exit.OK)


def healthy_line(finding: Finding, now: datetime) -> str:
    """The one line printed when all is well, with the final statuses other than ok."""
    run = finding.run
    assert run is not None and run["finished_at"]
    age = (now - utc_time(run["finished_at"])).total_seconds()
    others = [
        f"{_count(run, status)} {status.value}"
        for status in (
            TaskStatus.UNCHANGED,
            TaskStatus.SKIPPED,
            TaskStatus.NO_DATA,
            TaskStatus.INVALID,
            TaskStatus.UNSUPPORTED,
        )
        if _count(run, status)
    ]
    also = f" ({', '.join(others)})" if others else ""
    return (
        f"ok: run {run['run_id']} completed {duration_text(age)} ago, "
        f"{_count(run, TaskStatus.OK)} tasks ok{also}"
    )


def as_json(
    finding: Finding, problems: list[Problem], code: Exit, path: Path, max_age: float
) -> dict[str, Any]:
    """The ``--json`` object: verdict, problems, the latest run's row and its problem tasks."""
    counts = dict(Counter(task["status"] for task in finding.tasks))
    return {
        "ok": code == Exit.OK,
        "exit_code": code,
        "database": str(path),
        "max_age_hours": max_age,
        "sweep_running": finding.holder is not None,
        "sweep_pid": finding.holder.pid if finding.holder else None,
        "problems": [{"code": problem.code, "message": problem.message} for problem in problems],
        "run": finding.run,
        "tasks": finding.tasks,
        "task_counts": counts,
    }
