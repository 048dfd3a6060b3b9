"""A picture of symbols' short selling: ``harvester chart`` and Datasette's chart page draw it.

One SVG, drawn here by hand (no plotting library, nothing fetched when it is shown),
with a panel per measure and a line per symbol, one colour each throughout:

- the short ratio of each trading day (``short_trades.short_ratio``, as a percent);
- the day's short volume of a US symbol, in shares (NASDAQ plus NYSE);
- the day's short turnover of an HK symbol, in HKD;
- short interest, ``short_interest.short_percent`` of each report.

A panel's time axis is its own: reports come weeks apart, trading days every day.
``read_chart`` reads the file (any ``sqlite3`` connection: the CLI's read-only one, or
Datasette's through ``execute_fn``), ``render`` is a pure function of what it read.
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from harvester.arguments import day, positive_count
from harvester.errors import UsageError
from harvester.model import symbol_from_canonical
from harvester.read.output import emit
from harvester.read.query import canonical_symbols
from harvester.settings.config import command_settings
from harvester.store.columns import SHORT_TRADES
from harvester.store.database import reading, snapshot

# Okabe and Ito's colours, told apart with any colour vision; yellow left out (white page).
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999")
MAX_SYMBOLS = len(COLOURS)
_DASHED = ' stroke-dasharray="2 3"'  # a symbol with nothing to draw, in the legend
DOTS_UP_TO = 80  # a series this short gets a dot per value, its value shown on hover

WIDTH, LEFT, RIGHT = 960, 72, 40
TOP = 84  # the title, its source line and the legend
PANEL, PLOT = 214, 150  # a panel's height, and its plot area's


@dataclass(frozen=True)
class Measure:
    """A panel: what it shows, read as ``expression`` from ``table``, for ``market`` or both."""

    name: str
    title: str
    table: str
    expression: str
    unit: str  #: ``%``, or the unit every value is in (``shares``, ``HKD``)
    market: str | None = None
    scale: float = 1.0  #: stored value times this is drawn (a fraction drawn as a percent)


_US_SHORT = (
    "CASE WHEN nasdaq_short_volume IS NULL AND nyse_short_volume IS NULL THEN NULL "
    "ELSE IFNULL(nasdaq_short_volume, 0) + IFNULL(nyse_short_volume, 0) END"
)

MEASURES = (
    Measure(
        "short_ratio",
        "Short ratio, % of the day sold short (US: of volume; HK: of turnover)",
        "short_trades",
        "short_ratio",
        "%",
        scale=100.0,
    ),
    Measure(
        "short_volume",
        "Short volume, US, {unit} a day (NASDAQ + NYSE)",
        "short_trades",
        _US_SHORT,
        SHORT_TRADES.column("nasdaq_short_volume").unit,
        "US",
    ),
    Measure(
        "short_turnover",
        "Short turnover, HK, {unit} a day",
        "short_trades",
        "short_turnover",
        SHORT_TRADES.column("short_turnover").unit,
        "HK",
    ),
    Measure(
        "short_interest",
        "Short interest, short_percent of each report (percent as upstream sends it)",
        "short_interest",
        "short_percent",
        "%",
    ),
)


@dataclass(frozen=True)
class Series:
    """One symbol's values of one measure, oldest first; None where the value is NULL."""

    symbol: str
    points: tuple[tuple[date, float | None], ...]


@dataclass(frozen=True)
class Panel:
    """A measure and the series of the symbols that have values of it."""

    measure: Measure
    series: tuple[Series, ...]


@dataclass(frozen=True)
class Chart:
    """What a picture shows: the symbols asked for, in order (their colours), and the panels."""

    symbols: tuple[str, ...]
    panels: tuple[Panel, ...]

    @property
    def missing(self) -> tuple[str, ...]:
        """The symbols with no value in any panel."""
        drawn = {series.symbol for panel in self.panels for series in panel.series}
        return tuple(symbol for symbol in self.symbols if symbol not in drawn)


# Reading ----------------------------------------------------------------------------------


def _series(
    db: sqlite3.Connection, measure: Measure, symbol: str, since: str | None, last: int | None
) -> Series:
    sql = f"SELECT trade_date, {measure.expression} FROM {measure.table} WHERE symbol = ?"
    params: list[Any] = [symbol]
    if since:
        sql += " AND trade_date >= ?"
        params.append(since)
    sql += " ORDER BY trade_date DESC LIMIT ?"
    params.append(last or -1)
    rows = db.execute(sql, params).fetchall()
    return Series(
        symbol,
        tuple(
            (date.fromisoformat(day), None if value is None else float(value) * measure.scale)
            for day, value in reversed(rows)
        ),
    )


