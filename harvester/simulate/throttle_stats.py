"""The throttle's figures in ``GET /_stats``: refusals, accepted per second, limit and quota.

A benchmark of an adaptive client reads them to check its promises: how many
requests the shared limit, a schedule step or the quota refused, and that no
more than so many were accepted in any of three consecutive seconds after a
drop. They run on the monotonic clock the caller passes in, as the rest of the
stats do.
"""

from __future__ import annotations

from collections.abc import Mapping

from .throttle import REASONS
from .window import WINDOW, SlidingWindow


class ThrottleStats:
    """The throttle's figures since the last reset (key ``throttle`` of ``GET /_stats``).

    ``refused`` counts refusals by reason (:data:`REASONS`); ``accepted`` the
    requests the throttle let through, ``accepted_per_second`` them in each whole
    second since the first request it saw after the reset (index 0 is the second
    that began with it), ``max_accepted_per_second`` the most in any sliding
    second. ``limit`` (0 = none) and ``limit_source`` (``shared`` or
    ``schedule``) are the shared limit in force at the latest request;
    ``quota``, ``quota_used`` and ``quota_day`` the day's quota as it stood
    then. Those last five are gauges: a reset keeps them.
    """

    def __init__(self) -> None:
        self.gauges: dict[str, object] = {
            "limit": 0,
            "limit_source": "shared",
            "quota": 0,
            "quota_used": 0,
            "quota_day": None,
        }
        self.reset()

    def __repr__(self) -> str:
        refused = sum(self.refused.values())
        return f"<ThrottleStats accepted={self.accepted} refused={refused} {self.gauges}>"

    def reset(self) -> None:
        """Zero the counters; the gauges stay as the latest request left them."""
        self.refused: dict[str, int] = dict.fromkeys(REASONS, 0)
        self.accepted = 0
        self.accepted_per_second: list[int] = []
        self.max_accepted_per_second = 0
        self._window = SlidingWindow()
        self._first: float | None = None

    def decided(self, now: float, reason: str | None, gauges: Mapping[str, object]) -> None:
        """Count a request decided at ``now``: refused for ``reason``, or accepted (None)."""
        if self._first is None:
            self._first = now
        self.gauges.update(gauges)
        if reason is not None:
            self.refused[reason] += 1
            return
        self.accepted += 1
        self.max_accepted_per_second = max(self.max_accepted_per_second, self._window.add(now))
        second = int((now - self._first) // WINDOW)
        missing = second + 1 - len(self.accepted_per_second)
        if missing > 0:
            self.accepted_per_second.extend([0] * missing)
        self.accepted_per_second[second] += 1

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-able figures."""
        return {
            "refused": dict(self.refused),
            "accepted": self.accepted,
            "accepted_per_second": list(self.accepted_per_second),
            "max_accepted_per_second": self.max_accepted_per_second,
            **self.gauges,
        }
