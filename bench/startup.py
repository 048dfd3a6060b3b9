"""The ``cold_start`` case: ``sweep --simulate`` wall time over what its rate limit needs.

It runs the command a user tries first, on the shipped ``symbols.txt`` and
config, and reports (does not judge) how much start-up, imports and the final
commit add to the time the configured rates alone would take.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from bench.options import Options
from bench.procs import Child, harvester_argv
from bench.result import CaseResult, judged, median_of
from bench.sweeper import ENDPOINTS, ROOT, rate_limited_timeout, shipped_endpoints, summary_of

log = logging.getLogger(__name__)

DEFAULT_RATE = 10.0  # requests/s of an endpoint whose rate the shipped config leaves out


def _shipped_symbols() -> int:
    """Symbols in the shipped ``symbols.txt``: lines that are not blank or comments."""
    return sum(
        1
        for line in (ROOT / "symbols.txt").read_text().splitlines()
        if line.split("#", 1)[0].strip()
    )


def cold_start(options: Options) -> CaseResult:
    """``sweep --simulate`` on the shipped files: wall time over what its rate limit needs."""
    rates = {
        name: float(table.get("rate", DEFAULT_RATE)) for name, table in shipped_endpoints().items()
    }
    total_rate = sum(rates.values())
    runs: list[tuple[float, dict[str, Any]]] = []
    timeout = rate_limited_timeout(_shipped_symbols() * len(ENDPOINTS) * 1.1, total_rate)
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        folder = Path(tmp)
        for i in range(options.runs):
            argv = harvester_argv(
                "sweep", "--simulate", "--db", str(folder / f"h{i}.sqlite"), "--json", "-q"
            )
            finished = Child(argv, cwd=ROOT, folder=folder, name=f"cold{i}", timeout=timeout).wait()
            summary = summary_of(finished, "sweep --simulate")
            log.info(
                "cold_start: run %d/%d: %d requests, wall %.2fs, sweep %.2fs",
                i + 1,
                options.runs,
                summary["requests"],
                finished.wall,
                summary["elapsed"],
            )
            runs.append((finished.wall, summary))
    wall, summary = median_of(runs, lambda run: run[0])
    need = summary["requests"] / total_rate
    figures = {
        "wall_s": round(wall, 3),
        "need_s": round(need, 3),
        "requests": summary["requests"],
        "configured_rps": total_rate,
        "sweep_elapsed_s": summary["elapsed"],
        "runs": options.runs,
        "wall_runs_s": [round(run[0], 3) for run in runs],
    }
    return judged("cold_start", figures, (("wall_s",), ("need_s",)), wall / need)
