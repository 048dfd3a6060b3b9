"""A sweep: fetch a run's remaining work with a fixed pool of workers, then close the books.

Tasks flow from the database (where the run's universe was recorded when it
started, see harvester.sweep.ledger) through a bounded queue to the workers, one per
symbol and endpoint of the ``workers`` symbols fetched at once; each task goes
to the one writer the moment it ends. A stop request stops the pool, the
writer commits what finished, and the run is left ``interrupted`` for
``--resume``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TypeVar

from harvester.catalog import GATEWAY, served_by
from harvester.errors import (
    CredentialsRefused,
    GatewayUnavailable,
    HarvesterError,
    InternalError,
    QuotaSpent,
    StoreError,
    WrongAddress,
    one_error,
)
from harvester.model import (
    UNFINISHED,
    RunSummary,
    StopKind,
    Symbol,
    TaskResult,
    TaskStatus,
    tasks_in,
)
from harvester.settings.config import Settings
from harvester.store.lock import DatabaseLock
from harvester.store.store import Store, symbol_from_canonical
from harvester.store.upserts import TableSpec, table_spec
from harvester.sweep.backfill import Backfill, oldest_stored, page_back
from harvester.sweep.counts import SweepCounts
from harvester.sweep.fetch import FirstAnswers, Gate, Job, Stopped, Tally, fetch_task
from harvester.sweep.incremental_run import FETCH_ALL, Decision, IncrementalRun
from harvester.sweep.ledger import OpenedRun, open_run
from harvester.sweep.outage import GuardState, OutageGuard
from harvester.sweep.quota import QUOTA_STOPPED, Clock, DailyQuota, now_utc
from harvester.sweep.report import FAILED_SHOWN
from harvester.sweep.retry import RetryPolicy
from harvester.sweep.writer import BatchWriter
from harvester.upstream.auth import Auth
from harvester.upstream.client import Client
from harvester.upstream.endpoints import adapters

log = logging.getLogger(__name__)

Stop = tuple[StopKind | None, str | None]  # why a sweep stopped early, and in words
LAST_WORD_WAIT = 1.0  # seconds a failed sweep waits for a write lock to close its books
Work = tuple[Symbol, str]  # a task as queued for the workers: a symbol and one of its endpoints
T = TypeVar("T")


def table_specs(api: str = GATEWAY) -> dict[str, TableSpec]:
    """Where the rows of each data set of the dialect ``api`` go."""
    return {endpoint.name: table_spec(endpoint) for endpoint in served_by(api)}


def build_jobs(settings: Settings) -> dict[str, Job]:
    """One Job per configured endpoint (``load_settings`` has checked each ``count``)."""
    policy = RetryPolicy.from_settings(settings.sweep)
    served = adapters(settings.gateway.api)
    return {
        config.name: Job(served[config.name], config, policy, settings.sweep.retry_unknown)
        for config in settings.endpoints
    }


@dataclass(frozen=True, slots=True)
class Fetcher:
    """How every task is fetched: the client, each endpoint's job, the outage guard, the
    watch on each endpoint's first answers, and the sweep's gate for every request."""

    client: Client
    jobs: Mapping[str, Job]
    guard: OutageGuard
    watch: FirstAnswers
    gate: Gate

    async def fetch_one(
        self,
        symbol: Symbol,
        endpoint: str,
        count: int | None,
        *,
        cut: Callable[[TaskResult], None],
        before: int | None = None,
    ) -> TaskResult | None:
        """One task fetched to its final status; None if a stop cut it off.

        A task cut off (by a stop, or by a cancellation) hands the record of its attempts
        and last error to ``cut``, if it sent any request.
        """
        tally = Tally(gate=self.gate)
        try:
            return await fetch_task(
                self.client,
                self.jobs[endpoint],
                symbol,
                self.guard,
                watch=self.watch,
                tally=tally,
                count=count,
                before=before,
            )
        except BaseException as exc:
            record = tally.pending(symbol, endpoint, self.client)
            if record is not None:
                cut(record)
            if isinstance(exc, Stopped):
                return None  # stopping: it sent nothing more and stays pending
            raise


@dataclass(frozen=True, slots=True)
class Crew:
    """What every worker shares: how a task is fetched, where its result goes, where it is
    counted, and the incremental mode's state (None for ``--full``)."""

    fetcher: Fetcher
    writer: BatchWriter
    counts: SweepCounts
    incremental: IncrementalRun | None = None
    backfill: Backfill | None = None  #: a backfill's bound: each task pages back to it


