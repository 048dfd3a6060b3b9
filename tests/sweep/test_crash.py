"""Crash safety: a sweep killed with SIGKILL again and again ends as if it had never been killed.

One simulated gateway (no faults, deterministic data) serves a universe of 600 US and HK
symbols twice: once to one uninterrupted sweep (the reference), and once to a sweep that is
killed with SIGKILL at seeded random moments (at least five real kills of a live process)
and then resumed with ``--resume`` until it exits 0. SIGKILL gives the process no chance to
clean up, so this proves what the store promises without help from the signal handlers:

* the SQLite file survives (``PRAGMA integrity_check`` is ``ok``);
* the data tables equal the reference row for row (``run_id``, ``fetched_at`` and
  ``first_seen_at`` aside): no row lost, none duplicated, none half-written;
* one run, ``completed``, and every task in a final status;
* only work that was in flight or not yet committed at a kill is fetched again: per kill at
  most each endpoint's ``concurrency`` plus a quarter second of its ``rate`` (the commit
  interval), measured both per invocation (requests served minus tasks newly committed) and
  in total against the gateway's count for the reference. So nothing committed is fetched
  twice.

``CRASH_SEED`` picks the kill moments; the seed is in every assertion message.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SEED = int(os.environ.get("CRASH_SEED", "20261121"))
SYMBOLS = 600  # half US, half HK: 1200 tasks, about 4-6 s at the rates below
RATE, CONCURRENCY, BURST = 150.0, 5, 1
ENDPOINTS = ("short_trades", "short_interest")
# Per kill: what can be in flight (the in-flight caps) plus what finished but was not yet
# committed (commit_interval = 0.25 s of each endpoint's rate).
PER_KILL = sum(CONCURRENCY + 0.25 * RATE for _ in ENDPOINTS)
KILLS = 5
MAX_KILL_TRIES = 12  # invocations allowed to reach KILLS real kills
MAX_RESUMES = 5  # invocations allowed to finish the run after the kills
KILL_AFTER = (0.45, 1.0)  # seconds after start; five of these cannot finish 1200 tasks
FINAL = ("ok", "no_data", "unsupported", "invalid")
SWEEP_TIMEOUT = 60.0
QUIET = 0.05  # seconds without a new request that mean a dead sweep's last one has arrived
SETTLE_TIMEOUT = 10.0

Query = Callable[..., list[tuple[Any, ...]]]


@dataclass
class Harness:
    """The gateway, the config and symbols, and what happened to every sweep started.

    ``start`` is the ``start_sweep`` fixture: it kills any sweep left when the test ends.
    """

    tmp_path: Path
    url: str
    query: Query
    served: Callable[[str], int]
    start: Callable[..., subprocess.Popen[Any]]
    log: list[str] = field(default_factory=lambda: [f"CRASH_SEED={SEED}"])
    invocations: int = 0

    def __post_init__(self) -> None:
        """Write the sweeps' config (for the gateway at ``url``) and symbols."""
        tables = "".join(
            f"[endpoints.{name}]\nrate = {RATE}\nburst = {BURST}\nconcurrency = {CONCURRENCY}\n"
            for name in ENDPOINTS
        )
        (self.tmp_path / "crash.toml").write_text(
            f'[gateway]\nbase_url = "{self.url}"\n[sweep]\nbackoff_base = 0.0\n{tables}',
            encoding="utf-8",
        )
        (self.tmp_path / "symbols.txt").write_text(
            "".join(
                f"T{i:03d}X.US\n" if i % 2 == 0 else f"{1000 + i}.HK\n" for i in range(SYMBOLS)
            ),
            encoding="utf-8",
        )

    def why(self, message: str) -> str:
        """An assertion message: what failed, the seed, and the log so far."""
        return f"{message} [CRASH_SEED={SEED}]\n" + "\n".join(self.log)

    def committed(self, db: Path) -> int:
        """Tasks with a final status; zero before the run (or the schema) exists."""
        if not db.exists():
            return 0
        try:
            return self.query(db, "SELECT COUNT(*) FROM tasks WHERE status != 'pending'")[0][0]
        except sqlite3.OperationalError:  # killed before the schema was committed
            return 0

    def settle(self) -> int:
        """The gateway's total once the requests a dead sweep left in the socket have arrived.

        Nothing says when the last of them is in, so this waits for a quiet spell: the
        count unchanged over ``QUIET`` seconds, within ``SETTLE_TIMEOUT``.
        """
        deadline = time.monotonic() + SETTLE_TIMEOUT
        total = self.served(self.url)
        while True:
            time.sleep(QUIET)  # the quiet spell itself: genuinely a length of time
            again = self.served(self.url)
            if again == total:
                return total
            total = again
            if time.monotonic() > deadline:
                raise AssertionError(
                    self.why(f"the gateway still receiving after {SETTLE_TIMEOUT:g}s")
                )

    def sweep(self, db: Path, *extra: str) -> subprocess.Popen[Any]:
        """Start ``harvester sweep`` on ``db``; its stderr goes to a file named after it."""
        self.invocations += 1
        args = [
            "sweep",
            *extra,
            "-q",
            "--config",
            str(self.tmp_path / "crash.toml"),
            "--symbols",
            str(self.tmp_path / "symbols.txt"),
            "--db",
            str(db),
        ]
        with self.stderr_file().open("w") as err:
            return self.start(args, cwd=self.tmp_path, stdout=subprocess.DEVNULL, stderr=err)

    def stderr_file(self) -> Path:
        return self.tmp_path / f"sweep-{self.invocations}.err"

    def check_exit(self, code: int, expected: int, what: str) -> None:
        """Assert an exit code, showing the sweep's last stderr lines if it is wrong."""
        if code != expected:
            tail = self.stderr_file().read_text(errors="replace").splitlines()[-15:]
            raise AssertionError(
                self.why(f"{what}: exit {code}, expected {expected}\n" + "\n".join(tail))
            )

    def reference(self, db: Path) -> int:
        """One uninterrupted sweep; returns the requests the gateway served for it."""
        before = self.settle()
        self.check_exit(self.sweep(db).wait(timeout=SWEEP_TIMEOUT), 0, "reference sweep")
        requests = self.settle() - before
        self.log.append(f"reference sweep: {requests} requests")
        return requests

    def kill_repeatedly(self, db: Path, rng: random.Random) -> list[int]:
        """Resume-and-SIGKILL until KILLS kills landed on a live sweep (bounded).

        Returns, per kill, the requests served minus the tasks newly committed: the
        work that was lost and will be fetched again.
        """
        lost: list[int] = []
        for _ in range(MAX_KILL_TRIES):
            if len(lost) >= KILLS:
                break
            moment = rng.uniform(*KILL_AFTER)
            before, done = self.settle(), self.committed(db)
            process = self.sweep(db, "--resume")
            time.sleep(moment)  # the seeded kill moment: this wait is the experiment
            alive = process.poll() is None
            if alive:
                os.kill(process.pid, signal.SIGKILL)
            code = process.wait(timeout=SWEEP_TIMEOUT)
            requests, newly = self.settle() - before, self.committed(db) - done
            self.log.append(
                f"invocation {self.invocations}: SIGKILL at {moment:.3f}s "
                f"{'landed' if alive else 'too late'} (exit {code}); "
                f"{requests} requests, {newly} tasks committed"
            )
            if not alive:
                # It finished first: the run is completed, no later kill can land in it.
                self.check_exit(code, 0, "sweep that ended before its kill")
                break
            self.check_exit(code, -signal.SIGKILL, "killed sweep")
            lost.append(requests - newly)
        return lost

    def resume_to_the_end(self, db: Path) -> None:
        """``--resume`` without kills until the run is completed (bounded)."""
        for _ in range(MAX_RESUMES):
            if self.query(db, "SELECT status FROM runs") == [("completed",)]:
                return
            before, done = self.settle(), self.committed(db)
            code = self.sweep(db, "--resume").wait(timeout=SWEEP_TIMEOUT)
            requests, newly = self.settle() - before, self.committed(db) - done
            self.log.append(
                f"invocation {self.invocations}: resume, exit {code}; "
                f"{requests} requests, {newly} tasks committed"
            )
            self.check_exit(code, 0, "resume")


