"""Synthetic universes: any number of distinct, real-looking US and HK symbols.

About 70% are US tickers of one to five letters (a few with a share class,
``BRK.B``) and 30% HK codes of one to five digits, written in every style the
symbols file accepts (``AAPL.US``, ``US.AAPL``, ``700.HK``, ``00700.HK``,
``HK.00700``, lower case). The same size and seed always give the same file.
"""

from __future__ import annotations

import random
import string
from pathlib import Path

from harvester.model import Symbol
from harvester.settings.symbols import parse_symbol

DEFAULT_SEED = 20260518
US_SHARE = 0.7
CLASS_SHARE = 0.01  # US tickers with a share class, like BRK.B
HK_MAX = 90_000  # past this many HK codes the rest of a universe is US
HK_SHORT_SHARE = 0.8  # most listed HK codes have one to four digits (700, 9988); the rest five
MAX_SIZE = 5_000_000
_US_LENGTHS = (1, 2, 3, 4, 5)
_US_WEIGHTS = (1, 6, 30, 45, 18)  # three- and four-letter tickers are the common ones
_US_STYLES = ("{code}.US", "US.{code}", "{lower}.us", "us.{lower}")
_US_STYLE_WEIGHTS = (50, 25, 15, 10)
_HK_STYLES = ("{code}.HK", "{padded}.HK", "HK.{padded}", "hk.{padded}", "{code}.hk", "HK.{code}")
_HK_STYLE_WEIGHTS = (35, 25, 20, 8, 7, 5)


def securities(size: int, seed: int = DEFAULT_SEED) -> list[Symbol]:
    """``size`` distinct securities, US and HK mixed in a seeded order."""
    if not 0 <= size <= MAX_SIZE:
        raise ValueError(f"universe size must be 0..{MAX_SIZE}, got {size}")
    rng = random.Random(f"bench-universe:{seed}:{size}")
    hk = min(round(size * (1 - US_SHARE)), HK_MAX)
    chosen = [Symbol(str(code), "HK") for code in _hk_codes(rng, hk)]
    chosen += [Symbol(code, "US") for code in _us_codes(rng, size - hk)]
    rng.shuffle(chosen)
    return chosen


def _hk_codes(rng: random.Random, count: int) -> list[int]:
    """``count`` distinct HK codes, mostly of one to four digits."""
    short = min(round(count * HK_SHORT_SHARE), 9_999)
    return rng.sample(range(1, 10_000), short) + rng.sample(range(10_000, 100_000), count - short)


def _us_codes(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct tickers; a draw that repeats one is drawn again."""
    seen: set[str] = set()
    codes: list[str] = []
    letters = string.ascii_uppercase
    while len(codes) < count:
        length = rng.choices(_US_LENGTHS, _US_WEIGHTS)[0]
        code = "".join(rng.choices(letters, k=length))
        if length < 5 and rng.random() < CLASS_SHARE:
            code += "." + rng.choice("AB")
        if code not in seen:
            seen.add(code)
            codes.append(code)
    return codes


def render(symbol: Symbol, rng: random.Random) -> str:
    """The symbol in one of the accepted styles, picked by ``rng``."""
    if symbol.market == "HK":
        style = rng.choices(_HK_STYLES, _HK_STYLE_WEIGHTS)[0]
        text = style.format(code=symbol.code, padded=symbol.code.zfill(5))
    else:
        style = rng.choices(_US_STYLES, _US_STYLE_WEIGHTS)[0]
        text = style.format(code=symbol.code, lower=symbol.code.lower())
    # Belt and braces: a style the parser would read as another security falls back
    # to the canonical form, so every line is exactly the security meant.
    return text if parse_symbol(text) == symbol else symbol.canonical


def lines(size: int, seed: int = DEFAULT_SEED) -> list[str]:
    """The symbols file's lines (no comments) for a universe of ``size``."""
    rng = random.Random(f"bench-styles:{seed}:{size}")
    return [render(symbol, rng) for symbol in securities(size, seed)]


def write(path: Path, size: int, seed: int = DEFAULT_SEED) -> Path:
    """Write a symbols file of ``size`` securities to ``path`` and return it."""
    header = f"# synthetic universe: {size} securities, seed {seed}\n"
    path.write_text(header + "\n".join(lines(size, seed)) + "\n", encoding="utf-8")
    return path