async def _task(
    crew: Crew, symbol: Symbol, endpoint: str, decision: Decision = FETCH_ALL
) -> TaskResult | None:
    """Carry out one task's decision and hand its result to the writer the moment it ends."""
    if crew.backfill is not None:
        fetcher, writer = crew.fetcher, crew.writer

        async def fetch(count: int, before: int | None) -> TaskResult | None:
            return await fetcher.fetch_one(
                symbol, endpoint, count, cut=writer.submit_late, before=before
            )

        await page_back(crew.backfill, symbol, endpoint, fetch, writer.submit, crew.counts)
        return None
    result = decision.result
    fetch_one, cut = crew.fetcher.fetch_one, crew.writer.submit_late
    if result is None:
        result = await fetch_one(symbol, endpoint, decision.count, cut=cut)
        if result is None:
            return None
        if crew.incremental is not None and crew.incremental.refetch(decision, endpoint, result):
            # The incremental answer did not reach back to the stored days: ask for all.
            again = await fetch_one(symbol, endpoint, None, cut=cut)
            if again is None:
                return None
            result = replace(again, attempts=result.attempts + again.attempts)
    await crew.writer.submit(result)
    crew.counts.record(result)
    return result


async def _part(name: str, work: Awaitable[T]) -> T:
    """``work``, with any exception that is not ours named as a bug in task ``name``."""
    try:
        return await work
    except (HarvesterError, Stopped, BaseExceptionGroup):
        raise  # ours, or a group of a task group inside: its leaves are named already
    except Exception as exc:
        log.debug("%s failed", name, exc_info=True)
        raise InternalError.from_bug(exc, f"the sweep's {name} failed: ") from exc


async def _worker(queue: asyncio.Queue[Work | None], crew: Crew) -> None:
    incremental = crew.incremental
    probed = incremental.probed if incremental is not None else frozenset()
    while (task := await queue.get()) is not None:
        if crew.fetcher.gate.shut:
            continue  # stopping: drain the queue without starting anything new
        symbol, endpoint = task
        if incremental is None:
            await _task(crew, symbol, endpoint)
        elif (symbol.canonical, endpoint) not in probed:
            await _task(crew, symbol, endpoint, incremental.decide(symbol, endpoint))


PROBE_ROUNDS = 4  # rounds of replacements for probes that did not answer ok, at most


async def _probe(crew: Crew, incremental: IncrementalRun, store: Store, run_id: str) -> None:
    """Fetch every pair's probes, and replacements for those that did not answer ``ok``, then
    judge each pair from their answers."""
    keys, results = sorted(incremental.probed), []
    for round_ in range(1, PROBE_ROUNDS + 1):
        if not keys or crew.fetcher.gate.shut:
            break
        async with asyncio.TaskGroup() as group:
            running = [
                group.create_task(
                    _part("probe", _task(crew, symbol_from_canonical(symbol), endpoint))
                )
                for symbol, endpoint in keys
            ]
        done = [result for task in running if (result := task.result()) is not None]
        results.extend(done)
        if round_ < PROBE_ROUNDS:  # a replacement chosen is fetched: none after the last round
            keys = await incremental.replacements(store, run_id, done)
    incremental.judge(results)
    for (market, endpoint), verdict in sorted(incremental.verdicts.items()):
        log.info("%s %s: %s", market, endpoint, verdict.reason)


