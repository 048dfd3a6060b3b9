"""A case's outcome: its measured quantities, which two the table shows, the ratio, the verdict."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bench.targets import TARGETS

T = TypeVar("T")
Shown = tuple[tuple[str, ...], tuple[str, ...]]


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseResult:
    """What one case measured.

    ``figures`` are the measured quantities, keyed by a name that carries its
    unit (``achieved_rps``, ``peak_rss_kb``). ``shown`` names the figures of
    the table's two quantity columns. ``ok`` is None for a report-only case
    and for a case that could not run (then ``error`` says why).
    """

    name: str
    figures: dict[str, Any] = field(default_factory=dict)
    shown: Shown = ((), ())
    ratio: float | None = None
    target: str = ""
    ok: bool | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: the figures, then ``ratio``, ``target``, ``ok`` (and ``error``)."""
        data = dict(self.figures)
        data["ratio"] = None if self.ratio is None else round(self.ratio, 4)
        data["target"] = self.target
        data["ok"] = self.ok
        if self.error is not None:
            data["error"] = self.error
        return data


def judged(
    name: str,
    figures: dict[str, Any],
    shown: Shown,
    ratio: float,
    *,
    mark: float | None = None,
    served_429: int = 0,
    sound: bool = True,
) -> CaseResult:
    """The result of a case that ran, judged by its entry in ``TARGETS``.

    ``mark`` is a mark the case computed (``resume``); ``sound`` is any check
    besides the ratio that must also hold (a resumed database left whole). A
    target's ``also`` bounds are read from ``figures``.
    """
    target = TARGETS[name]
    met = target.met(ratio, mark, served_429, figures)
    return CaseResult(
        name=name,
        figures=figures,
        shown=shown,
        ratio=ratio,
        target=target.text(mark),
        ok=None if met is None else met and sound,
    )


def failed(name: str, error: str) -> CaseResult:
    """The result of a case that could not run: its target stated in words."""
    return CaseResult(name=name, target=TARGETS[name].text(), error=error)


def median_of(runs: Sequence[T], key: Callable[[T], float]) -> T:
    """The run whose ``key`` is the median (the lower one of an even count)."""
    ordered = sorted(runs, key=key)
    return ordered[(len(ordered) - 1) // 2]


def median(values: Sequence[float]) -> float:
    """The median of the values."""
    return float(statistics.median(values))
