"""The results table: as aligned text, as JSON keyed by case, or as Markdown for BENCHMARKS.md."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from bench.result import CaseResult

HEADER = ("case", "quantity A", "quantity B", "ratio", "target", "ok")
LIBRARIES = ("aiohttp", "aiolimiter", "aiosqlite", "orjson")


def number(value: Any) -> str:
    """A figure as text: integers whole, floats to a sensible precision."""
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    size = abs(value)
    if size >= 100:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _cell(result: CaseResult, keys: Sequence[str]) -> str:
    return ", ".join(f"{key} = {number(result.figures.get(key))}" for key in keys)


def _verdict(result: CaseResult) -> str:
    if result.error is not None:
        return "ERROR"
    return {True: "yes", False: "NO", None: "-"}[result.ok]


def rows(results: Sequence[CaseResult]) -> list[tuple[str, ...]]:
    """One row of cells per case, in the table's column order."""
    table: list[tuple[str, ...]] = []
    for result in results:
        if result.error is not None:
            first, second = f"error: {result.error}", ""
        else:
            first, second = _cell(result, result.shown[0]), _cell(result, result.shown[1])
        ratio = "-" if result.ratio is None else f"{result.ratio:.3f}"
        table.append((result.name, first, second, ratio, result.target, _verdict(result)))
    return table


def text_table(results: Sequence[CaseResult]) -> str:
    """The table in aligned columns."""
    table = [HEADER, *rows(results)]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def json_document(results: Sequence[CaseResult]) -> str:
    """One JSON object keyed by case name."""
    return json.dumps({result.name: result.as_dict() for result in results}, ensure_ascii=False)


def machine() -> dict[str, str]:
    """Where and how the figures were taken."""
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} missing")
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": str(os.cpu_count()),
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "libraries": ", ".join(versions),
        "command": shlex.join(["python", "-m", "bench", *sys.argv[1:]]),
    }


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|")


def markdown(results: Sequence[CaseResult], mode: str) -> str:
    """The table in Markdown, after a header naming the machine and the command."""
    info = machine()
    lines = [f"### {info['date']} ({mode})", ""]
    lines += [
        f"- {key}: `{value}`" if key == "command" else f"- {key}: {value}"
        for key, value in info.items()
        if key != "date"
    ]
    lines += ["", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(_escape(cell) for cell in row) + " |" for row in rows(results)]
    return "\n".join(lines)