async def _pump(store: Store, run_id: str, crew: Crew, workers: int) -> None:
    """Feed the run's remaining tasks to the workers until it is done or a stop is asked.

    ``workers`` symbols at once: one worker per symbol and endpoint, each fetching
    one task at a time. A symbol's tasks are queued side by side, so its endpoints
    are fetched concurrently, and each commits on its own: a slow sibling never
    holds back a finished task, nor the worker that fetched it.
    """
    count = workers * len(crew.fetcher.jobs)
    queue: asyncio.Queue[Work | None] = asyncio.Queue(maxsize=count)
    if crew.incremental is not None:
        await _probe(crew, crew.incremental, store, run_id)
    async with asyncio.TaskGroup() as group:
        for _ in range(count):
            group.create_task(_part("worker", _worker(queue, crew)))
        group.create_task(_part("feeder", _feed(store, run_id, crew, queue, count)))


async def _feed(
    store: Store, run_id: str, crew: Crew, queue: asyncio.Queue[Work | None], workers: int
) -> None:
    """Queue each remaining task until none is left or a stop is asked; then end each worker."""
    async for item in store.remaining_work(run_id, list(crew.fetcher.jobs)):
        if crew.fetcher.gate.shut:
            break
        for endpoint in item.endpoints:
            await queue.put((item.symbol, endpoint))
    for _ in range(workers):
        await queue.put(None)


async def _stopper(fetching: asyncio.Task[None], stop: asyncio.Event, grace: float) -> None:
    """On a stop, give requests in flight ``grace`` seconds, then cut the fetching off."""
    await stop.wait()
    log.warning("stopping: no new symbols; requests in flight get up to %gs", grace)
    done, _ = await asyncio.wait({fetching}, timeout=grace)
    if not done:
        fetching.cancel()


Show = Callable[[SweepCounts], Awaitable[None]]  # a display, reading the counts until cancelled


async def _sweep_group(
    store: Store, run_id: str, crew: Crew, settings: Settings, show: Show | None
) -> None:
    """Every task of a sweep in one group: the fetching (probes, then the feeder and the
    workers, in task groups of its own), the writer, the stopper and the display. Any
    task's failure cancels the others at once.
    """
    async with asyncio.TaskGroup() as group:
        group.create_task(_part("writer", crew.writer.run()), name="harvester-writer")
        showing = (
            group.create_task(_part("display", show(crew.counts)), name="harvester-progress")
            if show is not None
            else None
        )
        fetching = group.create_task(
            _part("fetching", _pump(store, run_id, crew, settings.sweep.workers)),
            name="harvester-fetching",
        )
        stopper = group.create_task(
            _part(
                "stopper", _stopper(fetching, crew.fetcher.gate.stop, settings.sweep.grace_period)
            ),
            name="harvester-stopper",
        )
        await asyncio.wait({fetching})  # its error, if any, reaches the group on its own
        stopper.cancel()
        await crew.writer.finish()  # the writer commits what is left and returns
        if showing is not None:
            showing.cancel()


