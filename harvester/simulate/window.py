"""The sliding one-second window that every limit and counter of the gateway rests on.

It runs on a monotonic clock the caller passes in, so tests drive a fake clock
instead of sleeping.
"""

from __future__ import annotations

from collections import deque

WINDOW = 1.0
"""Width of the sliding window, seconds."""


class SlidingWindow:
    """Event times within the last :data:`WINDOW` seconds."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()

    def __len__(self) -> int:
        return len(self._times)

    def __repr__(self) -> str:
        return f"<SlidingWindow events={len(self._times)}>"

    def advance(self, now: float) -> int:
        """Forget events a full window old; return how many remain."""
        while self._times and now - self._times[0] >= WINDOW:
            self._times.popleft()
        return len(self._times)

    def add(self, now: float) -> int:
        """Record an event at ``now``; return the events in the window ending now."""
        self.advance(now)
        self._times.append(now)
        return len(self._times)

    def until_below(self, now: float, n: int) -> float:
        """Seconds from ``now`` until fewer than ``n`` (>= 1) events remain; 0 if already so."""
        held = self.advance(now)
        if held < n:
            return 0.0
        return self._times[held - n] + WINDOW - now
