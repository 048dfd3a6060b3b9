"""Deterministic random numbers, the same in every process (never ``hash()``).

Per-symbol constants come from a blake2b digest of the symbol: sixteen 32-bit
words, each one independent draw. Daily figures need several draws for each
of up to a hundred records per request, and seeding a ``random.Random`` (or
even hashing) per record made the gateway slow. So days take their draws from
a fixed :func:`pool` of rows made once from blake2b, and each symbol walks the
pool from its own start with its own odd stride: row ``(start + ordinal *
stride) % POOL_SIZE`` belongs to the day with that ordinal. A row depends on
the symbol and the date alone, and a symbol's days repeat only every
:data:`POOL_SIZE` days, far more than any window the gateway serves.
"""

from __future__ import annotations

import functools
import math
import struct
from hashlib import blake2b

WORDS = 16
"""Words in one digest."""

POOL_SIZE = 4096
"""Rows in the pool: a power of two, so every odd stride visits all of them."""

NORMALS = 12
"""A pool row holds this many standard normal draws, then four uniform ones in [0, 1)."""

_UNPACK = struct.Struct(f"<{WORDS}I").unpack
_SCALE = 2.0**-32


def words(key: bytes) -> tuple[int, ...]:
    """Sixteen words in ``[0, 2**32)`` drawn from ``key``."""
    return _UNPACK(blake2b(key, digest_size=4 * WORDS).digest())


def uniform(word: int, low: float, high: float) -> float:
    """A number evenly spread over ``[low, high)``."""
    return low + (high - low) * word * _SCALE


def log_uniform(word: int, low: float, high: float) -> float:
    """A number evenly spread on a log scale, for sizes spanning orders of magnitude."""
    return low * (high / low) ** (word * _SCALE)


def walk(word: int, other: int) -> tuple[int, int]:
    """A symbol's (start, stride) in the pool, from two of its words."""
    return word % POOL_SIZE, other % POOL_SIZE | 1


@functools.cache
def pool() -> tuple[tuple[float, ...], ...]:
    """The rows of daily draws; made on first use, as that takes some 30 ms."""
    return tuple(_row(words(b"pool|%d" % i)) for i in range(POOL_SIZE))


def _row(w: tuple[int, ...]) -> tuple[float, ...]:
    """Normals by Box-Muller (both of each pair), then uniforms, from one digest."""
    row: list[float] = []
    for first, second in zip(w[0:NORMALS:2], w[1:NORMALS:2], strict=True):
        radius = math.sqrt(-2.0 * math.log((first + 1) * _SCALE))
        angle = math.tau * second * _SCALE
        row += (radius * math.cos(angle), radius * math.sin(angle))
    row += (word * _SCALE for word in w[NORMALS:])
    return tuple(row)
