"""The benchmark: its universe generator, and ``python -m bench --quick --json`` end to end.

No figure is asserted: the bench measures, CI only keeps it working.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import CASES, universe
from harvester.symbols import parse_symbol

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
    from harvester.symbols import read_symbols

    path = universe.write(tmp_path / "symbols.txt", 500)
    read = list(read_symbols(path))
    assert [line.error for line in read] == [None] * 500
    assert len({line.symbol for line in read}) == 500


@pytest.mark.slow
def test_quick_bench_runs_every_case() -> None:
    bench = subprocess.Popen([sys.executable, "-m", "bench", "--quick", "--json"], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = bench.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        bench.terminate()  # SIGTERM: the bench stops its gateway and sweeps on the way out
        try:
            _, stderr = bench.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            bench.kill()
            _, stderr = bench.communicate()
        pytest.fail(f"python -m bench --quick took over 120s:\n{stderr[-2000:]}")
    figures = json.loads(stdout)
    assert list(figures) == list(CASES), stderr
    for name, case in figures.items():
        assert "error" not in case, f"{name}: {case['error']}"
        assert isinstance(case["ratio"], float | int), name
    assert bench.returncode == 0, stderr
