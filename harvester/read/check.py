"""``harvester check``: is the latest run complete and healthy? An answer for cron, Nagios, systemd.

It reads the file read-only and looks at the sweep's lock without taking it
(harvester.store.lock), so it never blocks or disturbs a sweep. One line per problem
on stdout (``--json``: one object), and an exit code per cause; when several
hold, every line is printed and the code is the first in ``CHECK_PRECEDENCE``. A
``warning:`` line after them (``warnings`` in ``--json``) changes no exit code: the
latest run's malformed symbols lines, which the sweep only logs. The
codes and what they mean are declared in ``harvester.exits`` (``Exit``), and ``-h``
shows them.

Besides the run, it judges the data (harvester.read.freshness): each market's newest
stored day of each data set the dialect serves must be no older than ``published_by``
(harvester.catalog) allows on the reference day, the one ``--today`` names, else the
simulated gateway's served day of the latest run, else today in the exchange's time zone.
"""

from __future__ import annotations

import argparse
import math
import re
import sqlite3
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson

from harvester.exits import CHECK, CHECK_PRECEDENCE, Exit, help_text
from harvester.model import (
    RunStatus,
    TaskStatus,
    duration_text,
    tasks_in,
    utc_time,
)
from harvester.read.freshness import Freshness, behind_line, freshness, reference_days
from harvester.read.status import mark_orphans, read_consistent, read_newest, read_runs
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
  harvester check --max-failed 2%     # a few tasks failing every night are no alarm
  harvester check --today 2026-05-18  # is the data as new as it should be on that day?
  out=$(harvester check) || echo "$out" | mail -s "harvester: exit $?" ops@example.com

default --max-age: {DEFAULT_MAX_AGE:g} hours (a nightly run, and two hours of slack)
behind (8): a market's newest stored day of a data set is older than [endpoints.NAME]
stale_after_us or stale_after_hk business days (weekdays) before the reference day:
--today, else the simulated gateway's served day of the latest run (--simulate),
else today in the exchange's time zone
"""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the latest run: its exit code and one line saying what to do."""

    code: Exit
    message: str


@dataclass(frozen=True, slots=True)
class Finding:
    """What ``check`` read: the latest run (None: no run), its problem tasks, the lock.

    ``newest``: each served data set's newest stored day per market (``read_newest``).
    """

    run: dict[str, Any] | None
    tasks: list[dict[str, Any]]
    holder: LockHolder | None
    newest: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Tolerance:
    """``--max-failed``: failed tasks a run may have and still pass, a number or a share."""

    text: str  #: as given: ``3``, or ``2%`` of the run's tasks
    count: int = 0
    percent: Fraction | None = None

    def allows(self, tasks: int) -> int:
        """The failed tasks allowed in a run of ``tasks`` tasks (a share rounded down)."""
        return self.count if self.percent is None else math.floor(self.percent * tasks / 100)


