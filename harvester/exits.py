"""Every exit code of the harvester, declared once, with what it means to each command.

A code means something to ``sweep``, to ``check``, to the read commands (``show``,
``latest``, ``export`` and ``changes`` share one table; ``chart`` exits 0 or
``Exit.USAGE``) and to ``plan``. From these declarations come
the commands' return values, their ``-h`` epilogs (``help_text``) and the docs' tables
(``markdown_table``, embedded by ``harvester.docs``). ``status``, ``explore`` and
``datasette-metadata`` exit 0, or ``Exit.USAGE`` on any error; a bug is
``Exit.INTERNAL`` and Ctrl-C ``Exit.SIGINT`` whatever the command.
"""

from __future__ import annotations

import enum
import signal
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass

SWEEP, CHECK, READ, PLAN = "sweep", "check", "read", "plan"
COMMANDS = (SWEEP, CHECK, READ, PLAN)
#: The shell's exit status for a process ended by signal n is 128 + n.
SIGNAL_BASE = 128


@dataclass(frozen=True, slots=True)
class Meaning:
    """What a code tells one command's user: the docs' words, an ``-h`` line, what to do."""

    text: str  #: the docs' words, in Markdown
    short: str = ""  #: the ``-h`` line when ``text`` is too long for one (plain text)
    todo: str = ""  #: ``check``'s "what to do" column

    @property
    def plain(self) -> str:
        """The ``-h`` line: ``short``, else ``text`` without its Markdown backticks."""
        return self.short or self.text.replace("`", "")


# Shared by 129, 130 and 143, so the read commands' table shows them on one row.
_READ_STOPPED = Meaning(
    "`export -o` stopped by SIGHUP, SIGINT or SIGTERM: one line, FILE left as it was"
)


