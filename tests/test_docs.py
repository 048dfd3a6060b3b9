"""The docs' generated sections are fresh, and ``python -m harvester.docs --check`` says when not.

The checkout's README.md and docs/*.md pass the check; a copy with one section made stale
fails it, naming the page and the section, until the generator rewrites it. Every link
between the pages reaches a page and a heading, and the README stays short.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harvester import docs
from harvester.settings.doc import settings_table

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """README.md, docs/ and pyproject.toml (the layers' source) copied to tmp_path, fresh.

    Made fresh first, so these tests show the generator at work whether or not the
    checkout is (``test_the_checkout_is_fresh`` says that).
    """
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copytree(ROOT / "config", tmp_path / "config")
    docs.run(tmp_path, check=False)
    return tmp_path


def _docs(root: Path, *flags: str) -> int:
    return docs.main([*flags, "--root", str(root)])


def test_the_checkout_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harvester.docs", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == result.stderr == ""


def test_a_stale_section_fails_the_check_until_rewritten(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = copy / "docs" / "settings.md"
    fresh = page.read_text(encoding="utf-8")
    row = next(line for line in settings_table().splitlines() if "`workers`" in line)
    page.write_text(fresh.replace(row, row.replace("`32`", "`33`")), encoding="utf-8")
    stale = page.read_text(encoding="utf-8")

    assert _docs(copy, "--check") == 1
    assert capsys.readouterr().out.splitlines() == [
        "docs/settings.md: section 'settings' is stale; python -m harvester.docs rewrites it"
    ]
    assert page.read_text(encoding="utf-8") == stale  # --check writes nothing

    assert _docs(copy) == 0
    assert capsys.readouterr().out == "rewrote docs/settings.md: settings\n"
    assert page.read_text(encoding="utf-8") == fresh
    assert _docs(copy) == 0 and _docs(copy, "--check") == 0  # and again: nothing to do
    assert capsys.readouterr().out == ""


def test_a_hand_edit_outside_the_markers_is_left_alone(copy: Path) -> None:
    page = copy / "docs" / "database.md"
    edited = page.read_text(encoding="utf-8").replace("# The database", "# The database file")
    page.write_text(edited, encoding="utf-8")
    assert _docs(copy, "--check") == 0
    assert _docs(copy) == 0
    assert page.read_text(encoding="utf-8") == edited


def test_a_missing_section_fails(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = copy / "docs" / "architecture.md"
    text = page.read_text(encoding="utf-8")
    page.write_text(text.replace("<!-- generated: rooms -->", "<!-- rooms -->"), encoding="utf-8")
    assert _docs(copy, "--check") == 1
    assert "no page has the generated section 'rooms'" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("<!-- generated: nonsense -->\n", "unknown generated section 'nonsense'"),
        ("<!-- generated: settings -->\n", "section 'settings' has no <!-- end generated --> line"),
    ],
)
def test_broken_markers_are_one_line_and_exit_2(
    copy: Path, capsys: pytest.CaptureFixture[str], marker: str, message: str
) -> None:
    readme = copy / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\n" + marker, encoding="utf-8")
    assert _docs(copy, "--check") == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("harvester.docs: error: README.md line ") and message in line


def test_no_readme_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _docs(tmp_path, "--check") == 2
    assert "no README.md here" in capsys.readouterr().err


def test_the_rooms_come_from_the_docstrings(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "inner").mkdir(parents=True)
    (package / "__init__.py").write_text('"""The package."""\n')
    (package / "cli.py").write_text('"""The command line: ``a | b``.\n\nMore.\n"""\n')
    (package / "inner" / "__init__.py").write_text('"""A room."""\n')
    (package / "inner" / "one.py").write_text('"""Runs :class:`One`."""\n')
    (package / "inner" / "bare.py").write_text("x = 1\n")
    text = docs.rooms_markdown(package)
    assert "| `cli` | The command line: `a \\| b`. |" in text
    assert "| [`inner/`](#inner) | A room. |" in text
    assert "| `one` | Runs `One`. |" in text
    assert "| `bare` | **no docstring** |" in text


def test_every_module_of_the_package_is_in_the_architecture_page() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for path in (ROOT / "harvester").rglob("*.py"):
        if path.name != "__init__.py":  # nested ones under their folder: `endpoints/base`
            assert re.search(rf"`(\w+/)?{path.stem}`", text), path


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _prose(page: Path) -> str:
    """A page without its fenced code blocks, whose ``#`` lines are no headings."""
    return re.sub(r"^```.*?^```$", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)


def _anchors(page: Path) -> set[str]:
    return {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", _prose(page), re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_link_between_the_pages_reaches_a_heading(page: Path) -> None:
    links = re.findall(r"\]\(([^)\s]+)\)", _prose(page))
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    for link in local:
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        assert path.is_file(), f"{page.name}: {link}"
        if anchor:
            assert anchor in _anchors(path), f"{page.name}: {link}"


def test_the_readme_is_short_and_links_every_page() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    for page in PAGES[1:]:
        assert f"](docs/{page.name})" in text, page.name


def test_no_contract_to_read_is_exit_2(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (copy / "pyproject.toml").unlink()
    assert _docs(copy, "--check") == 2
    assert "pyproject.toml: no import-linter contract to read" in capsys.readouterr().err


def test_the_shipped_settings_file_is_written_whole_and_checked(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shipped = copy / "config" / "harvester.toml"
    fresh = shipped.read_text(encoding="utf-8")
    shipped.write_text(fresh.replace("rate = 10.0", "rate = 9.0"), encoding="utf-8")
    assert _docs(copy, "--check") == 1
    assert "config/harvester.toml: stale" in capsys.readouterr().out
    assert _docs(copy) == 0 and shipped.read_text(encoding="utf-8") == fresh
    shipped.unlink()
    assert _docs(copy) == 0 and shipped.read_text(encoding="utf-8") == fresh
