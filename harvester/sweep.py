"""A sweep: open or resume a run, stream its work to a fixed pool of workers, record the end.

Symbols flow from the database (where the run's universe was recorded when it
started) through a bounded queue to ``workers`` workers; each worker fetches a
symbol's endpoints concurrently and hands the results to the one writer. A
cancellation (Ctrl-C) stops the pool, the writer commits what finished, and
the run is left ``interrupted`` for ``--resume``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from harvester.client import Client
from harvester.config import Settings
from harvester.endpoints import ADAPTERS
from harvester.errors import (
    ConfigError,
    CredentialsRefused,
    GatewayUnavailable,
    HarvesterError,
    WrongAddress,
)
from harvester.fetch import FirstAnswers, Job, Stopped, Tally, fetch_task
from harvester.lock import DatabaseLock
from harvester.model import (
    RunStatus,
    RunSummary,
    StopKind,
    Symbol,
    TaskStatus,
    WorkItem,
)
from harvester.outage import OutageGuard
from harvester.report import Progress
from harvester.retry import RetryPolicy
from harvester.store import Store, TableSpec
from harvester.symbols import read_symbols
from harvester.writer import BatchWriter

log = logging.getLogger(__name__)

TASK_CHUNK = 2000  # task rows per insert while recording a new run's universe
MALFORMED_SHOWN = 20  # malformed lines logged one by one; the rest are counted


def first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first exception in a (possibly nested) exception group."""
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf


def new_run_id() -> str:
    """A sortable, unique run id such as ``20261121T093000Z-3fa9c1``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def table_specs() -> dict[str, TableSpec]:
    """Where each adapter's rows go."""
    return {
        name: TableSpec(
            name, adapter.table, tuple(column.name for column in adapter.columns),
            tuple((market, tuple(spec.column for spec in fields))
                  for market, fields in adapter.fields.items()),
        )
        for name, adapter in ADAPTERS.items()
    }


def build_jobs(settings: Settings) -> dict[str, Job]:
    """One Job per configured endpoint; a ``count`` outside its range is a ConfigError."""
    policy = RetryPolicy(
        max_attempts=settings.sweep.max_attempts,
        backoff_base=settings.sweep.backoff_base,
        backoff_max=settings.sweep.backoff_max,
        retry_after_max=settings.sweep.retry_after_max,
    )
    jobs = {}
    for config in settings.endpoints:
        adapter = ADAPTERS[config.name]
        adapter.check_count(config, settings.where(f"endpoints.{config.name}", "count"))
        jobs[config.name] = Job(adapter, config, policy, settings.sweep.retry_unknown)
    return jobs


async def record_universe(
    store: Store, run_id: str, path: Path, endpoints: Sequence[str], *, strict: bool
) -> tuple[int, int, int]:
    """Record a new run and its tasks from the symbols file in one transaction.

    Returns (symbols, duplicates, malformed lines). A duplicate is the same
    security written again, in any style; it is fetched once.
    """
    symbols = seen = malformed = 0
    first_problem = ""
    chunk: list[tuple[str, str, str, str | None]] = []
    async with store.transaction():
        await store.insert_run(run_id, str(path))
        for line in read_symbols(path):
            if line.symbol is None:
                if strict:
                    raise ConfigError(f"{path} line {line.lineno}: {line.error}")
                malformed += 1
                first_problem = first_problem or f"line {line.lineno}: {line.error}"
                if malformed <= MALFORMED_SHOWN:
                    log.warning("%s line %d: %s; skipped", path, line.lineno, line.error)
                continue
            symbol = line.symbol
            seen += 1
            if symbol.supported:
                chunk.extend((symbol.canonical, name, "pending", None) for name in endpoints)
            else:
                message = f"market {symbol.market} is not served by the gateway; not requested"
                chunk.extend((symbol.canonical, name, "unsupported", message) for name in endpoints)
            if len(chunk) >= TASK_CHUNK:
                symbols += await store.add_tasks(run_id, chunk) // len(endpoints)
                chunk.clear()
        symbols += await store.add_tasks(run_id, chunk) // len(endpoints)
        if not seen:
            # Rolls the new run back: an empty universe is a broken file, not a quiet night.
            found = (f"{malformed} malformed lines, the first {first_problem}" if malformed
                     else "it is empty or only comments")
            raise ConfigError(f"symbols file {path}: no valid symbol ({found})")
        await store.update_run(run_id, symbols=symbols, duplicates=seen - symbols,
                               malformed_lines=malformed)
    if malformed > MALFORMED_SHOWN:
        log.warning("%s: %d more malformed lines skipped", path, malformed - MALFORMED_SHOWN)
    return symbols, seen - symbols, malformed