def read_chart(
    db: sqlite3.Connection,
    symbols: Sequence[str],
    *,
    since: str | None = None,
    last: int | None = None,
) -> Chart:
    """The panels of canonical ``symbols``: rows from ``since`` on, or each series' ``last``."""
    if len(symbols) > MAX_SYMBOLS:
        raise UsageError(f"at most {MAX_SYMBOLS} symbols in one chart (got {len(symbols)})")
    panels = []
    for measure in MEASURES:
        every = (
            _series(db, measure, symbol, since, last)
            for symbol in symbols
            if measure.market in (None, symbol_from_canonical(symbol).market)
        )
        drawn = tuple(s for s in every if any(value is not None for _, value in s.points))
        if drawn:
            panels.append(Panel(measure, drawn))
    return Chart(tuple(symbols), tuple(panels))


# Drawing ----------------------------------------------------------------------------------


def nice_step(span: float, ticks: int = 4) -> float:
    """A round step (1, 2 or 5 times a power of ten) cutting ``span`` in about ``ticks``."""
    raw = span / ticks if span > 0 else 1.0
    power = 10 ** math.floor(math.log10(raw))
    return next(power * f for f in (1, 2, 5, 10) if power * f >= raw * 0.999)


def tick_label(value: float, unit: str) -> str:
    """A y axis label: ``20%``, ``1.5M``, ``250K``, ``0``."""
    if unit == "%":
        return f"{value:.4g}%"
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            return f"{value / size:.4g}{suffix}"
    return f"{value:.4g}"


def value_text(value: float, unit: str) -> str:
    """A value as a dot's hover text gives it: ``21.15%``, ``1,282,791,000 HKD``."""
    if unit == "%":
        return f"{value:.2f}%"
    return f"{value:,.0f} {unit}"


def _days(panel: Panel) -> tuple[date, int]:
    """The panel's first day and its span in days (at least 1)."""
    days = [day for series in panel.series for day, _ in series.points]
    first = min(days)
    return first, max((max(days) - first).days, 1)


def _x_ticks(first: date, span: int) -> list[int]:
    """Up to six days, as offsets from ``first``, evenly spread over the span."""
    count = min(6, span + 1)
    return sorted({round(i * span / (count - 1)) for i in range(count)})


def _path(points: Sequence[tuple[float, float | None]]) -> str:
    """An SVG path through the points; a None value breaks the line."""
    parts, pen_down = [], False
    for x, y in points:
        if y is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{x:.1f},{y:.1f}")
        pen_down = True
    return " ".join(parts)


def _panel(panel: Panel, top: float, colours: dict[str, str]) -> list[str]:
    """The SVG of one panel, its top at ``top``."""
    measure = panel.measure
    values = [v for series in panel.series for _, v in series.points if v is not None]
    low, high = min(0.0, min(values)), max(0.0, max(values))
    step = nice_step(high - low)
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step or step
    first, span = _days(panel)
    plot_top, plot_w = top + 30, WIDTH - LEFT - RIGHT

    def x(day: date) -> float:
        return LEFT + (day - first).days / span * plot_w

    def y(value: float | None) -> float | None:
        return None if value is None else plot_top + (high - value) / (high - low) * PLOT

    title = measure.title.format(unit=measure.unit)
    out = [
        f'<g class="panel" data-measure="{measure.name}">',
        f'<text x="{LEFT}" y="{top + 16:.0f}" font-weight="bold">{escape(title)}</text>',
    ]
    for i in range(round((high - low) / step) + 1):
        value = low + i * step
        at = y(value)
        colour = "#999" if value == 0 else "#e3e3e3"
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{at:.1f}" y2="{at:.1f}" '
            f'stroke="{colour}"/><text x="{LEFT - 6}" y="{at:.1f}" dy="4" text-anchor="end" '
            f'fill="#555">{tick_label(value, measure.unit)}</text>'
        )
    bottom = plot_top + PLOT
    for offset in _x_ticks(first, span):
        day_ = date.fromordinal(first.toordinal() + offset)
        at = x(day_)
        out.append(
            f'<line x1="{at:.1f}" x2="{at:.1f}" y1="{bottom}" y2="{bottom + 4}" stroke="#999"/>'
            f'<text x="{at:.1f}" y="{bottom + 18}" text-anchor="middle" fill="#555">'
            f"{day_.isoformat()}</text>"
        )
    for series in panel.series:
        colour, label = colours[series.symbol], escape(series.symbol)
        points = [(x(day_), y(value)) for day_, value in series.points]
        out.append(
            f'<path class="series" data-symbol={quoteattr(series.symbol)} d="{_path(points)}" '
            f'fill="none" stroke="{colour}" stroke-width="2" stroke-linejoin="round">'
            f"<title>{label}: {escape(title)}</title></path>"
        )
        if len(points) <= DOTS_UP_TO:
            out.extend(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{colour}"><title>{label} '
                f"{day_.isoformat()}: {value_text(value, measure.unit)}</title></circle>"
                for (px, py), (day_, value) in zip(points, series.points, strict=True)
                if value is not None and py is not None
            )
    out.append("</g>")
    return out


