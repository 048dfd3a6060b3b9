"""The exit codes, declared once in ``harvester.exits``: the commands, ``-h`` and the docs agree."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from harvester import exits
from harvester.cli import _exit_code, main
from harvester.exits import CHECK, CHECK_PRECEDENCE, COMMANDS, PLAN, READ, SWEEP, Exit
from harvester.model import RunStatus, RunSummary, StopKind, TaskStatus

HARVESTER = Path(exits.__file__).parent


def test_every_code_is_declared_once_with_a_meaning() -> None:
    assert len({int(code) for code in Exit}) == len(Exit) == len(Exit.__members__)
    for code in Exit:
        assert code.meanings, code
        assert set(code.meanings) <= set(COMMANDS), code
        assert all(meaning.text for meaning in code.meanings.values()), code


def test_no_other_module_declares_an_exit_code() -> None:
    # The codes of two or three digits: 0 to 7 are too common to look for.
    literal = "|".join(str(int(code)) for code in Exit if code >= 10)
    for path in HARVESTER.rglob("*.py"):
        if path.name == "exits.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\bEXIT_[A-Z_]+\s*=\s*[-\d{]", text), path
        assert not re.search(rf"(?:return|exit\(|: )\s*(?:{literal})\b(?! *[-+*/])", text), path


@pytest.mark.parametrize("command", COMMANDS)
def test_the_markdown_table_lists_every_code_of_its_command(command: str) -> None:
    table = exits.markdown_table(command)
    lines = table.splitlines()
    width = 3 if command == CHECK else 2
    assert lines[0] == "| code | meaning |" + (" what to do |" if command == CHECK else "")
    assert lines[1] == "|" + "---|" * width
    listed = [
        int(code) for line in lines[2:] for code in line.split(" | ")[0].strip("| ").split(", ")
    ]
    assert sorted(listed) == sorted(int(code) for code in exits.codes(command))
    for line in lines[2:]:
        cells = re.split(r"(?<!\\)\|", line)[1:-1]
        assert len(cells) == width and all(cell.strip() for cell in cells), line


def test_codes_meaning_the_same_share_a_row() -> None:
    assert "| 129, 130, 143 | `export -o` stopped by SIGHUP" in exits.markdown_table(READ)
    assert "| 129 | interrupted by SIGHUP" in exits.markdown_table(SWEEP)


def test_check_lists_its_codes_in_precedence_order() -> None:
    assert exits.codes(CHECK) == (Exit.OK, *CHECK_PRECEDENCE, Exit.USAGE)
    assert [int(code) for code in CHECK_PRECEDENCE] == [7, 5, 4, 3, 6, 8]


def test_an_unknown_command_has_no_table() -> None:
    with pytest.raises(ValueError, match="no exit codes declared for 'status'"):
        exits.markdown_table("status")


def test_a_pipe_in_a_meaning_is_escaped_in_markdown_not_in_help() -> None:
    assert "plan \\| head" in exits.markdown_table(PLAN)
    assert "plan | head" in exits.help_text(PLAN)


def test_signals_map_to_the_shells_codes() -> None:
    assert Exit.for_signal(signal.SIGHUP) is Exit.SIGHUP == 129
    assert Exit.for_signal(signal.SIGINT) is Exit.SIGINT == 130
    assert Exit.for_signal(signal.SIGTERM) is Exit.SIGTERM == 143
    assert Exit.PIPE_CLOSED == 141


@pytest.mark.parametrize(
    ("summary", "caught", "code"),
    [
        (RunSummary("r", RunStatus.COMPLETED, False), None, Exit.OK),
        (
            RunSummary("r", RunStatus.COMPLETED, False, tasks={"t": {TaskStatus.FAILED: 1}}),
            None,
            Exit.FAILED,
        ),
        *(
            (RunSummary("r", RunStatus.INTERRUPTED, False, stop_kind=kind), None, code)
            for kind, code in (
                (StopKind.CREDENTIALS, Exit.USAGE),
                (StopKind.ADDRESS, Exit.USAGE),
                (StopKind.OUTAGE, Exit.UNAVAILABLE),
                (StopKind.QUOTA, Exit.QUOTA),
                (StopKind.SIGNAL, Exit.SIGINT),
            )
        ),
        (
            RunSummary("r", RunStatus.INTERRUPTED, False, stop_kind=StopKind.SIGNAL),
            signal.SIGTERM,
            Exit.SIGTERM,
        ),
    ],
)
def test_every_code_a_sweep_returns_is_one_of_its_own(
    summary: RunSummary, caught: signal.Signals | None, code: Exit
) -> None:
    assert _exit_code(summary, caught) is code
    assert code in exits.codes(SWEEP)


def _help(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as stop:
        main([command, "-h"])
    assert stop.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("command", "table"),
    [("sweep", SWEEP), ("check", CHECK), ("plan", PLAN)]
    + [(command, READ) for command in ("show", "latest", "export")],
)
def test_help_shows_every_code_of_the_command(
    command: str, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _help(command, capsys)
    assert exits.help_text(table) in text
    for label, meaning in exits.rows(table):
        assert re.search(rf"^  {re.escape(label)} +{re.escape(meaning.plain[:20])}", text, re.M)


def test_check_help_keeps_its_short_lines(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help("check", capsys)
    assert "5  a sweep is running now" in text
    assert "the code is the first\nthat holds in the order 7, 5, 4, 3, 6, 8):" in text