@enum.unique
class Exit(enum.IntEnum):
    """An exit code; ``meanings`` holds what it means to each command that returns it."""

    meanings: Mapping[str, Meaning]

    def __new__(cls, code: int, meanings: Mapping[str, Meaning]) -> Exit:
        member = int.__new__(cls, code)
        member._value_ = code
        member.meanings = meanings
        return member

    OK = (
        0,
        {
            SWEEP: Meaning("every task finished: `ok`, `no_data`, `unsupported` or `invalid`"),
            CHECK: Meaning(
                "the latest run is `completed`, recent, no more of its tasks `failed` than "
                "`--max-failed` allows (default none: those it allows are named on the `ok` "
                "line), and no market's data is behind (`no_data`, `invalid`, `unsupported` are "
                "final answers, not failures: they are counted on the `ok` line and listed by "
                "`--json`)",
                short="the latest run completed within --max-age hours, no more tasks failed "
                "than --max-failed allows, and no market's data is behind",
                todo="nothing",
            ),
            READ: Meaning("the rows were written (`show`: at least one symbol has rows)"),
            PLAN: Meaning("the plan is printed, with or without the daily quota warning"),
        },
    )
    NO_ROWS = (
        1,
        {
            READ: Meaning(
                "`show` only: none of the symbols has a stored row (one line each on stderr)"
            ),
        },
    )
    USAGE = (
        2,
        {
            SWEEP: Meaning(
                "one line on stderr naming the file, line, setting, variable, URL or process, "
                "and what to do: a usage or configuration error; a symbols file that cannot be "
                "read or holds no valid symbol (or a malformed line, with `--strict`); a "
                "database error (cannot open or write it, a full disk, another program's write "
                "lock held longer than `busy_timeout`, a file with two hard links), at start-up "
                "or mid-run: the sweep ends within seconds, not at the next signal; another "
                "sweep writing the same database file; credentials refused (HTTP 401/403); or "
                "an endpoint whose first 5 answers were all the same HTTP 3xx/4xx (a wrong "
                "`base_url` or `path`). A run that had started is left `interrupted` for "
                "`--resume` (or `running`, when the file takes no more writes: `--resume` picks "
                "that up too)",
                short="one line on stderr: a usage, configuration, symbols file or database "
                "error, another sweep on the same file, credentials refused, or a wrong "
                "gateway address or path",
            ),
            CHECK: Meaning(
                "as every command: a usage or settings error, a missing file or a folder, a "
                "file that is not SQLite, corrupt (`quick_check`) or of a newer schema version",
                short="usage, settings or database error",
                todo="the line says which",
            ),
            READ: Meaning(
                "one line on stderr: a symbol that does not parse (`not a symbol: 'AAPL' (did "
                "you mean AAPL.US?)`) or is not US/HK, a `--by` that is not a column, an "
                "unknown table or view, `--market`/`--since` where the column does not exist, a "
                "bad or out-of-range date or number (`--last`/`--top` above "
                "9223372036854775807, an `--as-of` outside the years 0001 to 9999 in UTC), an "
                "`-o` file that cannot be written or is one of the database's own, a write "
                "error on stdout (`output stdout: cannot write it (No space left on device)`), "
                "or a database that is missing, a folder, empty, unreadable or older than "
                "schema version 3",
                short="one line on stderr: a usage error (a symbol, column, table, date or "
                "number), an output that cannot be written, or a database that is missing, "
                "unreadable or older than schema version 3",
            ),
            PLAN: Meaning(
                "one line on stderr: a usage or settings error, a symbols file that cannot be "
                "read or holds no valid symbol, a database that is not SQLite, corrupt or of a "
                "newer schema version"
            ),
        },
    )
    FAILED = (
        3,
        {
            SWEEP: Meaning(
                "the run finished but some tasks are `failed` (their error is in "
                "`tasks.error_message`)"
            ),
            CHECK: Meaning(
                "more tasks of the latest run `failed` than `--max-failed` allows (default 0: "
                "any, as `sweep` exits 3)",
                short="more tasks of the latest run failed than --max-failed allows (default 0)",
                todo="`harvester check --json` lists them with their errors",
            ),
        },
    )
    UNFINISHED = (
        4,
        {
            CHECK: Meaning(
                "the latest run is `interrupted` (a signal, an outage, refused credentials), or "
                "still `running` while no sweep holds the lock: left by a crash or `kill -9`",
                short="the latest run is interrupted, or left running by a crash or kill -9",
                todo="`harvester sweep --resume`",
            ),
        },
    )
    RUNNING = (
        5,
        {
            CHECK: Meaning(
                "a sweep is running now (it holds the lock)",
                short="a sweep is running now",
                todo="check again when it ends",
            ),
        },
    )
    STALE = (
        6,
        {
            CHECK: Meaning(
                "the latest run finished more than `--max-age` hours ago (a run that has not "
                "finished: started)",
                short="the latest run finished more than --max-age hours ago",
                todo="is the cron job running?",
            ),
        },
    )
    NO_RUN = (
        7,
        {
            CHECK: Meaning(
                "no run in the file yet (an empty file of 0 bytes included)",
                short="no run in the file yet (or the file is empty)",
                todo="run `harvester sweep`",
            ),
        },
    )
    BEHIND = (
        8,
        {
            CHECK: Meaning(
                "a market's newest stored day of a data set is older than that market publishes "
                "at the latest: `[endpoints.NAME] stale_after_us` or `stale_after_hk` business "
                "days before `--today` (default: the simulated gateway's served day after a "
                "`--simulate` run, else today in the exchange's time zone); a market with no "
                "rows of a data set is not judged",
                short="a market's newest stored day of a data set is older than [endpoints.NAME] "
                "stale_after_us or stale_after_hk business days before today",
                todo="`harvester sweep --full`; if upstream has nothing newer either, it "
                "publishes later than the setting says: raise it",
            ),
        },
    )
    INTERNAL = (  # EX_SOFTWARE in sysexits.h
        70,
        {
            SWEEP: Meaning(
                "a bug: an unexpected exception in one of the sweep's tasks, named in the one "
                "line (`-v` logs its traceback); the run is left `interrupted` for `--resume`. "
                "Please report it",
                short="a bug: an unexpected exception in one of the sweep's tasks (-v logs its "
                "traceback); the run is left interrupted for --resume. Please report it",
            ),
        },
    )
    UNAVAILABLE = (  # EX_UNAVAILABLE
        75,
        {
            SWEEP: Meaning(
                "the gateway stayed unavailable for `outage_max` seconds; the run is left "
                "`interrupted` for `--resume`"
            ),
        },
    )
    QUOTA = (
        76,
        {
            SWEEP: Meaning(
                "the daily quota is spent: the next request would have gone over `[gateway] "
                "daily_quota` (requests of the runs started this UTC day, counted as they "
                "close, plus this one's), or the upstream says so (a `Retry-After` over "
                "`[sweep] quota_after`, a spent `RateLimit` quota, a 403 naming the quota, or "
                "nothing but 429s for two minutes); nothing more is sent, the run is left "
                "`interrupted` for `--resume` once the quota is renewed",
                short="the daily quota is spent ([gateway] daily_quota, or the upstream says "
                "so); the run is left interrupted for --resume once it is renewed",
            ),
        },
    )
    SIGHUP = (
        SIGNAL_BASE + signal.SIGHUP,
        {
            SWEEP: Meaning("interrupted by SIGHUP (the terminal closed); as 130"),
            READ: _READ_STOPPED,
        },
    )
    SIGINT = (
        SIGNAL_BASE + signal.SIGINT,
        {
            SWEEP: Meaning(
                "interrupted by SIGINT (Ctrl-C); the run is left `interrupted` for `--resume`"
            ),
            READ: _READ_STOPPED,
        },
    )
    PIPE_CLOSED = (  # what a shell reports for `yes | head`
        SIGNAL_BASE + signal.SIGPIPE,
        {
            READ: Meaning(
                "stdout (or an `-o` FIFO) was closed before the end (`harvester export "
                "short_trades | head`); nothing is printed"
            ),
            PLAN: Meaning("stdout was closed early (`harvester plan | head`)"),
        },
    )
    SIGTERM = (
        SIGNAL_BASE + signal.SIGTERM,
        {
            SWEEP: Meaning("interrupted by SIGTERM; as 130"),
            READ: _READ_STOPPED,
        },
    )

    @classmethod
    def for_signal(cls, signum: int) -> Exit:
        """The code of a stop by SIGHUP, SIGINT or SIGTERM: the shell's, 128 + n."""
        return cls(SIGNAL_BASE + signum)


