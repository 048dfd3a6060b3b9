"""Child processes with a deadline: wall time, CPU time and peak RSS of that child alone.

A measured child is started through ``bench/measure.py``, a tiny launcher
that reaps it with ``os.wait4`` and reports its ``rusage``: on Linux a child's
``ru_maxrss`` is never below the resident size of the process it was forked
from, so forked from the bench itself every sweep would report at least the
bench's own size. A child that the bench must be able to SIGKILL (``resume``)
is started directly instead, and its RSS is not used.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.measure import wait4

if TYPE_CHECKING:
    from resource import struct_rusage

MEASURE = Path(__file__).resolve().parent / "measure.py"
TAIL = 600  # characters of a child's stderr quoted in an error
BACKSTOP = 30.0  # seconds the launcher gets beyond its own deadline


class BenchError(Exception):
    """A case could not run: a child failed, timed out or printed nonsense."""


@dataclass(frozen=True, slots=True)
class Finished:
    """A child that ran to its end."""

    exit_code: int
    wall: float  #: seconds from start to exit
    cpu: float  #: user + system CPU seconds of the child
    max_rss_kb: int  #: peak resident set size of the child, KB (0 when not measured)
    stdout: str
    stderr: str


def child_env() -> dict[str, str]:
    """This environment without ``HARVESTER_*`` variables, so no local override skews a figure."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HARVESTER_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def harvester_argv(*args: str) -> list[str]:
    """The command line running the harvester's CLI with this interpreter."""
    return [sys.executable, "-m", "harvester", *args]


def tail(text: str) -> str:
    """The end of a child's output, for an error message."""
    text = text.strip()
    return text if len(text) <= TAIL else "..." + text[-TAIL:]


class Child:
    """A started child process whose output goes to files in ``folder``.

    ``measured`` children run under the launcher (true peak RSS, own deadline);
    the others are the bench's direct children, which ``kill`` can SIGKILL.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        folder: Path,
        name: str,
        timeout: float,
        measured: bool = True,
    ) -> None:
        self.argv = list(argv)
        self.timeout = timeout
        self.measured = measured
        self._out = folder / f"{name}.out"
        self._err = folder / f"{name}.err"
        self._report = folder / f"{name}.rusage.json"
        command = self.argv
        if measured:
            command = [
                sys.executable,
                "-I",
                str(MEASURE),
                str(self._report),
                str(timeout),
                "--",
                *self.argv,
            ]
        with self._out.open("wb") as out, self._err.open("wb") as err:
            self.started = time.perf_counter()
            self.proc = subprocess.Popen(
                command, cwd=cwd, env=child_env(), stdin=subprocess.DEVNULL, stdout=out, stderr=err
            )
        self.pid = self.proc.pid

    def __repr__(self) -> str:
        return f"<Child pid={self.pid} measured={self.measured} {' '.join(self.argv[2:4])}>"

    @property
    def what(self) -> str:
        """The command, shortly, for messages."""
        return " ".join(self.argv[2:4])

    def running(self) -> bool:
        """True while the child has not exited; never reaps it, so ``wait`` still can."""
        if self.proc.returncode is not None:
            return False
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        return os.waitid(os.P_PID, self.pid, flags) is None

    def kill(self) -> None:
        """Stop the child at once: SIGKILL it, or SIGTERM its launcher, which SIGKILLs it."""
        if self.proc.returncode is None:
            # Not reaped yet, so the pid is still our child's.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM if self.measured else signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> Finished:
        """Reap the child within its timeout, else kill it and raise BenchError.

        Interrupted (Ctrl-C, or SIGTERM turned into SystemExit), it kills the
        child first, so no sweep outlives the bench.
        """
        limit = timeout if timeout is not None else self.timeout
        try:
            reaped = wait4(self.pid, limit + BACKSTOP if self.measured else limit)
        except BaseException:
            self._stop()
            raise
        if reaped is None:
            self._stop()
            raise BenchError(f"{self.what} did not finish within {limit:g}s; killed")
        wall = time.perf_counter() - self.started
        self._mark(reaped)
        status, usage = reaped
        exit_code, cpu, rss = os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, 0
        if self.measured:
            report = self._read_report(exit_code)
            exit_code, wall = int(report["exit_code"]), float(report["wall"])
            cpu, rss = float(report["cpu"]), int(report["max_rss_kb"])
        return Finished(
            exit_code=exit_code,
            wall=wall,
            cpu=cpu,
            max_rss_kb=rss,
            stdout=self._out.read_text(encoding="utf-8", errors="replace"),
            stderr=self._err.read_text(encoding="utf-8", errors="replace"),
        )

    def _read_report(self, launcher_exit: int) -> dict[str, float | int]:
        try:
            report: dict[str, float | int] = json.loads(self._report.read_text())
        except (OSError, ValueError) as exc:
            stderr = self._err.read_text(encoding="utf-8", errors="replace")
            raise BenchError(
                f"the launcher of {self.what} exited {launcher_exit} without a "
                f"report: {tail(stderr)}"
            ) from exc
        if report["timed_out"]:
            raise BenchError(f"{self.what} did not finish within {self.timeout:g}s; killed")
        return report

    def _stop(self) -> None:
        self.kill()
        reaped = wait4(self.pid, BACKSTOP)
        if reaped is None and self.measured:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            reaped = wait4(self.pid, BACKSTOP)
        self._mark(reaped)

    def _mark(self, reaped: tuple[int, struct_rusage] | None) -> None:
        # Tell Popen the child is reaped, so it never waits for (or signals) a reused pid.
        if reaped is not None:
            self.proc.returncode = os.waitstatus_to_exitcode(reaped[0])


def run(argv: Sequence[str], *, cwd: Path, folder: Path, name: str, timeout: float) -> Finished:
    """Run a measured child to its end within ``timeout`` and return how it went."""
    return Child(argv, cwd=cwd, folder=folder, name=name, timeout=timeout).wait()
