"""The settings' documents, written from their declaration: the docs' table and the shipped file.

``python -m harvester.docs`` writes ``settings_table()`` into docs/settings.md and
``default_toml()`` to ``config/harvester.toml``; its ``--check``, run in CI, fails when
either is stale, so neither can drift from ``config``.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator, Sequence
from typing import Any

from harvester.settings.config import SECTIONS
from harvester.settings.setting import Setting

_TABLE_HEAD = ("| section | key | default | range | meaning |", "|---|---|---|---|---|")
_TOML_HEAD = """\
# harvester settings. Every setting is shown with its default.
# Each one can be overridden by an environment variable HARVESTER_<SECTION>_<KEY>
# (for [endpoints.short_trades] rate: HARVESTER_ENDPOINTS_SHORT_TRADES_RATE),
# and some by command-line flags. Order, key by key: defaults, this file, a --config file
# (which need only hold what it changes), environment, flags.
# Relative paths are relative to the working directory.
"""
# The simulated gateway's settings are its own (harvester/simulate/settings.py checks them)
# and these values are a demonstration, not its defaults: a table of text, not derived.
_TOML_SIMULATE = """\
# The simulated gateway used by `harvester sweep --simulate` and `harvester simulate --config`.
# Unless rate_limit is set, it enforces each endpoint's rate + burst per second (429 above it).
# A demonstration, not defaults: a --config file's [simulate] table replaces it whole (none: the
# gateway's own defaults). HARVESTER_SIMULATE_<KEY> variables and `sweep --date` go over it.
[simulate]
seed = 1                             # seeds the random faults
latency = 0.05                       # seconds added to every answer
latency_jitter = 0.02                # extra random latency, up to this many seconds
error_rate = 0.02                    # fraction of answers that are -5 internal_error
http_429_rate = 0.0                  # fraction answered HTTP 429
http_5xx_rate = 0.0                  # fraction answered with an HTML 502 page
malformed_rate = 0.0                 # fraction answered with a truncated or HTML body
# no_data = ["XYZ.US"]               # symbols answered -10 no_data
# unsupported = ["29999.HK"]         # symbols answered -8 unsupported
# invalid_symbol = ["ZZZZ.US"]       # symbols answered -7 invalid_symbol
# today = "2026-05-18"               # the day served: the data as published by then
# schedules = false                  # true: each market x endpoint pair publishes on its calendar
# restate_rate = 0.05                # with schedules: fraction of publications restating a record
# holidays = ["US:2026-05-25"]       # days a market (a bare date: both) does not trade
# late = ["MSFT.US"]                 # symbols published one business day after their pair
# suspended = { "TSLA.US" = "2026-05-12" }  # no record dated on or after the date
# delisted = { "NVDA.US" = "2026-05-20" }   # answered no_data from that served day on
# restatements = ["AAPL.US:short_trades:2026-05-04:2026-05-15:1.25"]  # see docs/nightly.md
# [simulate.rate_limit]              # requests per sliding second, per endpoint (0 = none)
# short_trades = 11
# short_interest = 11
"""
_ENDPOINT = "endpoints."
_COMMENT_WIDTH = 99
_COMMENT_COLUMN = 37  # where a comment beside a value starts, as in the [simulate] table


def toml_value(value: Any) -> str:
    """``value`` as a TOML literal: booleans, numbers and basic strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are TOML's too
    return repr(value)


def _one_or_each(values: Sequence[str]) -> str:
    """The value all endpoints share, else each endpoint's joined by `` / ``."""
    return values[0] if len(set(values)) == 1 else " / ".join(values)


def _row(section: str, same: Sequence[Setting], names: Sequence[str]) -> str:
    """One table row for a setting, or for one key of every endpoint's section at once."""
    first = same[0]
    defaults = [f"`{toml_value(spec.default)}`" for spec in same]
    rules = [spec.rule for spec in same]
    default, rule = first.shown or _one_or_each(defaults), _one_or_each(rules)
    doc = first.doc
    if not first.shown and (len(set(defaults)) > 1 or len(set(rules)) > 1):
        doc += f" ({' / '.join(f'`{name}`' for name in names)})"
    elif names and len(names) < sum(1 for name in SECTIONS if name.startswith(_ENDPOINT)):
        doc += f" (only {', '.join(f'`{name}`' for name in names)})"
    cells = (f"`[{section}]`", f"`{first.key}`", default, rule, doc)
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def _groups() -> Iterator[tuple[str, Sequence[Setting], Sequence[str]]]:
    """Each table row's section, settings and endpoint names; endpoints share their rows."""
    for section, specs in SECTIONS.items():
        if not section.startswith(_ENDPOINT):
            yield from ((section, (spec,), ()) for spec in specs)
    endpoints = {
        name.removeprefix(_ENDPOINT): specs
        for name, specs in SECTIONS.items()
        if name.startswith(_ENDPOINT)
    }
    # A key some data sets lack (``path``: the OpenAPI's own) gets the row of those that have it.
    for key in dict.fromkeys(spec.key for specs in endpoints.values() for spec in specs):
        having = {
            name: spec for name, specs in endpoints.items() for spec in specs if spec.key == key
        }
        yield f"{_ENDPOINT}NAME", tuple(having.values()), tuple(having)


def settings_table() -> str:
    """The Markdown table of every setting, as docs/settings.md holds it."""
    rows = [_row(section, same, names) for section, same, names in _groups()]
    return "\n".join((*_TABLE_HEAD, *rows)) + "\n"


def _plain(text: str) -> str:
    """Markdown's code marks dropped, for a TOML comment."""
    return text.replace("`", "")


def _lines(spec: Setting) -> list[str]:
    """A setting in the shipped file: its help above it, what it accepts beside it."""
    lines = textwrap.wrap(
        _plain(spec.doc),
        _COMMENT_WIDTH,
        initial_indent="# ",
        subsequent_indent="# ",
        break_long_words=False,
        break_on_hyphens=False,
    )
    line = f"{spec.key} = {toml_value(spec.default)}"
    if spec.rule:
        line += " " * max(2, _COMMENT_COLUMN - len(line)) + f"# {_plain(spec.rule)}"
    return [*lines, line]


def default_toml() -> str:
    """The text of the shipped ``config/harvester.toml``: every setting at its default."""
    lines = [_TOML_HEAD]
    for section, specs in SECTIONS.items():
        lines.append(f"[{section}]")
        for spec in specs:
            lines += _lines(spec)
        lines.append("")
    lines.append(_TOML_SIMULATE)
    return "\n".join(lines)
