"""``harvester chart``: the SVG picture of symbols' series, drawn from the stored rows.

The drawing is checked as a pure function of what was read (ticks, labels, a gap for a
NULL, the legend of a symbol with no rows), the reading and the command on the swept
file: every line has a point per stored value, in the right panel, and the file is
SVG any browser opens. The browser's view of the same picture is tests/read/test_browser.py.
"""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest
from fixtures_swept import Swept

from harvester.read.chart import (
    MAX_SYMBOLS,
    MEASURES,
    Chart,
    Panel,
    Series,
    nice_step,
    read_chart,
    render,
    tick_label,
    value_text,
)
from harvester.store.database import open_read_only

SVG = "{http://www.w3.org/2000/svg}"
Run = Callable[..., subprocess.CompletedProcess[str]]
MEASURE = {measure.name: measure for measure in MEASURES}

pytestmark = pytest.mark.timeout(60)


def _lines(svg: str) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """Each drawn line's points by (panel, symbol); the document must be well-formed XML."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    lines = {}
    for panel in root.iter(f"{SVG}g"):
        if panel.get("class") != "panel":
            continue
        for path in panel.iter(f"{SVG}path"):
            points = re.findall(r"[ML](-?[\d.]+),(-?[\d.]+)", path.get("d", ""))
            lines[panel.get("data-measure", ""), path.get("data-symbol", "")] = [
                (float(x), float(y)) for x, y in points
            ]
    return lines


def _count(db: Path, column: str, table: str, symbol: str) -> int:
    with closing(open_read_only(db)) as conn:
        return int(
            conn.execute(
                f"SELECT COUNT({column}) FROM {table} WHERE symbol = ?", (symbol,)
            ).fetchone()[0]
        )


# Drawing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("span", "step"),
    [(1.0, 0.5), (0.36, 0.1), (40, 10), (7.2, 2), (14_000_000, 5_000_000), (0, 1)],
)
def test_steps_are_round(span: float, step: float) -> None:
    assert nice_step(span) == pytest.approx(step)


def test_labels_say_the_unit_in_few_characters() -> None:
    assert [tick_label(v, "HKD") for v in (0, 500_000, 1_500_000, 2e9)] == [
        "0",
        "500K",
        "1.5M",
        "2B",
    ]
    assert tick_label(30.000000000000004, "%") == "30%"
    assert value_text(21.15, "%") == "21.15%"
    assert value_text(1282791000.0, "HKD") == "1,282,791,000 HKD"


def test_a_null_breaks_the_line_and_each_value_gets_a_dot_with_its_text() -> None:
    days = [date(2026, 5, d) for d in (11, 12, 13, 14)]
    series = Series("700.HK", tuple(zip(days, (0.2, None, 0.25, 0.3), strict=True)))
    chart = Chart(("700.HK", "ZZZZ.US"), (Panel(MEASURE["short_ratio"], (series,)),))
    svg = render(chart, "From test.sqlite.")
    root = ET.fromstring(svg)
    (path,) = (p for p in root.iter(f"{SVG}path") if p.get("class") == "series")
    assert re.fullmatch(r"M[\d.,]+ M[\d.,]+ L[\d.,]+", path.get("d", ""))  # a gap on the 12th
    dots = [c.findtext(f"{SVG}title") for c in root.iter(f"{SVG}circle")]
    assert dots == [
        "700.HK 2026-05-11: 0.20%",
        "700.HK 2026-05-13: 0.25%",
        "700.HK 2026-05-14: 0.30%",
    ]
    legend = [t.text for g in root.iter(f"{SVG}g") if g.get("class") == "legend" for t in g]
    assert "ZZZZ.US: no rows stored" in legend
    assert chart.missing == ("ZZZZ.US",)
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")  # nothing fetched


# Reading the swept file -------------------------------------------------------------------


def test_each_panel_has_a_line_per_symbol_of_its_market(swept: Swept) -> None:
    with closing(open_read_only(swept.db)) as db:
        chart = read_chart(db, ["700.HK", "AAPL.US"])
        last = read_chart(db, ["700.HK"], last=5)
        since = read_chart(db, ["AAPL.US"], since="2026-05-01")
    drawn = {
        (panel.measure.name, series.symbol): series
        for panel in chart.panels
        for series in panel.series
    }
    assert set(drawn) == {
        ("short_ratio", "700.HK"),
        ("short_ratio", "AAPL.US"),
        ("short_volume", "AAPL.US"),
        ("short_turnover", "700.HK"),
        ("short_interest", "700.HK"),
        ("short_interest", "AAPL.US"),
    }
    ratio = drawn["short_ratio", "700.HK"].points
    assert len(ratio) == _count(swept.db, "short_ratio", "short_trades", "700.HK")
    assert [day for day, _ in ratio] == sorted(day for day, _ in ratio)
    (stored,) = swept.rows(
        "SELECT short_ratio FROM short_trades WHERE symbol = '700.HK' ORDER BY trade_date DESC"
    )[0]
    assert ratio[-1][1] == pytest.approx(stored * 100)  # drawn as a percent
    assert all(len(series.points) == 5 for panel in last.panels for series in panel.series)
    assert all(
        day >= date(2026, 5, 1)
        for panel in since.panels
        for series in panel.series
        for day, _ in series.points
    )


def test_more_symbols_than_colours_are_refused(swept: Swept) -> None:
    from harvester.errors import UsageError

    with closing(open_read_only(swept.db)) as db, pytest.raises(UsageError, match="at most"):
        read_chart(db, [f"{n}.HK" for n in range(1, MAX_SYMBOLS + 2)])


# The command --------------------------------------------------------------------------------


def test_the_command_draws_any_style_of_symbol_into_a_file(
    swept: Swept, tmp_path: Path, harvester: Run
) -> None:
    out = tmp_path / "chart.svg"
    result = harvester("chart", "00700.HK", "US.AAPL", "--db", str(swept.db), "-o", str(out))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    lines = _lines(out.read_text(encoding="utf-8"))
    assert len(lines["short_turnover", "700.HK"]) == _count(
        swept.db, "short_turnover", "short_trades", "700.HK"
    )
    assert len(lines["short_volume", "AAPL.US"]) == _count(
        swept.db, "nasdaq_short_volume", "short_trades", "AAPL.US"
    )
    assert len(lines["short_interest", "AAPL.US"]) == _count(
        swept.db, "short_percent", "short_interest", "AAPL.US"
    )
    for points in lines.values():  # inside the picture
        assert all(0 <= x <= 960 and y >= 0 for x, y in points)
    to_stdout = harvester("chart", "5.HK", "--last", "3", "--db", str(swept.db))
    assert to_stdout.returncode == 0
    assert all(len(points) == 3 for points in _lines(to_stdout.stdout).values())


def test_a_symbol_without_rows_is_named_and_the_others_drawn(
    swept: Swept, tmp_path: Path, harvester: Run, only_line: Callable[..., str]
) -> None:
    out = tmp_path / "chart.svg"
    result = harvester("chart", "700.HK", "NODATA.US", "--db", str(swept.db), "-o", str(out))
    assert result.returncode == 0
    assert result.stderr == "harvester: NODATA.US: no rows stored to draw\n"
    assert "NODATA.US: no rows stored" in out.read_text(encoding="utf-8")
    none = only_line(harvester("chart", "NODATA.US", "--db", str(swept.db), "-o", str(out)))
    assert "nothing to draw" in none and "NODATA.US" in none
    late = only_line(harvester("chart", "700.HK", "--since", "2099-01-01", "--db", str(swept.db)))
    assert "from 2099-01-01 on" in late


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["AAPL"], "did you mean AAPL.US?"),
        (["600519.SH"], "market SH"),
        (["700.HK", "--since", "2026-13-01"], "not a date"),
        (["700.HK", "--last", "0"], "not a positive whole number"),
    ],
)
def test_bad_arguments_are_one_line(
    swept: Swept, harvester: Run, only_line: Callable[..., str], args: list[str], words: str
) -> None:
    assert words in only_line(harvester("chart", *args, "--db", str(swept.db)))


def test_help_shows_an_example(harvester: Run) -> None:
    result = harvester("chart", "-h")
    assert result.returncode == 0
    assert "examples:\n  harvester chart 00700.HK AAPL.US -o chart.svg" in result.stdout
