"""How the bench was asked to run: quick or full, and how many runs of the noisy cases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

MIN_RPS = 100.0  # an unthrottled sweep slower than this many requests/s times out
SLACK = 60.0  # seconds every child gets on top of what its work should take


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """``quick`` shrinks every universe; ``runs`` repeats the noisy measurements."""

    quick: bool = False
    runs: int = 3

    def pick(self, full: T, quick: T) -> T:
        """``quick`` in quick mode, else ``full``."""
        return quick if self.quick else full


def rate_limited_timeout(requests: float, rate: float) -> float:
    """Seconds a sweep of ``requests`` at ``rate`` requests/s gets before it is killed."""
    return SLACK + 3 * requests / rate


def unthrottled_timeout(requests: float) -> float:
    """Seconds an unthrottled sweep of ``requests`` gets before it is killed."""
    return SLACK + requests / MIN_RPS
