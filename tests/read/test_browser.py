"""What a person sees of ``harvester explore`` in a real browser: headless Chromium.

The index, a table, a view, a canned query and the chart page of a swept file, served
by ``harvester explore`` as a user starts it, each loaded in Chromium at 1400x1000 and
read back as the page stands once its scripts ran: the rows present and on the first
screen, units under the column names, amounts as ``1,282,791,000``, the chart's lines
drawn with a point per stored row.

Chromium is driven over its DevTools pipe (``--remote-debugging-pipe``: JSON messages
on file descriptors 3 and 4), so no Python package is needed, only Debian's
``chromium``, which ``.ci/run`` installs. The tests skip, saying why, where there is no
Chromium and no way to get it; under CI (``CI`` set) a missing browser fails them.
Every process started here is ended by its pid, and every wait has a deadline.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

import pytest
from fixtures_swept import Swept

from harvester.store.columns import VIEWS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

NAME = "harvest"  # Datasette's name for the database: the file's stem
SCREEN = (1400, 1000)
BROWSERS = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",  # as root, here and in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these it calls Google's hosts at start: refused on a machine with no network.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)
WAIT = 30.0  # seconds a page, or an answer of the browser, may take


def _chromium() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    reason = "no Chromium on this machine (apt-get install chromium; .ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(reason + ", and CI must run the browser tests")
    pytest.skip(reason)


class Browser:
    """Headless Chromium, one tab, driven over the DevTools protocol on a pipe."""

    def __init__(self, executable: str, profile: Path, log: Path) -> None:
        to_browser, self._commands = os.pipe()
        self._answers, from_browser = os.pipe()
        with log.open("wb") as out:
            # The browser reads commands on its fd 3 and writes answers on its fd 4.
            self.process = subprocess.Popen(
                [
                    "bash",  # dash takes only one-digit descriptors in 3<&N
                    "-c",
                    f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser}',
                    executable,
                    *FLAGS,
                    f"--user-data-dir={profile}",
                    f"--window-size={SCREEN[0]},{SCREEN[1]}",
                    "about:blank",
                ],
                pass_fds=(to_browser, from_browser),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next = 0
        self._events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.call("Page.enable", session=True)
        width, height = SCREEN
        self.call(
            "Emulation.setDeviceMetricsOverride",
            session=True,
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._answers], [], [], max(left, 0))
            assert ready, f"Chromium said nothing within {WAIT:g}s"
            chunk = os.read(self._answers, 1 << 20)
            assert chunk, f"Chromium closed its pipe (exit {self.process.poll()})"
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return dict(json.loads(message))

    def call(self, method: str, *, session: bool = False, **params: Any) -> dict[str, Any]:
        """Send one command and return its result; a protocol error fails the test."""
        self._next += 1
        command: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            command["sessionId"] = self._session
        os.write(self._commands, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + WAIT
        while True:
            message = self._message(deadline)
            if message.get("id") == self._next:
                assert "error" not in message, (method, message["error"])
                return dict(message.get("result", {}))
            self._events.append(message)

    def open(self, url: str) -> None:
        """Load ``url`` and wait for its load event (its scripts have run by then)."""
        self._events.clear()
        result = self.call("Page.navigate", session=True, url=url)
        assert not result.get("errorText"), (url, result)
        deadline = time.monotonic() + WAIT
        while not any(event.get("method") == "Page.loadEventFired" for event in self._events):
            self._events.append(self._message(deadline))

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-able)."""
        result = self.call(
            "Runtime.evaluate",
            session=True,
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        """The first screen as a PNG, for a person to look at when a test fails."""
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """Ask the browser to quit; then end it by its pid if it has not."""
        with suppress(OSError):  # it may be gone already
            os.write(
                self._commands, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0"
            )
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        finally:
            os.close(self._commands)
            os.close(self._answers)


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status)
    except OSError:
        return 0


