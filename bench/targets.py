"""Every case's target, stated once: the table the cases judge by and the output prints.

A target compares a case's ratio with a mark: a fixed number, or (``resume``)
a bound the case computes from its own run (``resume_allowance``). Politeness
also caps the 429s served, and ``nightly`` also bounds two more of its figures
(``also``); ``account`` does both (the account's limits, and no task
failed). ``throttle`` judges each of its scenarios by its own marks
(``THROTTLE_SCENARIOS``) and counts those that missed one. ``cold_start``
only reports. When a case cannot run, the table states its target in words
(the formula for a computed mark).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Compare(StrEnum):
    """How a ratio meets its mark, spelled as the table prints it."""

    AT_LEAST = "≥"
    AT_MOST = "≤"
    EQUAL = "="
    REPORT = "report"  #: no mark: the figure is reported, not judged

    def holds(self, value: float, mark: float) -> bool:
        """Whether ``value`` meets ``mark`` this way (never for ``REPORT``)."""
        if self is Compare.AT_LEAST:
            return value >= mark
        if self is Compare.AT_MOST:
            return value <= mark
        return self is Compare.EQUAL and value == mark


@dataclass(frozen=True, slots=True, kw_only=True)
class Bound:
    """A figure of a case, besides its ratio, that must also meet a mark of its own."""

    figure: str  #: the key of the figure in the case's figures
    compare: Compare
    value: float

    def text(self) -> str:
        """The bound as the table states it: ``bytes_ratio ≤ 0.15``."""
        return f"{self.figure} {self.compare} {self.value:g}"

    def met(self, figures: Mapping[str, Any]) -> bool:
        """Whether the case's figures meet the bound; a missing figure does not."""
        value = figures.get(self.figure)
        return isinstance(value, int | float) and self.compare.holds(value, self.value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One case's pass mark: ``ratio compare value`` (or a mark computed per run)."""

    compare: Compare
    value: float | None = None  #: the fixed mark; None when the case computes it
    formula: str = ""  #: how a computed mark is derived, stated when there is no run
    max_429s: int | None = None  #: also at most this many 429s served, when set
    also: tuple[Bound, ...] = ()  #: further figures of the case that must meet their marks

    def text(self, mark: float | None = None) -> str:
        """The target as the table states it; ``mark`` is the one a case computed."""
        if self.compare is Compare.REPORT:
            return str(self.compare)
        if self.value is not None:
            stated = str(self.value)
        else:
            stated = self.formula if mark is None else f"{mark:.4f}"
        extra = "" if self.max_429s is None else f"; {self.max_429s} 429s"
        extra += "".join(f"; {bound.text()}" for bound in self.also)
        return f"{self.compare} {stated}{extra}"

    def met(
        self,
        ratio: float,
        mark: float | None = None,
        served_429: int = 0,
        figures: Mapping[str, Any] | None = None,
    ) -> bool | None:
        """Whether ``ratio`` (and ``served_429``, and ``figures`` for ``also``) meet the
        target; None for a report-only case."""
        if self.compare is Compare.REPORT:
            return None
        bound = self.value if self.value is not None else mark
        if bound is None:
            raise ValueError("this target's mark is computed by its case: pass mark")
        if self.also and figures is None:
            raise ValueError("this target also bounds figures of its case: pass figures")
        within = self.compare.holds(ratio, bound)
        also = all(extra.met(figures or {}) for extra in self.also)
        return within and also and (self.max_429s is None or served_429 <= self.max_429s)


COMMIT_INTERVAL = 0.25
"""The harvester's default ``[sweep] commit_interval``, which every bench sweep runs with.

A kill may lose this many seconds of finished work (the ``resume`` bound), and
the ``store`` case gives its writer the same interval.
"""


def resume_allowance(in_flight: int, rate: float) -> float:
    """Requests a kill may cost: those in flight, and ``COMMIT_INTERVAL`` s of work redone."""
    return in_flight + COMMIT_INTERVAL * rate


THROTTLE_WALL = 1.15
"""Issue 22: a sweep against a true limit lower than the configured one takes at most this
many times the time the limit needs; ``throttle``'s ratio is its worst such scenario."""

TARGETS: dict[str, Target] = {
    "utilisation": Target(compare=Compare.AT_LEAST, value=0.98),
    "politeness": Target(compare=Compare.AT_MOST, value=1.0, max_429s=0),
    "overhead": Target(compare=Compare.AT_LEAST, value=0.8),
    "store": Target(compare=Compare.AT_LEAST, value=0.5),
    "memory": Target(compare=Compare.AT_MOST, value=1.2),
    "resume": Target(
        compare=Compare.AT_MOST,
        formula=f"1 + (in flight + {COMMIT_INTERVAL} s of requests) / total",
    ),
    "cold_start": Target(compare=Compare.REPORT),
    "nightly": Target(
        compare=Compare.AT_MOST,
        value=0.35,
        also=(
            Bound(figure="bytes_ratio", compare=Compare.AT_MOST, value=0.15),
            Bound(figure="rows_differing", compare=Compare.EQUAL, value=0),
        ),
    ),
    "account": Target(
        compare=Compare.AT_LEAST,
        value=0.95,
        max_429s=0,
        also=(
            Bound(figure="max_per_second", compare=Compare.AT_MOST, value=10),
            Bound(figure="max_in_flight", compare=Compare.AT_MOST, value=5),
            Bound(figure="failed_tasks", compare=Compare.EQUAL, value=0),
        ),
    ),
    "throttle": Target(
        compare=Compare.AT_MOST,
        value=THROTTLE_WALL,
        also=(
            Bound(figure="failed_tasks", compare=Compare.EQUAL, value=0),
            Bound(figure="scenarios_missed", compare=Compare.EQUAL, value=0),
        ),
    ),
}
"""Each case's target, keyed by case in ``CASES`` order."""

_DONE = (
    Bound(figure="exit_code", compare=Compare.EQUAL, value=0),
    Bound(figure="failed_tasks", compare=Compare.EQUAL, value=0),
)
_REFUSED = Bound(figure="refused_per_1000", compare=Compare.AT_MOST, value=30)
_IN_TIME = Bound(figure="wall_ratio", compare=Compare.AT_MOST, value=THROTTLE_WALL)
_QUOTA_STOP = Bound(figure="exit_code", compare=Compare.EQUAL, value=76)

THROTTLE_SCENARIOS: dict[str, tuple[Bound, ...]] = {
    "429_retry_after": (*_DONE, _REFUSED, _IN_TIME),
    "429_bare": (*_DONE, _REFUSED, _IN_TIME),
    "minus5": (
        *_DONE,
        Bound(figure="refused_per_1000", compare=Compare.AT_MOST, value=50),
        _IN_TIME,
    ),
    "count_refused": (
        *_DONE,
        _REFUSED,
        Bound(figure="wall_ratio", compare=Compare.AT_MOST, value=1.2),
    ),
    "policy": (
        *_DONE,
        Bound(figure="refused_per_1000", compare=Compare.AT_MOST, value=10),
        _IN_TIME,
    ),
    "high": (*_DONE, _REFUSED, _IN_TIME),
    "drop": (
        *_DONE,
        _REFUSED,
        _IN_TIME,
        Bound(figure="drop_settle_s", compare=Compare.AT_MOST, value=5),
    ),
    "quota": (
        _QUOTA_STOP,
        Bound(figure="after_first_refusal", compare=Compare.AT_MOST, value=10),
        Bound(figure="resume_exit", compare=Compare.EQUAL, value=0),
        Bound(figure="resume_unfinished", compare=Compare.EQUAL, value=0),
        Bound(figure="failed_tasks", compare=Compare.EQUAL, value=0),
    ),
    "quota_403": (_QUOTA_STOP,),
    "noise": (*_DONE, Bound(figure="wall_ratio", compare=Compare.AT_MOST, value=1.05)),
}
"""The marks of each scenario of the ``throttle`` case (issue 22's "done when"), over its
figures: ``refused_per_1000`` counts the throttle's refusals (429s; for ``minus5`` the -5
answers of the overload), ``wall_ratio`` the child's wall time over the time the true limit
needs (``noise``: the configured 20/s, no true limit), ``drop_settle_s`` the seconds after the
drop at which three seconds in a row hold at most 1.1 x the new limit, ``after_first_refusal``
the requests the gateway received after it first refused one for the quota."""
