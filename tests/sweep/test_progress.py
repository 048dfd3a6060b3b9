"""The live progress line: percent done, an ETA, and "paused" while the outage guard holds.

The clock is a fake one the test moves; the guard is the sweep's own ``OutageGuard``,
opened by real transport failures and closed by a real answer. The display is run for
real (its own short interval) and awaited with a deadline, never slept on.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Awaitable, Callable

import pytest

from harvester.errors import TransportError
from harvester.model import Symbol, TaskResult, TaskStatus, duration_text
from harvester.sweep.counts import SweepCounts
from harvester.sweep.outage import OUTAGE_AFTER, PROBE_FIRST, GuardState, OutageGuard
from harvester.sweep.report import (
    ETA_MIN_SPAN,
    ETA_WINDOW,
    PAUSED,
    Progress,
    ProgressDisplay,
    progress_line,
)

Until = Callable[[Callable[[], object], float, str], Awaitable[None]]
AAPL = Symbol("AAPL", "US")


class Clock:
    """A clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


def finish(progress: Progress, count: int, status: TaskStatus = TaskStatus.OK) -> None:
    """Record ``count`` finished tasks of ``status``, as the sweep does in its counts."""
    for _ in range(count):
        progress.counts.record(TaskResult(AAPL, "short_trades", status, 1))


def progress_of(clock: Clock, total: int, rates: float | None = None) -> Progress:
    """The display's view of a sweep's counts: ``total`` tasks at ``rates`` requests/s."""
    return Progress(SweepCounts(run_id="r", total=total, rates=rates), clock=clock)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_percent_and_eta_from_the_configured_rates(clock: Clock) -> None:
    progress = progress_of(clock, 1000, 20.0)
    finish(progress, 250)
    clock.advance(12)
    assert progress.task_rate() == (20.0, "configured")
    # 750 tasks left at 20 a second: 37.5 s, shown rounded up.
    assert progress_line(progress) == (
        "250/1000 tasks  25.0%  ETA 38s  ok 250  failed 0  rows 0  0.0 req/s  12s"
    )


def test_without_rates_or_observations_the_eta_is_unknown(clock: Clock) -> None:
    progress = progress_of(clock, 10)
    progress.sample()
    clock.advance(ETA_MIN_SPAN / 2)
    assert progress.eta() is None
    assert "0/10 tasks  0.0%  ETA ?  " in progress_line(progress)


def test_eta_from_the_observed_rate_over_a_sliding_window(clock: Clock) -> None:
    progress = progress_of(clock, 1000, 100.0)
    progress.sample()
    clock.advance(4)
    finish(progress, 20)
    progress.sample()
    # Four seconds observed is too little: the configured rates still decide (980 / 100).
    assert progress.task_rate() == (100.0, "configured")
    assert "ETA 10s" in progress_line(progress)
    clock.advance(6)
    finish(progress, 30)
    progress.sample()
    # Ten seconds, 50 tasks: 5 a second, so the 950 left take 190 s.
    assert progress.task_rate() == (5.0, "observed")
    assert "50/1000 tasks  5.0%  ETA 3m10s  " in progress_line(progress)
    clock.advance(ETA_WINDOW)
    finish(progress, 300)
    progress.sample()
    # The window drops the slow start: 300 tasks in the last 30 s are 10 a second
    # (the whole run's average, 350 in 40 s, would say 75 s).
    assert progress.task_rate() == (10.0, "observed")
    assert "350/1000 tasks  35.0%  ETA 1m05s  " in progress_line(progress)


def test_nothing_finished_in_the_window_makes_the_eta_unknown(clock: Clock) -> None:
    progress = progress_of(clock, 100, 50.0)
    finish(progress, 10)
    progress.sample()
    clock.advance(ETA_WINDOW)
    progress.sample()
    assert progress.task_rate() == (None, "observed")
    assert "10/100 tasks  10.0%  ETA ?  " in progress_line(progress)


def test_tasks_ended_without_a_request_count_as_done(clock: Clock) -> None:
    progress = progress_of(clock, 4, 10.0)
    finish(progress, 1, TaskStatus.UNCHANGED)
    finish(progress, 1, TaskStatus.SKIPPED)
    finish(progress, 1)
    assert progress.done == 3 and progress.counts.requests == 0
    line = progress_line(progress)
    assert line.startswith("3/4 tasks  75.0%  ETA 1s  ")
    assert "ok 1" in line and "unchanged 1" in line and "skipped 1" in line