@pytest.fixture(scope="module")
def served(
    swept: Swept,
    tmp_path_factory: pytest.TempPathFactory,
    clean_env: Callable[..., dict[str, str]],
    wait_until: Callable[[Callable[[], object], float, str], None],
) -> Iterator[tuple[str, Path]]:
    """``harvester explore`` on a copy of the swept file, as a user starts it: (URL, file)."""
    pytest.importorskip("datasette")
    folder = tmp_path_factory.mktemp("browser")
    db = folder / "harvest.sqlite"
    with closing(sqlite3.connect(swept.db)) as source, closing(sqlite3.connect(db)) as target:
        source.backup(target)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = folder / "explore.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "harvester", "explore", "--db", str(db), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=clean_env(TMPDIR=str(folder)),
        )
    url = f"http://127.0.0.1:{port}/"
    try:

        def up() -> bool:
            assert process.poll() is None, log.read_text()
            return _get(url) == 200

        wait_until(up, WAIT, f"harvester explore answering on {url}")
        yield url, db
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Headless Chromium with a fresh profile, ended when the module's tests are done."""
    folder = tmp_path_factory.mktemp("chromium")
    started = Browser(_chromium(), folder / "profile", folder / "chromium.log")
    try:
        yield started
    finally:
        started.close()


def _rows(db: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql, params).fetchall()


# What the page shows: its table's head (each column's name and unit), its cells, and where
# its first row is; the folded column descriptions.
TABLE_SEEN = """(() => {
  const table = document.querySelector("table.rows-and-columns");
  const heads = table ? [...table.querySelectorAll("thead th")] : [];
  const names = heads.map((th) => th.dataset.column || th.firstChild.textContent.trim());
  const rows = table ? [...table.querySelectorAll("tbody tr")] : [];
  const units = {};
  heads.forEach((th, i) => {
    const unit = th.querySelector(".harvester-unit");
    if (unit && unit.offsetHeight > 0) units[names[i]] = unit.innerText.trim();
  });
  return {
    names,
    units,
    cells: rows.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.innerText.trim())),
    firstRowTop: rows.length ? rows[0].getBoundingClientRect().top : null,
    firstRowBottom: rows.length ? rows[0].getBoundingClientRect().bottom : null,
    screen: window.innerHeight,
    folded: [...document.querySelectorAll("details.harvester-columns")].map(
      (d) => !d.open && d.querySelector("dl.column-descriptions") !== null),
    zero: document.querySelector("p.zero-results")?.innerText ?? null,
  };
})()"""


def _table(browser: Browser, url: str, shot: Path) -> dict[str, Any]:
    browser.open(url)
    seen = dict(browser.evaluate(TABLE_SEEN))
    seen["shot"] = browser.screenshot(shot)
    return seen


def _column(seen: dict[str, Any], name: str) -> list[str]:
    index = seen["names"].index(name)
    return [row[index] for row in seen["cells"]]


def _amount(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,}"


def test_the_index_links_every_view_and_the_chart(
    served: tuple[str, Path], browser: Browser, tmp_path: Path
) -> None:
    url, _ = served
    browser.open(url)
    links = browser.evaluate(
        """[...document.querySelectorAll(".metadata-description a")]
           .filter((a) => a.offsetHeight > 0).map((a) => [a.innerText.trim(), a.href])"""
    )
    shot = browser.screenshot(tmp_path / "index.png")
    named = dict(links)
    for view in VIEWS:
        assert named.get(view.name) == f"{url}{NAME}/{view.name}", (view.name, shot)
    chart = [href for text, href in links if text.startswith("short ratio, short volume")]
    assert chart == [f"{url}{NAME}/-/chart"], shot
    assert all(_get(href) == 200 for _, href in links), shot


def test_a_table_shows_its_rows_on_the_first_screen_with_units_and_amounts(
    served: tuple[str, Path], browser: Browser, tmp_path: Path
) -> None:
    url, db = served
    seen = _table(
        browser,
        f"{url}{NAME}/short_trades?symbol=700.HK&_sort_desc=trade_date",
        tmp_path / "table.png",
    )
    stored = _rows(
        db,
        "SELECT short_turnover, total_turnover FROM short_trades WHERE symbol = '700.HK' "
        "ORDER BY trade_date DESC",
    )
    shot = seen["shot"]
    assert len(seen["cells"]) == len(stored) > 0, shot
    # The rows start on the first screen, the long descriptions folded above them.
    assert seen["firstRowBottom"] < seen["screen"], shot
    assert seen["folded"] == [True], shot
    assert seen["units"].get("short_turnover") == "HKD", shot
    assert seen["units"].get("total_volume") == "shares", shot
    assert seen["units"].get("short_ratio") == "fraction, 0-1", shot
    assert _column(seen, "short_turnover") == [_amount(row[0]) for row in stored], shot
    assert _column(seen, "total_turnover") == [_amount(row[1]) for row in stored], shot
    assert all(cell == "700.HK chart" for cell in _column(seen, "symbol")), shot


