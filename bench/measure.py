"""Run one command and report its wall time, CPU time and peak RSS: the bench's launcher.

``python -I bench/measure.py REPORT TIMEOUT -- ARGV...`` starts ARGV, reaps it
with ``os.wait4`` within TIMEOUT seconds (SIGKILL after that, or on SIGTERM or
SIGINT), and writes ``{"exit_code", "wall", "cpu", "max_rss_kb", "timed_out"}``
to the file REPORT.

Why a launcher: on Linux a child's ``ru_maxrss`` is at least the resident size
of the process that forked it (the kernel keeps the forked address space's
high-water mark across ``exec``). Forked straight from the bench, which holds
tens of MB, every sweep would report the bench's size as its floor. Forked
from this script, which imports almost nothing, the floor is about 10 MB.
Standard library only, and nothing from the bench: it runs with ``-I``.
The bench imports its ``wait4`` for the children it reaps itself.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resource import struct_rusage


POLL = 0.005  # seconds between looks at a child where pidfds are missing


def wait4(pid: int, timeout: float) -> tuple[int, struct_rusage] | None:
    """``os.wait4`` with a deadline: (status, rusage), or None if the child still runs."""
    deadline = time.monotonic() + timeout
    try:
        fd: int | None = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    try:
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                return status, usage
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if fd is not None:
                select.select([fd], [], [], remaining)
            else:
                time.sleep(min(POLL, remaining))
    finally:
        if fd is not None:
            os.close(fd)


def main(argv: list[str]) -> int:
    """Run the command, write the report; exit 0 unless the launcher itself is misused."""
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write("usage: measure.py REPORT TIMEOUT -- ARGV...\n")
        return 2
    report, timeout, command = argv[0], float(argv[1]), argv[3:]
    started = time.perf_counter()
    pid = os.posix_spawn(command[0], command, os.environ)

    def stop(signum: int, frame: FrameType | None) -> None:
        os.kill(pid, signal.SIGKILL)  # not reaped yet, so the pid is still our child's

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    reaped = wait4(pid, timeout)
    timed_out = reaped is None
    if reaped is None:
        os.kill(pid, signal.SIGKILL)
        reaped = wait4(pid, 30.0)
    wall = time.perf_counter() - started
    status, usage = reaped if reaped is not None else (0, None)
    figures = {
        "exit_code": os.waitstatus_to_exitcode(status) if usage is not None else None,
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime if usage is not None else 0.0,
        "max_rss_kb": usage.ru_maxrss if usage is not None else 0,
        "timed_out": timed_out,
    }
    with open(report, "w", encoding="utf-8") as handle:
        json.dump(figures, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