#: ``check``'s problem codes, the first that holds wins: no run, running, unfinished... Data
#: behind (8) comes last: a run that is unfinished, failed or not run for days leaves the data
#: behind too, and its own code names that cause; 8 alone means the runs are fine and no
#: newer day came (upstream stopped publishing, or publishes later than the setting says).
CHECK_PRECEDENCE = (
    Exit.NO_RUN,
    Exit.RUNNING,
    Exit.UNFINISHED,
    Exit.FAILED,
    Exit.STALE,
    Exit.BEHIND,
)


def codes(command: str) -> tuple[Exit, ...]:
    """The codes ``command`` returns, in its table's order (``check``: by precedence)."""
    if command not in COMMANDS:
        raise ValueError(f"no exit codes declared for {command!r}; one of {', '.join(COMMANDS)}")
    if command == CHECK:
        return (Exit.OK, *CHECK_PRECEDENCE, Exit.USAGE)
    return tuple(code for code in Exit if command in code.meanings)


def rows(command: str) -> list[tuple[str, Meaning]]:
    """A table's rows: codes that mean the same thing share one, labelled ``129, 130, 143``."""
    merged: dict[Meaning, list[Exit]] = {}
    for code in codes(command):
        merged.setdefault(code.meanings[command], []).append(code)
    return [(", ".join(map(str, shared)), meaning) for meaning, shared in merged.items()]


def markdown_table(command: str) -> str:
    """``command``'s codes as a Markdown table: code and meaning (``check``: what to do too)."""

    def cells(*texts: str) -> str:
        return "| " + " | ".join(text.replace("|", "\\|") for text in texts) + " |"

    todo = command == CHECK
    head = ("code", "meaning", "what to do") if todo else ("code", "meaning")
    lines = [cells(*head), "|" + "---|" * len(head)]
    for label, meaning in rows(command):
        lines.append(
            cells(label, meaning.text, meaning.todo) if todo else cells(label, meaning.text)
        )
    return "\n".join(lines) + "\n"


def help_text(command: str, width: int = 79) -> str:
    """``command``'s codes for its ``-h`` epilog: a code and its meaning a line, wrapped."""
    table = rows(command)
    label_width = max(len(label) for label, _ in table)
    lines = []
    for label, meaning in table:
        lines += textwrap.wrap(
            meaning.plain,
            width,
            initial_indent=f"  {label:<{label_width}}  ",
            subsequent_indent=" " * (label_width + 4),
        )
    return "\n".join(lines) + "\n"