def render(chart: Chart, source: str = "") -> str:
    """The chart as a standalone SVG document (also fit to be put inline in HTML)."""
    colours = dict(zip(chart.symbols, COLOURS, strict=False))
    height = TOP + PANEL * len(chart.panels) + 8
    title = "Short selling of " + ", ".join(chart.symbols)
    note = "Hover a dot for its value. " if any(p.series for p in chart.panels) else ""
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="harvester-chart" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" '
        'font-size="12" role="img">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{height}" fill="#fff"/>',
        f'<text x="16" y="26" font-size="18" font-weight="bold">{escape(title)}</text>',
        f'<text x="16" y="46" fill="#555">{escape(note + source)}</text>',
    ]
    at = 16.0
    for symbol in chart.symbols:
        missing = symbol in chart.missing
        label = escape(symbol + (": no rows stored" if missing else ""))
        out.append(
            f'<g class="legend"><line x1="{at:.0f}" x2="{at + 22:.0f}" y1="64" y2="64" '
            f'stroke="{colours[symbol]}" stroke-width="3"{_DASHED if missing else ""}/>'
            f'<text x="{at + 28:.0f}" y="68">{label}</text></g>'
        )
        at += 28 + 7.5 * len(label) + 24
    for index, panel in enumerate(chart.panels):
        out.extend(_panel(panel, TOP + index * PANEL, colours))
    out.append("</svg>")
    return "\n".join(out) + "\n"


# The command ------------------------------------------------------------------------------


def _chart(args: argparse.Namespace) -> int:
    symbols = canonical_symbols(args.chart_symbols)
    path = Path(command_settings(args).sweep.db)
    with reading(path) as db:
        chart = snapshot(
            db, lambda conn: read_chart(conn, symbols, since=args.since, last=args.last)
        )
    if not chart.panels:
        window = f" from {args.since} on" if args.since else ""
        raise UsageError(
            f"no short_trades or short_interest rows stored{window} for "
            f"{', '.join(symbols)}: nothing to draw"
        )
    text = render(chart, f"From {path.name}.").encode()
    code = emit(args.output, lambda out: out.write(text))
    for symbol in chart.missing:
        sys.stderr.write(f"harvester: {symbol}: no rows stored to draw\n")
    return code


_EXAMPLES = """\
examples:
  harvester chart 00700.HK AAPL.US -o chart.svg
  harvester chart HK.09988 --since 2026-01-01 -o 9988.svg
"""


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``chart`` to ``commands`` (argparse subparsers), with the ``common`` flags."""
    chart = commands.add_parser(
        "chart",
        parents=[common],
        help="draw symbols' short ratio, short volume and short interest as SVG",
        description="Draw the stored series of up to "
        f"{MAX_SYMBOLS} symbols as one SVG picture: a panel each for the short ratio, the "
        "short volume (US, shares) or turnover (HK, HKD), and short interest; a line per "
        "symbol. Exits 0, or 2 with one line (a symbol that does not parse, no rows to "
        "draw, a file that cannot be read or written).",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Not ``symbols``: that is the --symbols flag's name (settings.config.FLAGS).
    chart.add_argument(
        "chart_symbols",
        nargs="+",
        metavar="SYMBOL",
        help="in any accepted style: 700.HK, 00700.HK, HK.00700, AAPL.US, US.AAPL",
    )
    window = chart.add_mutually_exclusive_group()
    window.add_argument(
        "--last", type=positive_count, metavar="N", help="each series' N newest days or reports"
    )
    window.add_argument("--since", type=day, metavar="DATE", help="from DATE on (YYYY-MM-DD)")
    chart.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the SVG to FILE, whole or not at all (default, or -: stdout)",
    )
    chart.set_defaults(run=_chart)
