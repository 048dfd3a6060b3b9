"""Named fault modes and the deterministic choice of which request gets one.

A fault is chosen per (symbol, endpoint, request number for that pair), never
from a shared random stream, so the order in which concurrent requests arrive
does not change which request of a symbol fails.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence

FAULTS: tuple[str, ...] = (
    "internal_error",
    "invalid_parameter",
    "invalid_symbol",
    "unsupported",
    "no_data",
    "unknown_code",
    "http_429",
    "http_400",
    "http_502_html",
    "http_500",
    "html_200",
    "truncated",
    "reset",
    "ok",
)
"""Every fault name a script may use; ``ok`` stands for a normal answer."""

REPEAT = "*"
"""Last element of a script: repeat the element before it forever."""


def unit_interval(*parts: object) -> float:
    """Map the parts to a number in [0, 1) that is the same in every process."""
    # blake2b rather than hash(): str hashing is salted per process.
    key = "\x1f".join(str(part) for part in parts).encode()
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def scripted_fault(script: Sequence[str], n: int) -> str | None:
    """Return the scripted fault for the request numbered ``n`` (from 0), if any."""
    if script and script[-1] == REPEAT:
        steps = script[:-1]
        return steps[min(n, len(steps) - 1)]
    return script[n] if n < len(script) else None


def random_fault(
    rates: Mapping[str, float], seed: int, key: str, endpoint: str, n: int
) -> str | None:
    """Pick a fault by the configured rates, or None for a normal answer.

    ``rates`` maps ``internal_error``, ``http_429``, ``http_5xx`` and
    ``malformed`` to fractions that together stay at or below one.
    """
    draw = unit_interval(seed, key, endpoint, n, "fault")
    edge = 0.0
    for name in ("internal_error", "http_429", "http_5xx", "malformed"):
        edge += rates.get(name, 0.0)
        if draw < edge:
            return _concrete(name, seed, key, endpoint, n)
    return None


def _concrete(name: str, seed: int, key: str, endpoint: str, n: int) -> str:
    """Turn a rate family into one fault name."""
    if name == "http_5xx":
        return "http_502_html"
    if name == "malformed":
        # Half truncated JSON, half an HTML page with status 200.
        coin = unit_interval(seed, key, endpoint, n, "malformed")
        return "truncated" if coin < 0.5 else "html_200"
    return name


class FaultPlan:
    """Counts requests per (symbol, endpoint) and says which fault each one gets."""

    def __init__(
        self,
        *,
        seed: int,
        rates: Mapping[str, float],
        scripted: Mapping[str, Sequence[str]],
    ) -> None:
        self._seed = seed
        self._rates = dict(rates)
        self._random = any(rate > 0 for rate in self._rates.values())
        self._scripted = dict(scripted)
        self._served: Counter[tuple[str, str]] = Counter()

    def __repr__(self) -> str:
        return f"<FaultPlan seed={self._seed} keys={len(self._served)}>"

    def next_fault(self, key: str, endpoint: str) -> tuple[str | None, int]:
        """Consume one request number for the pair; return (fault or None, number)."""
        n = self._served[key, endpoint]
        self._served[key, endpoint] = n + 1
        fault = scripted_fault(self._scripted.get(key, ()), n)
        if fault is None and self._random:
            fault = random_fault(self._rates, self._seed, key, endpoint, n)
        return (None if fault == "ok" else fault), n
