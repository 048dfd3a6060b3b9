"""The benchmark: its universe generator, its targets, and ``python -m bench --quick --json``.

No figure is asserted: the bench measures, CI only keeps it working. Targets
are read from ``bench.targets.TARGETS``, never written here again.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bench import CASES, universe
from bench.result import failed, judged
from bench.sweeper import UNTHROTTLED, UNTHROTTLED_GATEWAY, sweeping, unthrottled_timeout
from bench.targets import TARGETS, Compare, resume_allowance
from bench.throughput import bare_run
from harvester.settings.symbols import parse_symbol
from harvester.upstream.endpoints import ADAPTERS

ROOT = Path(__file__).resolve().parent.parent


def test_universe_is_distinct_parseable_mixed_and_deterministic() -> None:
    lines = universe.lines(3_000)
    assert len(lines) == 3_000
    parsed = [parse_symbol(line) for line in lines]
    assert all(symbol.supported for symbol in parsed)
    assert len(set(parsed)) == len(parsed)
    hk = sum(symbol.market == "HK" for symbol in parsed)
    assert 0.25 < hk / len(parsed) < 0.35
    assert any("." in symbol.code for symbol in parsed if symbol.market == "US")  # share classes
    assert any(line.startswith("US.") for line in lines)
    assert any(line.startswith("HK.") for line in lines)
    assert any(line.startswith("0") and line.endswith(".HK") for line in lines)  # zero-padded
    assert any(line != line.upper() for line in lines)  # lower case
    assert universe.lines(3_000) == lines
    assert universe.lines(3_000, seed=2) != lines


def test_universe_file_parses_with_the_harvester(tmp_path: Path) -> None:
    from harvester.settings.symbols import read_symbols

    path = universe.write(tmp_path / "symbols.txt", 500)
    read = list(read_symbols(path))
    assert [line.error for line in read] == [None] * 500
    assert len({line.symbol for line in read}) == 500


def test_every_case_has_one_target() -> None:
    assert list(TARGETS) == list(CASES)


@pytest.mark.parametrize(
    "name", [name for name, target in TARGETS.items() if target.value is not None]
)
def test_a_fixed_target_holds_at_its_mark_and_fails_past_it(name: str) -> None:
    target = TARGETS[name]
    assert target.value is not None
    worse = -0.01 if target.compare is Compare.AT_LEAST else 0.01
    at_marks = {bound.figure: bound.value for bound in target.also}  # nightly's other figures
    assert target.met(target.value, figures=at_marks) is True
    assert target.met(target.value + worse, figures=at_marks) is False
    assert target.text().startswith(f"{target.compare} {target.value}")
    result = judged(name, {"x": 1, **at_marks}, (("x",), ("x",)), target.value + worse)
    assert (result.target, result.ok) == (target.text(), False)
    assert failed(name, "boom").target == target.text()


def test_politeness_also_caps_429s() -> None:
    target = TARGETS["politeness"]
    assert target.max_429s is not None and target.value is not None
    assert target.met(target.value, served_429=target.max_429s) is True
    assert target.met(target.value, served_429=target.max_429s + 1) is False
    assert target.text().endswith(f"; {target.max_429s} 429s")


def test_nightly_also_bounds_its_bytes_and_its_differing_rows() -> None:
    target = TARGETS["nightly"]
    assert target.value is not None
    good = {"bytes_ratio": 0.15, "rows_differing": 0}
    assert target.met(target.value, figures=good) is True
    assert target.met(target.value, figures={**good, "bytes_ratio": 0.151}) is False
    assert target.met(target.value, figures={**good, "rows_differing": 1}) is False
    assert target.met(target.value, figures={"bytes_ratio": 0.1}) is False  # a figure missing
    with pytest.raises(ValueError):
        target.met(target.value)
    assert target.text() == f"≤ {target.value}; bytes_ratio ≤ 0.15; rows_differing = 0"
    assert judged("nightly", good, ((), ()), target.value).ok is True
    assert judged("nightly", {**good, "rows_differing": 2}, ((), ()), target.value).ok is False


def test_resume_states_its_formula_until_a_run_computes_the_bound() -> None:
    target = TARGETS["resume"]
    bound = 1 + resume_allowance(32, 200.0) / 4_000
    assert target.text() == f"{target.compare} {target.formula}"
    assert failed("resume", "boom").target == target.text()
    assert target.text(bound) == f"{target.compare} {bound:.4f}"
    assert target.met(bound, bound) is True
    assert target.met(bound + 0.001, bound) is False
    with pytest.raises(ValueError):
        target.met(1.0)
    unsound = judged("resume", {}, ((), ()), 1.0, mark=bound, sound=False)
    assert unsound.ok is False


def test_cold_start_is_reported_not_judged() -> None:
    result = judged("cold_start", {}, ((), ()), 5.0)
    assert (result.target, result.ok) == (str(Compare.REPORT), None)


def _stored(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Each data table's rows, without the run_id and fetched_at columns, in key order."""
    tables = {}
    with contextlib.closing(sqlite3.connect(db)) as conn:
        for adapter in ADAPTERS.values():
            columns = ", ".join(
                ["symbol", "market", "trade_date", *(column.name for column in adapter.columns)]
            )
            tables[adapter.table] = conn.execute(
                f"SELECT {columns} FROM {adapter.table} ORDER BY symbol, trade_date"
            ).fetchall()
    return tables