def test_percent_reaches_100_only_when_every_task_is_done(clock: Clock) -> None:
    progress = progress_of(clock, 1001)
    finish(progress, 1000)
    assert progress.percent == 99.9
    finish(progress, 1)
    assert progress.percent == 100.0 and progress.eta() == 0.0
    assert "1001/1001 tasks  100.0%  ETA 0s  " in progress_line(progress)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.2, "1s"),
        (59, "59s"),
        (59.5, "1m00s"),
        (385, "6m25s"),
        (3599, "59m59s"),
        (3600, "1h00m"),
        (7384, "2h03m"),
        (30 * 3600 + 1, "30h00m"),
        (-5, "0s"),
    ],
)
def test_duration_text(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


async def _open(guard: OutageGuard) -> None:
    """Open the guard the way an outage does: transport failures over three symbols."""
    for number in range(OUTAGE_AFTER):
        with pytest.raises(TransportError):
            async with guard.attempt(f"S{number % 3}.US"):
                raise TransportError("HTTP 503 from the gateway", code="http_503")


async def test_paused_while_the_guard_holds_requests(clock: Clock) -> None:
    async def no_wait(seconds: float) -> None:
        return None

    guard = OutageGuard(300.0, clock=clock, sleep=no_wait)
    progress = progress_of(clock, 100, 10.0)
    progress.counts.paused = lambda: guard.state is not GuardState.CLOSED
    finish(progress, 40)
    progress.sample()
    clock.advance(ETA_MIN_SPAN)
    assert not progress.paused and progress.task_rate()[1] == "observed"
    await _open(guard)
    assert guard.state is GuardState.OPEN
    progress.sample()  # an outage: what was observed before it says nothing after
    line = progress_line(progress)
    assert progress.paused and progress.eta() is None
    assert line.startswith(f"40/100 tasks  40.0%  {PAUSED}  ") and "ETA" not in line
    clock.advance(PROBE_FIRST)
    async with guard.attempt("AAPL.US"):  # the probe goes out: half-open, still held
        assert guard.state is GuardState.HALF_OPEN
        assert PAUSED in progress_line(progress)
    assert guard.state is GuardState.CLOSED and not progress.paused
    # Carrying on: no observation since the pause, so the configured rates (60 / 10).
    assert progress.task_rate() == (10.0, "configured")
    assert "40/100 tasks  40.0%  ETA 6s  " in progress_line(progress)


async def test_the_display_logs_the_line_and_measures_the_rate(
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    until: Until,
) -> None:
    caplog.set_level(logging.INFO, logger="harvester")
    progress = progress_of(clock, 100)

    def lines() -> list[str]:
        return [
            record.getMessage()
            for record in caplog.records
            if record.getMessage().startswith("progress: ")
        ]

    async with asyncio.TaskGroup() as group:
        showing = group.create_task(
            ProgressDisplay(progress, interval=0.01, stream=io.StringIO()).run()
        )
        await until(lambda: lines(), 10, "a progress line")
        assert lines()[0].startswith("progress: 0/100 tasks  0.0%  ETA ?  ")
        clock.advance(10)
        finish(progress, 20)
        # The display sampled at the start: 20 tasks in 10 s, so the 80 left take 40 s.
        await until(
            lambda: any("20/100 tasks  20.0%  ETA 40s" in line for line in lines()),
            10,
            "a line with the observed ETA",
        )
        showing.cancel()


async def test_on_a_terminal_the_line_is_redrawn_and_cleared(clock: Clock, until: Until) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    progress = progress_of(clock, 8, 2.0)
    finish(progress, 2)
    async with asyncio.TaskGroup() as group:
        showing = group.create_task(ProgressDisplay(progress, interval=60.0, stream=stream).run())
        await until(lambda: "tasks" in stream.getvalue(), 10, "a redrawn line")
        showing.cancel()
    shown = stream.getvalue()
    assert re.match(r"\r\x1b\[K2/8 tasks  25\.0%  ETA 3s  ok 2", shown), shown
    assert shown.endswith("\r\x1b[K")
