"""What a person sees: live progress counters and their display, the closing summary, ``status``."""

from __future__ import annotations

import asyncio
import logging
import math
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

from harvester.model import FailedTask, RunSummary, TaskStatus, duration_text

if TYPE_CHECKING:
    from harvester.sweep.counts import SweepCounts

log = logging.getLogger("harvester")

FAILED_SHOWN = 20  # failed tasks named one by one after a sweep's summary; the rest counted
MESSAGE_SHOWN = 200  # characters of an error message shown on a failed task's line
LIST_ALL = "harvester export run_problems, or the run_problems view, lists them all"
STATUS_ORDER = tuple(status.value for status in TaskStatus)
ALWAYS_SHOWN = (TaskStatus.OK.value, TaskStatus.FAILED.value)  # shown even at zero
TTY_INTERVAL = 0.5  # seconds between redraws of the progress line on a terminal
ETA_WINDOW = 30.0  # seconds of recent progress the ETA's observed rate is measured over
ETA_MIN_SPAN = 5.0  # seconds observed before that rate is trusted over the configured rates
PAUSED = "paused: the gateway is down, requests held"


def _counts(counts: Mapping[str, int]) -> str:
    return "  ".join(
        f"{name} {counts.get(name, 0)}"
        for name in STATUS_ORDER
        if counts.get(name, 0) or name in ALWAYS_SHOWN
    )


