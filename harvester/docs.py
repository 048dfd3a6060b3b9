"""The generated sections of README.md and docs/*.md: ``python -m harvester.docs [--check]``.

A page marks each section written from the code between two lines::

    <!-- generated: NAME -->
    ...
    <!-- end generated -->

``python -m harvester.docs`` rewrites every such section in place from its one declaration
(``sections()``: the settings table, the database's tables and views, the package's
rooms, the import contract's layers, and the exit-code tables once ``harvester.exits``
declares them); ``--check`` writes
nothing, prints one line per stale section and exits 1, so CI fails when the docs drift.
Exit 2 is a page whose markers are broken. The text comes from the code that runs; the
pages from ``--root`` (default: the working directory).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from harvester.exits import COMMANDS, markdown_table
from harvester.settings.doc import default_toml, settings_table
from harvester.simulate.cli import settings_markdown as simulate_settings_table
from harvester.store.doc import database_doc
from harvester.upstream.endpoints.openapi import CODES, DUPLICATE

PACKAGE = Path(__file__).resolve().parent
START = re.compile(r"^<!-- generated: (?P<name>[^>]*?) -->\n", re.M)
END = "<!-- end generated -->\n"
# The rooms in the order data takes through them, the command line first; a room not
# named here is still listed, after these, so the page never leaves one out.
ROOM_ORDER = (
    "cli",
    "docs",
    "settings",
    "upstream",
    "sweep",
    "store",
    "read",
    "simulate",
    "catalog",
    "arguments",
    "exits",
    "errors",
    "model",
    "__main__",
)


class MarkerError(Exception):
    """A page whose generated-section markers cannot be read: unknown name, no end."""


@dataclass(frozen=True)
class Stale:
    """A section whose text on a page is not what its declaration renders."""

    page: str
    name: str

    def __str__(self) -> str:
        return f"{self.page}: section {self.name!r} is stale; python -m harvester.docs rewrites it"


# The rooms: the package's modules, each with its docstring's first line ----------------


def first_line(path: Path) -> str:
    """The first line of a module's docstring, in Markdown (RST roles and ``code`` marks)."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    if not doc:
        return "**no docstring**"
    line = doc.strip().splitlines()[0]
    line = re.sub(r":\w+:`([^`]+)`", r"`\1`", line).replace("``", "`")
    return line.replace("|", "\\|")  # a pipe, even in a code span, would end the cell


def _rooms(package: Path) -> list[Path]:
    """The package's modules and subpackages, in ``ROOM_ORDER`` then by name."""
    found = [
        path
        for path in package.iterdir()
        if (path.suffix == ".py" and path.name != "__init__.py")
        or (path.is_dir() and (path / "__init__.py").is_file())
    ]
    order = {name: index for index, name in enumerate(ROOM_ORDER)}
    return sorted(found, key=lambda path: (order.get(path.stem, len(order)), path.stem))


def _job(room: Path) -> str:
    return first_line(room / "__init__.py" if room.is_dir() else room)


def _label(room: Path) -> str:
    return f"{room.name}/" if room.is_dir() else room.stem