async def run_sweep(
    settings: Settings,
    *,
    resume: bool = False,
    auth: Auth | None = None,
    stop: asyncio.Event | None = None,
    show: Show | None = None,
    since: date | None = None,
    clock: Clock = now_utc,
    served_day: date | None = None,
) -> RunSummary:
    """Run (or resume) a sweep to the end or a stop request, and summarise it.

    ``stop`` (set on the first Ctrl-C or SIGTERM) ends it gracefully: no new
    request, requests in flight get ``grace_period`` seconds, results commit.
    A cancellation (``asyncio.timeout`` around the sweep) does the same at once
    and is then raised again. ``show(counts)`` runs beside the sweep, in its task
    group, until the sweep ends: the progress display, reading the sweep's own
    ``SweepCounts``. Any other failure ends the sweep with one HarvesterError (never
    an exception group): the run is left ``interrupted`` for ``--resume`` where the
    file still takes the write. ``auth`` signs the requests (default: none). With
    ``since``, the run is a backfill (:mod:`harvester.sweep.backfill`): each task pages
    its history back to that day, in the OpenAPI dialect only. ``clock`` tells the time for
    the daily quota's UTC day. ``served_day`` is the simulated gateway's served day, kept
    with a new run (``--simulate``), so ``check`` judges the data's freshness against it.
    """
    jobs = build_jobs(settings)
    stop = stop or asyncio.Event()
    started = time.monotonic()
    # The lock outlives the store: closing its descriptor first would drop SQLite's locks.
    with DatabaseLock(Path(settings.sweep.db)):
        async with Store(
            Path(settings.sweep.db), busy_timeout=settings.sweep.busy_timeout
        ) as store:
            kind = "backfill" if since is not None else "sweep"
            run = await open_run(store, settings, list(jobs), resume, kind, served_day)
            guard = OutageGuard(settings.sweep.outage_max, where=settings.gateway.base_url)
            counts = SweepCounts(
                run_id=run.run_id,
                total=tasks_in(await store.task_counts(run.run_id), *UNFINISHED),
                rates=settings.pace,
                paused=lambda: guard.state is not GuardState.CLOSED,
            )
            sweep = _Sweep(store, settings, jobs, run.run_id, guard, counts, stop, clock)
            try:
                why = await _sweep_tasks(sweep, auth, show, since)
            except asyncio.CancelledError:
                # The books are closed even so (shielded: the cancellation must not cut the
                # last commit), and the cancellation goes on, so a timeout around us works.
                cancelled = (StopKind.SIGNAL, "cancelled")
                await asyncio.shield(_close(store, run, counts, started, cancelled))
                raise
            except HarvesterError as error:
                await _leave_interrupted(store, run, counts, error)
                raise
            return await _close(store, run, counts, started, why)


@dataclass(frozen=True, slots=True)
class _Sweep:
    """One invocation's fixed parts: its file, settings, jobs, run, guard, counts and stop."""

    store: Store
    settings: Settings
    jobs: Mapping[str, Job]
    run_id: str
    guard: OutageGuard
    counts: SweepCounts
    stop: asyncio.Event
    clock: Clock  #: the time now, for the quota's UTC day


async def _leave_interrupted(
    store: Store, run: OpenedRun, counts: SweepCounts, error: HarvesterError
) -> None:
    """After a run-wide failure, close the books if the file still takes it; else leave them.

    A run left ``running`` with no sweep holding the lock is resumed all the same. A write
    lock that already outlasted ``busy_timeout`` is waited for at most ``LAST_WORD_WAIT``
    more, so the sweep ends within seconds of the failure whatever ``busy_timeout`` is.
    """
    try:
        await store.wait_at_most(LAST_WORD_WAIT)
        await store.finish_run(run.run_id, counts.requests, f"stopped by an error: {error}")
    except StoreError as again:
        log.debug("the run stays marked running: %s", again)


