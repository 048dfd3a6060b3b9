"""How the bench was asked to run: quick or full, and how many runs of the noisy cases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """``quick`` shrinks every universe; ``runs`` repeats the noisy measurements."""

    quick: bool = False
    runs: int = 3

    def pick(self, full: T, quick: T) -> T:
        """``quick`` in quick mode, else ``full``."""
        return quick if self.quick else full