def _modules(folder: Path, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Each module of a subpackage, nested ones under their folder's name: (label, job)."""
    for path in sorted(folder.iterdir()):
        if path.suffix == ".py" and path.name != "__init__.py":
            yield f"{prefix}{path.stem}", first_line(path)
        elif path.is_dir() and (path / "__init__.py").is_file():
            yield f"{prefix}{path.name}/", first_line(path / "__init__.py")
            yield from _modules(path, f"{prefix}{path.name}/")


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def rooms_markdown(package: Path = PACKAGE) -> str:
    """The package's rooms, each with its one-line job, then each subpackage's modules."""
    rooms = _rooms(package)
    lines = [
        f"`{package.name}/`: {first_line(package / '__init__.py')}",
        "",
        _row("room", "its job"),
        "|---|---|",
    ]
    for room in rooms:
        label = f"[`{_label(room)}`](#{room.name})" if room.is_dir() else f"`{_label(room)}`"
        lines.append(_row(label, _job(room)))
    for room in (room for room in rooms if room.is_dir()):
        lines += ["", f"### `{room.name}/`", "", _job(room), "", _row("module", "its job")]
        lines.append("|---|---|")
        lines += [_row(f"`{label}`", job) for label, job in _modules(room)]
    return "\n".join(lines) + "\n"


# The sections, by the name their markers give -------------------------------------------


def _exit_sections() -> dict[str, Callable[[], str]]:
    """The exit-code table of each command (``harvester.exits``)."""
    return {f"exits {command}": partial(markdown_table, command) for command in COMMANDS}


def layers_markdown(root: Path) -> str:
    """The import contract's layers (pyproject.toml), top first, as one line in a code block."""
    path = root / "pyproject.toml"
    try:
        with path.open("rb") as file:
            tool = tomllib.load(file)["tool"]["importlinter"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise MarkerError(f"{path}: no import-linter contract to read ({exc!r})") from exc
    (contract,) = (c for c in tool["contracts"] if c["type"] == "layers")
    prefix = f"{tool['root_package']}."
    layers = [layer.replace(prefix, "") for layer in contract["layers"]]
    return "```\n" + " -> ".join(layers) + "\n```\n"


def openapi_codes_markdown() -> str:
    """The OpenAPI's documented codes and what a sweep does with each (``openapi.CODES``)."""
    outcome = {
        "CredentialsRefused": "the run stops at once, exit 2, one line naming the variables",
        "RateLimited": "rate limited: retried after `Retry-After` or a backoff",
        "UpstreamError": "retried with a backoff",
    }
    again = "retried a second later, signed with a new `x-timestamp`"
    rows = [
        _row(f"`{code}`", meaning, again if code == DUPLICATE else outcome[kind.__name__])
        for code, (meaning, kind) in sorted(CODES.items())
    ]
    return (
        "\n".join((_row("code", "meaning", "what the harvester does"), _row(*"---"), *rows)) + "\n"
    )


#: Files written whole from the code: the shipped settings file, every setting at its default.
WHOLE_FILES: dict[str, Callable[[], str]] = {"config/harvester.toml": default_toml}


def sections(root: Path) -> dict[str, Callable[[], str]]:
    """Every generated section's name and the function that writes its text."""
    return {
        "settings": settings_table,
        "simulate settings": simulate_settings_table,
        "database": database_doc,
        "rooms": rooms_markdown,
        "layers": partial(layers_markdown, root),
        "openapi codes": openapi_codes_markdown,
        **_exit_sections(),
    }


# Pages ----------------------------------------------------------------------------------


def pages(root: Path) -> list[Path]:
    """README.md and every page under docs/, the places a generated section may be."""
    readme = root / "README.md"
    if not readme.is_file():
        raise MarkerError(
            f"{root}: no README.md here; run from the repository's root or give --root"
        )
    return [readme, *sorted((root / "docs").glob("*.md"))]


def regenerate(
    text: str, page: str, known: dict[str, Callable[[], str]]
) -> tuple[str, list[tuple[str, bool]]]:
    """``text`` with every generated section written afresh; each section's name, and if stale."""
    out, found, at = [], [], 0
    for start in START.finditer(text):
        name = start["name"]
        line = text.count("\n", 0, start.start()) + 1
        if name not in known:
            raise MarkerError(
                f"{page} line {line}: unknown generated section {name!r}; "
                f"known: {', '.join(sorted(known))}"
            )
        end = text.find(END, start.end())
        following = START.search(text, start.end())
        if end < 0 or (following and following.start() < end):
            raise MarkerError(f"{page} line {line}: section {name!r} has no {END.strip()} line")
        body = f"\n{known[name]()}\n"
        out += [text[at : start.end()], body]
        found.append((name, text[start.end() : end] != body))
        at = end
    out.append(text[at:])
    return "".join(out), found


def run(root: Path, check: bool) -> tuple[list[str], bool]:
    """Rewrite (or with ``check`` only compare) every page's sections: the lines to print,
    and whether the docs are still not as generated (a stale section with ``check``, or a
    section no page has). Nothing is written unless every page's markers can be read.
    """
    known = sections(root)
    report, seen, rewrites = [], set(), []
    for path in pages(root):
        page = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        fresh, found = regenerate(text, page, known)
        seen.update(name for name, _ in found)
        stale = [name for name, changed in found if changed]
        if stale and check:
            report += [str(Stale(page, name)) for name in stale]
        elif stale:
            rewrites.append((path, fresh))
            report.append(f"rewrote {page}: {', '.join(stale)}")
    for name, write in WHOLE_FILES.items():
        path, fresh = root / name, write()
        if not path.is_file() or path.read_text(encoding="utf-8") != fresh:
            if check:
                report.append(f"{name}: stale; run python -m harvester.docs to write it again")
            else:
                rewrites.append((path, fresh))
                report.append(f"rewrote {name}")
    for path, fresh in rewrites:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(fresh, encoding="utf-8")
    missing = [f"no page has the generated section {name!r}" for name in known if name not in seen]
    return report + missing, bool(missing or (check and report))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m harvester.docs``: 0 when every section is fresh (or rewritten), 1, or 2."""
    parser = argparse.ArgumentParser(
        prog="python -m harvester.docs",
        description="Rewrite the generated sections of README.md and docs/*.md from the code.",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 naming each stale section"
    )
    parser.add_argument(
        "--root", type=Path, default=Path(), help="the repository's root (default: .)"
    )
    args = parser.parse_args(argv)
    try:
        report, stale = run(args.root, args.check)
    except MarkerError as exc:
        print(f"harvester.docs: error: {exc}", file=sys.stderr)
        return 2
    for line in report:
        print(line)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