async def _sweep_tasks(
    sweep: _Sweep, auth: Auth | None, show: Show | None, since: date | None = None
) -> Stop:
    """Fetch the run's remaining work to its end, a stop or a run-wide error; say why it stopped."""
    store, settings, jobs, run_id = sweep.store, sweep.settings, sweep.jobs, sweep.run_id
    async with Client(settings.gateway, settings.endpoints, auth=auth) as client:
        pacer = client.pacer
        if pacer is not None:
            sweep.counts.pace = lambda: (pacer.rate, pacer.cuts, pacer.engaged)
        writer = BatchWriter(
            store,
            run_id,
            table_specs(settings.gateway.api),
            interval=settings.sweep.commit_interval,
            max_tasks=settings.sweep.commit_tasks,
            queue_size=sum(settings.endpoint(name).concurrency for name in jobs),
        )
        quota = DailyQuota(settings.gateway.daily_quota, store, sweep.clock)
        incremental, backfill = None, None
        if since is not None:
            backfill = Backfill(since, await oldest_stored(store, list(jobs)))
        elif not settings.sweep.full:
            incremental = IncrementalRun(
                settings.sweep,
                {name: settings.endpoint(name) for name in jobs},
                table_specs(settings.gateway.api),
            )
            await incremental.prepare(store, run_id)
        gate = Gate(sweep.stop, quota, sweep.counts)
        fetcher = Fetcher(client, jobs, sweep.guard, FirstAnswers(), gate)
        crew = Crew(fetcher, writer, sweep.counts, incremental, backfill)
        try:
            await _sweep_group(store, run_id, crew, settings, show)
        except asyncio.CancelledError:
            await asyncio.shield(writer.drain())  # commit what finished, then go on cancelling
            await asyncio.shield(quota.settle())
            raise
        except BaseExceptionGroup as errors:
            error = one_error(errors)
            if isinstance(error, StoreError):
                raise error from None  # the file failed: nothing more can be committed
            # A writer that failed may fail again on what is left: named, as in the group.
            await asyncio.shield(_part("writer", writer.drain()))
            await asyncio.shield(quota.settle())
            return _stop_for(error, client)
        await quota.settle()
    if quota.reached:
        return StopKind.QUOTA, QUOTA_STOPPED + quota.reason()
    return (StopKind.SIGNAL, "stopped by a signal") if sweep.stop.is_set() else (None, None)


def _stop_for(error: HarvesterError, client: Client) -> Stop:
    """Why a run-wide error stopped the sweep; any other error is raised again."""
    if isinstance(error, CredentialsRefused):
        # The upstream's message may echo what it was sent: redacted.
        return StopKind.CREDENTIALS, f"{client.redact(error.message)}; {client.auth.hint}"
    if isinstance(error, QuotaSpent):
        return StopKind.QUOTA, (
            f"{QUOTA_STOPPED}{client.redact(error.message)}; the run is left interrupted: run "
            "it again with --resume once the quota is renewed"
        )
    if isinstance(error, GatewayUnavailable):
        return StopKind.OUTAGE, (
            f"{error}; check [gateway] base_url, or try the simulated gateway with --simulate"
        )
    if isinstance(error, WrongAddress):
        return StopKind.ADDRESS, str(error)
    raise error


async def _close(
    store: Store, run: OpenedRun, counts: SweepCounts, started: float, why: Stop
) -> RunSummary:
    """Close the books: the run is ``completed`` if no task is left pending, and summarised."""
    stop_kind, stop_reason = why
    status, tasks = await store.finish_run(run.run_id, counts.requests, stop_reason, counts.refused)
    pace, cuts, _ = counts.pace() if counts.pace is not None else (None, 0, False)
    # Read back once the books are closed, so no list of failures is kept during the sweep.
    failed = tasks_in(tasks, TaskStatus.FAILED)
    failed_tasks = await store.failed_tasks(run.run_id, FAILED_SHOWN) if failed else []
    written = store.written(run.run_id)  # this invocation's rows, as the store classed them
    return RunSummary(
        run_id=run.run_id,
        status=status,
        resumed=run.resumed,
        tasks=tasks,
        rows=written.rows,
        warnings=counts.warnings,
        requests=counts.requests,
        elapsed=time.monotonic() - started,
        malformed_lines=run.malformed_lines,
        duplicates=run.duplicates,
        stop_kind=stop_kind,
        stop_reason=stop_reason,
        failed_tasks=tuple(failed_tasks),
        refused=counts.refused,
        cuts=cuts,
        pace=pace,
        rows_new=written.new,
        rows_revised=written.revised,
        rows_unchanged=written.unchanged,
    )