@pytest.mark.slow
def test_the_storing_bare_loop_writes_the_rows_a_sweep_writes() -> None:
    size = 60
    timeout = unthrottled_timeout(size * 2)
    with sweeping("test-bare", UNTHROTTLED_GATEWAY, UNTHROTTLED) as sweeper:
        symbols = universe.write(sweeper.folder / "symbols.txt", size)
        sweep = sweeper.run(symbols, sweeper.folder / "harvester.sqlite", timeout=timeout)
        bare = bare_run(sweeper, symbols, "bare", timeout, db=sweeper.folder / "bare.sqlite")
        fetched = bare_run(sweeper, symbols, "fetch", timeout, db=None)
        harvested = _stored(sweeper.folder / "harvester.sqlite")
        stored = _stored(sweeper.folder / "bare.sqlite")
    assert bare.stats.total == fetched.stats.total == sweep.stats.total == size * 2
    assert bare.rows == sweep.summary["rows_written"] > 0
    assert bare.printed["commits"] >= 1
    assert (fetched.rows, fetched.printed["errors"]) == (0, 0)
    assert all(harvested.values())
    assert stored == harvested


QUICK_DEADLINE = 240  # seconds: ten cases' quick runs take about 90 on a 2-core machine


@pytest.mark.slow
@pytest.mark.timeout(QUICK_DEADLINE + 60)
def test_quick_bench_runs_every_case() -> None:
    bench = subprocess.Popen(
        [sys.executable, "-m", "bench", "--quick", "--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = bench.communicate(timeout=QUICK_DEADLINE)
    except subprocess.TimeoutExpired:
        bench.terminate()  # SIGTERM: the bench stops its gateway and sweeps on the way out
        try:
            _, stderr = bench.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            bench.kill()
            _, stderr = bench.communicate()
        pytest.fail(f"python -m bench --quick took over {QUICK_DEADLINE}s:\n{stderr[-2000:]}")
    figures = json.loads(stdout)
    assert list(figures) == list(CASES), stderr
    for name, case in figures.items():
        assert "error" not in case, f"{name}: {case['error']}"
        assert isinstance(case["ratio"], float | int), name
        assert case["target"] == TARGETS[name].text(case.get("bound")), name
    assert bench.returncode == 0, stderr
    # The one figure that is a fact of behaviour, not of speed, so it holds on a loaded machine
    # too: nightly sweeps store what full sweeps store. (Politeness is not: on a busy machine
    # the gateway's own clock lags, and it has counted 103 in a second of a 101 limit.)
    assert figures["nightly"]["rows_differing"] == 0, figures["nightly"]
