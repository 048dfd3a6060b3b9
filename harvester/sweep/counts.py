"""The sweep's own numbers: kept by the sweep as it works, only read by the progress display.

What the ``runs`` table records of an invocation (its requests) and what the daily quota
counts come from here: every request passes the sweep's ``Gate`` (harvester.sweep.fetch),
which counts it once, retries and outage probes included.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from harvester.model import TaskResult


def _never() -> bool:
    return False


@dataclass(slots=True, kw_only=True)
class SweepCounts:
    """One invocation of a sweep, counted: tasks by status, rows, warnings and requests."""

    run_id: str
    total: int  #: tasks this invocation set out to finish
    rates: float | None = None  #: configured requests per second, summed over the endpoints
    statuses: Counter[str] = field(default_factory=Counter)  #: tasks finished, by status
    #: rows handed to the writer; what each did to the file (new, revised, unchanged) is
    #: known only once committed, so the store counts that (``Store.written``)
    rows: int = 0
    warnings: int = 0  #: values and records the adapters warned about
    requests: int = 0  #: requests sent, retries and outage probes included
    refused: int = 0  #: answers refusing a request for the pace (HTTP 429)
    #: the account's pace as the pacer has it: (requests a second, cuts so far, engaged)
    pace: Callable[[], tuple[float, int, bool]] | None = None
    paused: Callable[[], bool] = _never  #: True while the outage guard holds every request

    @property
    def done(self) -> int:
        """Tasks finished so far, those that ended without a request included."""
        return sum(self.statuses.values())

    def record(self, result: TaskResult) -> None:
        """Count a finished task (``unchanged`` and ``skipped`` too: done without a request)."""
        self.statuses[result.status.value] += 1
        self.rows += len(result.rows)
        self.warnings += result.warnings