class Progress:
    """The progress display's view of a sweep: its counts (``SweepCounts``, the sweep's own,
    read and never written here), the percent done and the ETA.

    ``clock`` (default ``time.monotonic``) is injected so that tests can drive
    the elapsed time and the ETA without waiting.
    """

    def __init__(self, counts: SweepCounts, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.counts = counts  #: the sweep's numbers
        self._clock = clock
        self.started = clock()
        # (time, tasks done) when the display last looked: the observed rate of the ETA.
        self._samples: deque[tuple[float, int]] = deque()

    def __repr__(self) -> str:
        paused = " paused" if self.paused else ""
        return f"<Progress {self.done}/{self.total} requests={self.counts.requests}{paused}>"

    @property
    def total(self) -> int:
        """Tasks this invocation set out to finish."""
        return self.counts.total

    @property
    def done(self) -> int:
        """Tasks finished so far, those that ended without a request included."""
        return self.counts.done

    @property
    def elapsed(self) -> float:
        """Seconds since the display started."""
        return self._clock() - self.started

    @property
    def paused(self) -> bool:
        """True while the outage guard holds every request (open or half-open)."""
        return self.counts.paused()

    @property
    def percent(self) -> float:
        """Tasks done, in percent of ``total``, rounded down to a tenth: 100 only when done."""
        if not self.total:
            return 0.0
        return math.floor(1000 * min(self.done, self.total) / self.total) / 10

    def sample(self) -> None:
        """Note the tasks done now, for the ETA's observed rate; a pause starts it afresh.

        Samples older than ``ETA_WINDOW`` go, all but the newest of them, so the
        rate always spans the window once the sweep has run that long.
        """
        now = self._clock()
        if self.paused:
            self._samples.clear()  # the rate before and during an outage says nothing after
            return
        self._samples.append((now, self.done))
        while len(self._samples) > 1 and self._samples[1][0] <= now - ETA_WINDOW:
            self._samples.popleft()

    def task_rate(self) -> tuple[float | None, str]:
        """Tasks per second ahead, and where it comes from: ``observed`` or ``configured``.

        Observed over the last ``ETA_WINDOW`` seconds once the samples span
        ``ETA_MIN_SPAN`` seconds; before that, the configured rates (one request
        per task). None when neither is known, or nothing finished in the window.
        """
        if self._samples:
            since, done = self._samples[0]
            span = self._clock() - since
            if span >= ETA_MIN_SPAN:
                finished = self.done - done
                return (finished / span if finished > 0 else None), "observed"
        return (self.counts.rates or None), "configured"

    def eta(self) -> float | None:
        """Seconds until every task is done, estimated; None while paused or not known."""
        remaining = max(self.total - self.done, 0)
        if not remaining:
            return 0.0
        if self.paused:
            return None
        rate, _ = self.task_rate()
        return remaining / rate if rate else None


def progress_line(progress: Progress) -> str:
    """One line of live progress: done, percent, ETA (or paused), counts, rows, rate, time."""
    elapsed, counts = progress.elapsed, progress.counts
    rate = counts.requests / elapsed if elapsed > 0 else 0.0
    eta = progress.eta()
    ahead = PAUSED if progress.paused else "ETA " + ("?" if eta is None else duration_text(eta))
    return (
        f"{progress.done}/{progress.total} tasks  {progress.percent:.1f}%  {ahead}  "
        f"{_counts(counts.statuses)}  rows {counts.rows}  {rate:.1f} req/s{_pace(counts)}  "
        f"{duration_text(elapsed)}"
    )


def _pace(counts: SweepCounts) -> str:
    """The account's pace, once the upstream pushed back: `` (pace 4.8/s, 3 cuts, 12 429s)``."""
    if counts.pace is None:
        return ""
    rate, cuts, engaged = counts.pace()
    if not (cuts or counts.refused):
        return ""
    held = f"pace {rate:.3g}/s" if engaged else "pace back to its ceiling"
    return f" ({held}, {cuts} cuts, {counts.refused} 429s)"


class ProgressDisplay:
    """Redraws a progress line on a terminal, or logs one every ``interval`` seconds.

    ``run`` draws until it is cancelled (``run_sweep`` runs it in the sweep's task
    group, as ``show``); a terminal's line is cleared on the way out.
    """

    def __init__(self, progress: Progress, *, interval: float, stream: TextIO = sys.stderr) -> None:
        self._progress = progress
        self._stream = stream
        self._tty = stream.isatty()
        self._interval = TTY_INTERVAL if self._tty else interval

    def __repr__(self) -> str:
        return f"<ProgressDisplay tty={self._tty} interval={self._interval}>"

    async def run(self) -> None:
        """Draw a line every interval until cancelled."""
        try:
            while True:
                await asyncio.sleep(self._interval)
                if not self._progress.total:
                    continue
                self._progress.sample()
                if self._tty:
                    self._stream.write("\r\033[K" + progress_line(self._progress))
                    self._stream.flush()
                else:
                    log.info("progress: %s", progress_line(self._progress))
        finally:
            if self._tty:
                self._stream.write("\r\033[K")
                self._stream.flush()


def rows_text(
    rows: int, new: int | None = None, revised: int | None = None, unchanged: int | None = None
) -> str:
    """``rows 2020 (180 new, 12 revised, 1828 unchanged)``: rows written, then what they did.

    Without the three kinds (a run that wrote rows before schema version 8 never told them
    apart, and the file says NULL), only ``rows 2020``.
    """
    if new is None or revised is None or unchanged is None:
        return f"rows {rows}"
    return f"rows {rows} ({new} new, {revised} revised, {unchanged} unchanged)"


def summary_text(summary: RunSummary) -> str:
    """The human summary printed at the end of a sweep, then a line per ``failed`` task."""
    state = summary.status.value + (" (resumed)" if summary.resumed else "")
    if summary.stop_reason:
        state += f": {summary.stop_reason}"
    lines = [f"run {summary.run_id}: {state}"]
    width = max((len(name) for name in summary.tasks), default=0)
    for endpoint, counts in sorted(summary.tasks.items()):
        lines.append(f"  {endpoint:<{width}}  {_counts(counts)}")
    rows = rows_text(summary.rows, summary.rows_new, summary.rows_revised, summary.rows_unchanged)
    lines.append(
        f"  {rows}, warnings {summary.warnings}, "
        f"requests {summary.requests} in {summary.elapsed:.1f}s "
        f"({summary.requests_per_second:.1f} req/s)"
    )
    if summary.refused or summary.cuts:
        pace = f", ending at {summary.pace:.3g} req/s" if summary.pace is not None else ""
        lines.append(
            f"  the upstream refused {summary.refused} requests for the pace (429); "
            f"the pace was cut {summary.cuts} times{pace}"
        )
    if summary.malformed_lines or summary.duplicates:
        lines.append(
            f"  symbols file: {summary.malformed_lines} malformed lines skipped, "
            f"{summary.duplicates} duplicates fetched once"
        )
    lines.extend(failed_lines(summary.failed_tasks, summary.failed))
    return "\n".join(lines)


def _one_line(text: str | None) -> str:
    """An error message on one line, cut to ``MESSAGE_SHOWN`` characters."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= MESSAGE_SHOWN else flat[: MESSAGE_SHOWN - 3] + "..."


def failed_lines(tasks: tuple[FailedTask, ...], total: int) -> list[str]:
    """A line per failed task (symbol, endpoint, error code, message), then how many more."""
    if not tasks:
        return []
    symbol = max(len(task.symbol) for task in tasks)
    endpoint = max(len(task.endpoint) for task in tasks)
    lines = [
        f"  failed  {task.symbol:<{symbol}}  {task.endpoint:<{endpoint}}  "
        f"{task.error_code or '-'}: {_one_line(task.error_message)}"
        for task in tasks
    ]
    if total > len(tasks):
        lines.append(f"  ... and {total - len(tasks)} more failed; {LIST_ALL}")
    return lines


def summary_dict(summary: RunSummary) -> dict[str, Any]:
    """The summary as plain data for ``--json``.

    Keys that are columns of ``runs`` carry their column's name, as ``status --json``
    does; the counters are this invocation's share of the run's (equal for a run
    never resumed), and ``resumes`` is 1 when this invocation resumed the run.
    ``rows_written`` is every row received and upserted; ``rows_new``, ``rows_revised``
    and ``rows_unchanged`` say what each did, and add up to it.
    """
    return {
        "run_id": summary.run_id,
        "status": summary.status.value,
        "resumes": int(summary.resumed),
        "interrupted": summary.interrupted,
        "tasks": summary.tasks,
        "rows_written": summary.rows,
        "rows_new": summary.rows_new,
        "rows_revised": summary.rows_revised,
        "rows_unchanged": summary.rows_unchanged,
        "warnings": summary.warnings,
        "requests": summary.requests,
        "elapsed": round(summary.elapsed, 3),
        "requests_per_second": round(summary.requests_per_second, 2),
        "refused": summary.refused,
        "cuts": summary.cuts,
        "pace": round(summary.pace, 3) if summary.pace is not None else None,
        "malformed_lines": summary.malformed_lines,
        "duplicates": summary.duplicates,
        "stop_kind": summary.stop_kind,
        "stop_reason": summary.stop_reason,
        "failed_tasks": [
            {
                "symbol": task.symbol,
                "endpoint": task.endpoint,
                "error_code": task.error_code,
                "error_message": task.error_message,
            }
            for task in summary.failed_tasks
        ],
        "failed_tasks_total": summary.failed,
    }


def run_state(run: Mapping[str, Any]) -> str:
    """A run's status in words; a ``running`` run no sweep holds says so and what to do."""
    if run.get("orphaned"):  # only ever true of a running run (status.mark_orphans)
        return "running (no sweep holds it: crashed or killed; resume with --resume)"
    return str(run["status"])


def status_text(runs: list[dict[str, Any]]) -> str:
    """Recent runs for ``harvester status``."""
    if not runs:
        return "no runs yet"
    lines = []
    for run in runs:
        finished = run["finished_at"] or "-"
        # A file older than schema version 8 has no such columns: the kinds go unsaid.
        kinds = (run.get(f"rows_{kind}") for kind in ("new", "revised", "unchanged"))
        lines.append(
            f"{run['run_id']}  {run_state(run):<11}  started {run['started_at']}  "
            f"finished {finished}  {rows_text(run['rows_written'], *kinds)}  "
            f"requests {run['requests']}"
            # A file older than schema version 6 has no kind: every run of it was a sweep.
            + ("  (backfill)" if run.get("kind") == "backfill" else "")
        )
        for endpoint, counts in sorted(run["tasks"].items()):
            lines.append(f"    {endpoint:<15} {_counts(counts)}")
    return "\n".join(lines)