def test_a_view_shows_its_rows_with_units_and_amounts(
    served: tuple[str, Path], browser: Browser, tmp_path: Path
) -> None:
    url, db = served
    seen = _table(browser, f"{url}{NAME}/us_short_trades?_sort=symbol", tmp_path / "view.png")
    stored = _rows(db, "SELECT total_volume FROM us_short_trades ORDER BY symbol LIMIT 100")
    shot = seen["shot"]
    assert seen["cells"] and seen["firstRowBottom"] < seen["screen"], shot
    assert seen["units"].get("nasdaq_short_volume") == "shares", shot
    assert seen["units"].get("close") == "price", shot
    assert _column(seen, "total_volume") == [_amount(row[0]) for row in stored], shot
    assert any("," in cell for cell in _column(seen, "total_volume")), shot


def test_a_canned_query_takes_the_symbol_in_any_style(
    served: tuple[str, Path], browser: Browser, tmp_path: Path
) -> None:
    url, db = served
    seen = _table(
        browser, f"{url}{NAME}/symbol_last_20_days?symbol=00700.HK", tmp_path / "query.png"
    )
    stored = _rows(
        db,
        "SELECT short_turnover FROM short_trades WHERE symbol = '700.HK' "
        "ORDER BY trade_date DESC LIMIT 20",
    )
    shot = seen["shot"]
    assert len(seen["cells"]) == len(stored) == 20, shot
    assert set(_column(seen, "symbol")) == {"700.HK chart"}, shot
    assert _column(seen, "short_turnover") == [_amount(row[0]) for row in stored], shot
    assert seen["units"].get("short_turnover") == "HKD", shot
    assert seen["units"].get("short_ratio") == "fraction, 0-1", shot
    nothing = _table(
        browser, f"{url}{NAME}/symbol_last_20_days?symbol=ZZZZ.US", tmp_path / "none.png"
    )
    assert "nothing stored for ZZZZ.US" in nothing["zero"], nothing["shot"]


CHART_SEEN = """(() => {
  const svg = document.querySelector("svg.harvester-chart");
  if (!svg) return null;
  return {
    width: svg.getBoundingClientRect().width,
    legend: [...svg.querySelectorAll(".legend text")].map((t) => t.textContent),
    lines: [...svg.querySelectorAll("path.series")].map((path) => ({
      panel: path.closest("g.panel").dataset.measure,
      symbol: path.dataset.symbol,
      points: (path.getAttribute("d").match(/[ML]/g) || []).length,
      length: path.getTotalLength(),
      colour: getComputedStyle(path).stroke,
    })),
  };
})()"""


def test_the_chart_draws_a_line_per_symbol_and_measure(
    served: tuple[str, Path], browser: Browser, tmp_path: Path
) -> None:
    url, db = served
    browser.open(f"{url}{NAME}/-/chart?symbol=00700.HK&symbol=US.AAPL")
    seen = browser.evaluate(CHART_SEEN)
    shot = browser.screenshot(tmp_path / "chart.png")
    assert seen is not None, shot
    assert seen["width"] > 600 and seen["legend"] == ["700.HK", "AAPL.US"], shot
    drawn = {(line["panel"], line["symbol"]): line for line in seen["lines"]}
    count = "SELECT COUNT({}) FROM {} WHERE symbol = ?"
    expected = {
        ("short_ratio", "700.HK"): count.format("short_ratio", "short_trades"),
        ("short_ratio", "AAPL.US"): count.format("short_ratio", "short_trades"),
        ("short_volume", "AAPL.US"): count.format("nasdaq_short_volume", "short_trades"),
        ("short_turnover", "700.HK"): count.format("short_turnover", "short_trades"),
        ("short_interest", "700.HK"): count.format("short_percent", "short_interest"),
        ("short_interest", "AAPL.US"): count.format("short_percent", "short_interest"),
    }
    assert set(drawn) == set(expected), shot
    for key, sql in expected.items():
        ((points,),) = _rows(db, sql, key[1])
        assert drawn[key]["points"] == points > 1, (key, shot)
        assert drawn[key]["length"] > 100, (key, shot)  # a line a person can see
    assert drawn["short_ratio", "700.HK"]["colour"] != drawn["short_ratio", "AAPL.US"]["colour"]