def data_rows(query: Query, db: Path, table: str) -> list[tuple[Any, ...]]:
    """Every row of a data table, without ``run_id``, ``fetched_at``, ``first_seen_at``, by key."""
    columns = [
        row[1]
        for row in query(db, f"PRAGMA table_info({table})")
        if row[1] not in ("run_id", "fetched_at", "first_seen_at")
    ]
    return query(db, f"SELECT {', '.join(columns)} FROM {table} ORDER BY symbol, trade_date")


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_equals_one_clean_sweep(
    tmp_path: Path,
    gateway_process: Callable[..., Any],
    served: Callable[[str], int],
    start_sweep: Callable[..., subprocess.Popen[Any]],
    query: Query,
) -> None:
    with gateway_process(0) as gateway:
        harness = Harness(tmp_path, gateway.url, query, served, start_sweep)
        why = harness.why
        ref, crash = tmp_path / "ref.sqlite", tmp_path / "crash.sqlite"
        reference = harness.reference(ref)
        assert reference == 2 * SYMBOLS, why("no faults: one request per task")

        start = harness.settle()
        lost = harness.kill_repeatedly(crash, random.Random(SEED))
        kills = len(lost)
        assert kills >= KILLS, why(f"only {kills} kills landed on a live sweep")
        harness.resume_to_the_end(crash)
        total = harness.settle() - start

    redone, bound = total - reference, kills * PER_KILL
    harness.log.append(
        f"kills {kills}; lost per kill {lost}; crash run {total} requests, "
        f"redone {redone}, bound {bound:g} ({PER_KILL:g} per kill)"
    )
    print("\n".join(harness.log))

    integrity = query(crash, "PRAGMA integrity_check")
    assert integrity == [("ok",)], why(f"integrity_check: {integrity}")
    assert query(crash, "SELECT status FROM runs") == [("completed",)], why("one run, completed")
    final = ", ".join(f"'{status}'" for status in FINAL)
    unfinished = query(crash, f"SELECT COUNT(*) FROM tasks WHERE status NOT IN ({final})")
    assert unfinished == [(0,)], why("tasks left without a final status")
    assert query(crash, "SELECT COUNT(*) FROM tasks") == [(2 * SYMBOLS,)], why("task count")
    for table in ENDPOINTS:
        expected, got = data_rows(query, ref, table), data_rows(query, crash, table)
        assert expected, why(f"reference {table} is empty")
        assert got == expected, why(f"{table}: {len(got)} rows vs {len(expected)} reference")
    assert total >= reference, why("fewer requests than the reference")
    assert redone <= bound, why(f"{redone} requests redone, more than {bound:g}")
    assert sum(lost) == redone, why("the per-kill losses do not add up to the total")
    for n, extra in enumerate(lost, 1):
        assert 0 <= extra <= PER_KILL, why(f"kill {n} lost {extra} requests > {PER_KILL:g}")