NONE_FAILED = Tolerance("0")


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``check`` to ``commands`` (argparse subparsers), with the ``common`` flags."""
    parser = commands.add_parser(
        "check",
        parents=[common],
        help="exit 0 only if the latest run is complete, recent and without failures, "
        "and no market's data is behind",
        description="Is the latest run complete and healthy, and is each market's data as "
        "new as it should be? One line per problem, and an exit code per cause, for cron "
        "and monitoring.",
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
    parser.add_argument(
        "--max-failed",
        type=_tolerance,
        default=NONE_FAILED,
        metavar="N|P%",
        help="pass with up to N failed tasks in the latest run, or P%% of its tasks "
        "(default 0); the ok line names them",
    )
    parser.add_argument(
        "--today",
        type=_day,
        metavar="YYYY-MM-DD",
        help="judge the data's freshness as of this day (default: the simulated gateway's "
        "served day after a --simulate run, else today in each exchange's time zone)",
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


def _tolerance(text: str) -> Tolerance:
    if re.fullmatch(r"\d+", text):
        return Tolerance(text, count=int(text))
    if re.fullmatch(r"\d+(\.\d+)?%", text) and Fraction(text[:-1]) <= 100:
        return Tolerance(text, percent=Fraction(text[:-1]))
    raise argparse.ArgumentTypeError(
        f"not a number of tasks (3) or a share of the run's tasks up to 100% (2%): {text!r}"
    )


def _day(text: str) -> date:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"not a day YYYY-MM-DD: {text!r}")


def run_check(args: argparse.Namespace) -> int:
    """``harvester check``: print the problems (or that all is well); return the exit code."""
    settings = command_settings(args)
    path = Path(settings.sweep.db)
    finding = inspect(path, tuple(endpoint.name for endpoint in settings.endpoints))
    now = datetime.now(UTC)
    days, source = reference_days(args.today, finding.run, now)
    fresh = freshness(finding.newest, settings.endpoints, days)
    problems = find_problems(finding, args.max_age, now, args.max_failed, fresh)
    code = exit_code(problems)
    notes = warning_lines(finding)
    if args.json:
        found = as_json(finding, problems, code, path, args.max_age)
        found |= {
            "warnings": notes,
            "max_failed": args.max_failed.text,
            "failed_allowed": _allowed(finding.run, args.max_failed) if finding.run else None,
            "reference_from": source,
            "freshness": [pair.as_json() for pair in fresh],
        }
        sys.stdout.write(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        lines = [problem.message for problem in problems]
        lines = lines or [healthy_line(finding, now, args.max_failed)]
        sys.stdout.write("\n".join([*lines, *notes]) + "\n")
    return code


def warning_lines(finding: Finding) -> list[str]:
    """Lines worth reading that change no exit code: the latest run's malformed symbols lines.

    The sweep logs them every night it reads the file, where no one reads them; here they
    are said once, after the verdict.
    """
    run = finding.run
    if not run or not run.get("malformed_lines"):
        return []
    where = run.get("symbols_file") or "the symbols file"
    return [
        f"warning: run {run['run_id']} skipped {run['malformed_lines']} malformed lines of "
        f"{where}; harvester plan names them without a request (fix them, or comment them out)"
    ]


def inspect(path: Path, tables: tuple[str, ...] = ()) -> Finding:
    """Read the latest run, its problem tasks, the lock's holder and ``tables``' newest days."""
    reading = read_consistent(path, lambda db: _read(db, path, tables))
    run, tasks, newest = reading.value
    if run is not None:
        mark_orphans([run], reading.holder)
    return Finding(run, tasks, reading.holder, newest)


def _read(
    db: sqlite3.Connection, path: Path, tables: tuple[str, ...]
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[dict[str, str]]]:
    """The latest run, its tasks not ``ok``, ``unchanged`` or ``pending``, ``tables``' newest days.

    An empty file (0 bytes) has no run yet, as docs/operations.md says: exit 7, not a bad file.
    """
    if is_empty(db):
        return None, [], []
    readable_version(db, path)
    verdict = db.execute("PRAGMA quick_check(1)").fetchone()[0]
    if verdict != "ok":
        raise corrupt(path, verdict)
    runs = read_runs(db, 1)
    if not runs:
        return None, [], []
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
    return runs[0], tasks, read_newest(db, tables)


def _count(run: dict[str, Any], status: TaskStatus) -> int:
    return tasks_in(run["tasks"], status)


def find_problems(
    finding: Finding,
    max_age: float,
    now: datetime,
    max_failed: Tolerance = NONE_FAILED,
    fresh: Sequence[Freshness] = (),
) -> list[Problem]:
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
    failed = _failed(finding)
    if len(failed) > _allowed(run, max_failed):
        problems.append(Problem(Exit.FAILED, _failed_line(run, failed, max_failed)))
    stale = _stale(run, max_age, now)
    if stale:
        problems.append(Problem(Exit.STALE, stale))
    problems += [Problem(Exit.BEHIND, behind_line(pair)) for pair in fresh if pair.stale]
    return problems


def _failed(finding: Finding) -> list[dict[str, Any]]:
    return [task for task in finding.tasks if task["status"] == TaskStatus.FAILED]


def _allowed(run: dict[str, Any], max_failed: Tolerance) -> int:
    """The failed tasks ``max_failed`` allows in ``run``, a share of all its tasks."""
    return max_failed.allows(sum(sum(counts.values()) for counts in run["tasks"].values()))


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


def _named(failed: list[dict[str, Any]]) -> str:
    """The first ``NAMED`` failed tasks, with their error codes, and how many more."""
    named = ", ".join(
        f"{task['symbol']} {task['endpoint']} ({task['error_code'] or '-'})"
        for task in failed[:NAMED]
    )
    return named + (f" and {len(failed) - NAMED} more" if len(failed) > NAMED else "")


def _failed_line(run: dict[str, Any], failed: list[dict[str, Any]], max_failed: Tolerance) -> str:
    over = f", more than --max-failed {max_failed.text}" if max_failed != NONE_FAILED else ""
    return (
        f"run {run['run_id']}: {len(failed)} tasks failed{over}: {_named(failed)}; "
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


def healthy_line(finding: Finding, now: datetime, max_failed: Tolerance = NONE_FAILED) -> str:
    """The one line printed when all is well: the final statuses other than ok, and the
    failed tasks ``max_failed`` lets pass, named."""
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
    failed = _failed(finding)
    if failed:
        others.append(
            f"{len(failed)} failed, within --max-failed {max_failed.text}: {_named(failed)}"
        )
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