def _age_hours(started_at: str) -> float:
    started = datetime.fromisoformat(started_at)
    return (datetime.now(UTC) - started).total_seconds() / 3600


async def _open_run(
    store: Store, settings: Settings, endpoints: Sequence[str], resume: bool
) -> tuple[str, bool, tuple[int, int, int]]:
    """Continue the latest unfinished run when asked and it is recent, else start a new one.

    The caller holds the database lock, so a run still marked ``running`` was
    left by a crash: it is resumed, or closed as ``interrupted``.
    """
    if resume:
        run = await store.latest_unfinished_run()
        max_age = settings.sweep.resume_max_age
        if run is not None and _age_hours(run.started_at) <= max_age:
            async with store.transaction():
                await store.interrupt_running("left by a crash", keep=run.run_id)
                await store.set_run_status(run.run_id, RunStatus.RUNNING)
                await store.update_run(run.run_id, resumes=1)
            log.info("resuming run %s (started %s)", run.run_id, run.started_at)
            return run.run_id, True, (0, 0, 0)
        if run is not None:
            async with store.transaction():
                await store.set_run_status(run.run_id, RunStatus.INTERRUPTED,
                                           f"too old to resume (over {max_age:g} hours)")
            log.warning("run %s started %s, more than resume_max_age (%g hours) ago: closed as "
                        "interrupted; starting a new run", run.run_id, run.started_at, max_age)
        else:
            log.info("no unfinished run to resume; starting a new one")
    async with store.transaction():
        await store.interrupt_running("left by a crash")
    run_id = new_run_id()
    path = Path(settings.sweep.symbols)
    counts = await record_universe(store, run_id, path, endpoints, strict=settings.sweep.strict)
    log.info("run %s: %d symbols from %s", run_id, counts[0], path)
    return run_id, False, counts


@dataclass(frozen=True, slots=True)
class Crew:
    """What every worker shares."""

    client: Client
    writer: BatchWriter
    jobs: Mapping[str, Job]
    progress: Progress
    guard: OutageGuard
    watch: FirstAnswers
    stop: asyncio.Event


async def _task(crew: Crew, symbol: Symbol, endpoint: str) -> None:
    """Fetch one task and hand its result to the writer the moment it ends.

    A task cut off by a stop leaves its attempts and last error on its record.
    """
    tally = Tally(stop=crew.stop)
    try:
        result = await fetch_task(crew.client, crew.jobs[endpoint], symbol, crew.guard,
                                  watch=crew.watch, tally=tally)
    except BaseException as exc:
        cut = tally.pending(symbol, endpoint, crew.client)
        if cut is not None:
            crew.writer.submit_late(cut)
        if isinstance(exc, Stopped):
            return  # stopping: it sent nothing more and stays pending
        raise
    await crew.writer.submit(result)
    crew.progress.record(result)


async def _worker(queue: asyncio.Queue[WorkItem | None], crew: Crew) -> None:
    while (item := await queue.get()) is not None:
        if crew.stop.is_set():
            continue  # stopping: drain the queue without starting anything new
        # Each endpoint commits on its own: a slow sibling never holds back a finished task.
        async with asyncio.TaskGroup() as group:
            for name in item.endpoints:
                group.create_task(_task(crew, item.symbol, name))


async def _pump(store: Store, run_id: str, crew: Crew, workers: int) -> None:
    """Feed the run's remaining work to the workers until it is done or a stop is asked."""
    queue: asyncio.Queue[WorkItem | None] = asyncio.Queue(maxsize=workers * 2)
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(workers):
                group.create_task(_worker(queue, crew))
            async for item in store.remaining_work(run_id, list(crew.jobs)):
                if crew.stop.is_set():
                    break
                await queue.put(item)
            for _ in range(workers):
                await queue.put(None)
    except* HarvesterError as group:
        # The TaskGroup has cancelled the other workers; one such error stops the run.
        raise first_leaf(group) from None


