"""``python -m bench``: run the benchmark cases and print one table (or JSON, or Markdown).

Exit 0 when every case ran, whether or not it met its target (the bench
measures; it does not judge); exit 1 when a case could not run, and 2 on a
usage mistake. The table or JSON goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Sequence

from bench import CASES
from bench.options import Options
from bench.runner import run_cases
from bench.table import json_document, markdown, text_table

log = logging.getLogger("bench")


def build_parser() -> argparse.ArgumentParser:
    """The bench's command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run the harvester's benchmark cases and print one table of their figures.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small universes, one run each: under a minute (CI)"
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object keyed by case name instead of the table",
    )
    output.add_argument(
        "--markdown",
        action="store_true",
        help="print the table as Markdown after a header naming the machine",
    )
    parser.add_argument(
        "--case",
        action="append",
        choices=CASES,
        metavar="NAME",
        help=f"run only this case (repeatable): {', '.join(CASES)}",
    )
    parser.add_argument(
        "--runs",
        type=int,
        metavar="N",
        help="runs of each noisy measurement, median reported (default 3, or 1 with --quick)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # SystemExit unwinds every ``with``: children killed, gateway stopped, temp folders gone.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected cases and print their figures; the exit code says whether all ran."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    parser = build_parser()
    args = parser.parse_args(argv)
    runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    if runs < 1:
        parser.error("--runs must be at least 1")
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s", datefmt="%H:%M:%S"
    )
    if args.verbose:
        log.setLevel(logging.DEBUG)  # ours only: aiosqlite's would echo every statement
    options = Options(quick=args.quick, runs=runs)
    selected = args.case or list(CASES)
    started = time.monotonic()
    results = run_cases(selected, options)
    log.info("bench: %d cases in %.1fs", len(results), time.monotonic() - started)
    if args.json:
        output = json_document(results)
    elif args.markdown:
        mode = f"{'quick' if args.quick else 'full'}, {runs} run{'s' * (runs > 1)} per case"
        output = markdown(results, mode)
    else:
        output = text_table(results)
    sys.stdout.write(output + "\n")
    return 1 if any(result.error is not None for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