async def _supervise(pump: asyncio.Task[None], stop: asyncio.Event, grace: float) -> bool:
    """Wait for the pump; on a stop, give requests in flight ``grace`` seconds. True if stopped."""
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({pump, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if pump.done():
        pump.result()
        return stop.is_set()
    log.warning("stopping: no new symbols; requests in flight get up to %gs", grace)
    done, _ = await asyncio.wait({pump}, timeout=grace)
    if not done:
        pump.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pump
    return True


async def run_sweep(
    settings: Settings,
    *,
    resume: bool = False,
    token: str | None = None,
    progress: Progress | None = None,
    stop: asyncio.Event | None = None,
) -> RunSummary:
    """Run (or resume) a sweep to the end, a stop request or a cancellation, and summarise it.

    ``stop`` (set on the first Ctrl-C or SIGTERM) ends it gracefully: no new
    symbols, requests in flight get ``grace_period`` seconds, results commit.
    """
    jobs = build_jobs(settings)
    progress = progress or Progress()
    stop = stop or asyncio.Event()
    with DatabaseLock(Path(settings.sweep.db)):
        async with Store(Path(settings.sweep.db),
                         busy_timeout=settings.sweep.busy_timeout) as store:
            return await _run(store, settings, jobs, resume, token, progress, stop)


async def _run(
    store: Store, settings: Settings, jobs: Mapping[str, Job], resume: bool,
    token: str | None, progress: Progress, stop: asyncio.Event,
) -> RunSummary:
    run_id, resumed, (_, duplicates, malformed) = await _open_run(
        store, settings, list(jobs), resume
    )
    progress.run_id = run_id
    progress.total = sum(
        counts.get("pending", 0) + counts.get("failed", 0)
        for counts in (await store.task_counts(run_id)).values()
    )
    stop_kind, stop_reason = None, None
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            Client(settings.gateway, settings.endpoints, token=token)
        )
        progress.client = client
        writer = await stack.enter_async_context(BatchWriter(
            store, run_id, table_specs(),
            interval=settings.sweep.commit_interval, max_tasks=settings.sweep.commit_tasks,
        ))
        base_url = settings.gateway.base_url
        guard = OutageGuard(settings.sweep.outage_max, where=base_url)
        crew = Crew(client, writer, jobs, progress, guard, FirstAnswers(), stop)
        pump = asyncio.create_task(_pump(store, run_id, crew, settings.sweep.workers))
        try:
            if await _supervise(pump, stop, settings.sweep.grace_period):
                stop_kind, stop_reason = StopKind.SIGNAL, "stopped by a signal"
        except CredentialsRefused as refused:
            stop_kind = StopKind.CREDENTIALS
            stop_reason = (f"{refused.message}; check the token in the environment "
                           f"variable {settings.gateway.token_env}")
        except GatewayUnavailable as unavailable:
            stop_kind = StopKind.OUTAGE
            stop_reason = (f"{unavailable}; check [gateway] base_url, "
                           "or try the simulated gateway with --simulate")
        except WrongAddress as wrong:
            stop_kind, stop_reason = StopKind.ADDRESS, str(wrong)
        except asyncio.CancelledError:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            stop_kind, stop_reason = StopKind.SIGNAL, "cancelled"
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
    # The writer has committed everything that finished; now close the books.
    counts = await store.task_counts(run_id)
    pending = sum(c.get(TaskStatus.PENDING.value, 0) for c in counts.values())
    status = RunStatus.INTERRUPTED if pending else RunStatus.COMPLETED
    async with store.transaction():
        await store.update_run(run_id, requests=progress.requests)
        await store.set_run_status(run_id, status, stop_reason if pending else None)
    return RunSummary(
        run_id=run_id,
        status=status,
        resumed=resumed,
        tasks=counts,
        rows=writer.rows,
        warnings=progress.warnings,
        requests=progress.requests,
        elapsed=progress.elapsed,
        malformed_lines=malformed,
        duplicates=duplicates,
        stop_kind=stop_kind,
        stop_reason=stop_reason,
    )
