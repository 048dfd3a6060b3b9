"""The one writer: task results queue up and are committed in batches, by size and by time.

A result waits at most ``interval`` (plus the commit itself) between being
submitted and being committed, with its rows and its task status together.
``run`` is one task of the sweep's task group: if a commit fails, its error
ends that task, the group cancels every other (a worker waiting to submit
included) and the sweep ends with that one error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType

from harvester.errors import one_error
from harvester.model import TaskResult
from harvester.store.store import Store, Written
from harvester.store.upserts import TableSpec


class BatchWriter:
    """Commits task results in batches.

    In a task group: ``group.create_task(writer.run())``, ``submit`` each result,
    ``finish`` after the last; after a cancellation, ``drain``. On its own,
    ``async with BatchWriter(...) as writer:`` runs it in a task group of its own
    and finishes it on the way out.
    """

    def __init__(
        self,
        store: Store,
        run_id: str,
        tables: Mapping[str, TableSpec],
        *,
        interval: float = 0.25,
        max_tasks: int = 500,
        queue_size: int = 16,
    ) -> None:
        self._store = store
        self._run_id = run_id
        self._tables = tables
        # Gather for half the bound: the commit and a queue wait fit in the other half.
        self._window = interval / 2
        self._max_tasks = max_tasks
        # While a commit runs, only about one answer per request in flight waits for the
        # next: when the store falls behind (full speed, unthrottled), fetching pauses and
        # leaves the interpreter to the commit instead of contending with it for the GIL.
        self._queue: asyncio.Queue[TaskResult | None] = asyncio.Queue(maxsize=queue_size)
        self._late: list[TaskResult] = []  # records of tasks cut off by a stop
        self._batch: list[TaskResult] = []  # the batch being gathered
        self._committing: asyncio.Future[None] | None = None  # the commit under way
        self._finished = False
        self._group: asyncio.TaskGroup | None = None
        self.written = Written()  #: rows written, new, revised and unchanged, so far
        self.tasks = 0  #: task results committed
        self.commits = 0  #: transactions committed

    def __repr__(self) -> str:
        return (
            f"<BatchWriter run={self._run_id} queued={self._queue.qsize()} "
            f"tasks={self.tasks} rows={self.rows} commits={self.commits}>"
        )

    @property
    def rows(self) -> int:
        """Rows written so far."""
        return self.written.rows

    async def __aenter__(self) -> BatchWriter:
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        self._group.create_task(self.run(), name="harvester-writer")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        group, self._group = self._group, None
        if group is None:
            return
        try:
            if exc is None:
                await self.finish()
            await group.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as errors:
            raise one_error(errors) from None

    async def submit(self, result: TaskResult) -> None:
        """Queue a result for the next commit; waits when the writer falls behind."""
        if self._finished:
            raise RuntimeError("writer is closed: submit came after finish")
        await self._queue.put(result)

    def submit_late(self, result: TaskResult) -> None:
        """Keep the record of a task cut off by a stop, without waiting; committed at the end.

        Called from a task that is being cancelled, so it must not await.
        """
        self._late.append(result)

    async def finish(self) -> None:
        """No more results: ``run`` commits what is queued and the late records, and returns."""
        if not self._finished:
            self._finished = True
            await self._queue.put(None)

    async def run(self) -> None:
        """Commit each batch as it is due until ``finish``; then the late records."""
        while (first := await self._queue.get()) is not None:
            self._batch = [first]
            end = await self._gather(self._batch)
            batch, self._batch = self._batch, []
            await self._commit(batch)
            if end:
                break
        await self._commit_late()

    async def drain(self) -> None:
        """After ``run`` was cancelled: end the commit under way, commit what is left; shielded."""
        self._finished = True
        if self._committing is not None:
            await asyncio.shield(self._committing)
        left, self._batch = self._batch, []  # a batch cut off while it was gathered
        while not self._queue.empty():
            if (item := self._queue.get_nowait()) is not None:
                left.append(item)
        if left:
            await self._commit(left)
        await self._commit_late()

    async def _commit_late(self) -> None:
        late, self._late = self._late, []
        if late:
            await self._commit(late)

    async def _commit(self, batch: list[TaskResult]) -> None:
        """One transaction, shielded: a cancellation lets it end (``drain`` waits for it)."""
        self._committing = asyncio.ensure_future(self._write(batch))
        try:
            await asyncio.shield(self._committing)
        finally:
            if self._committing.done():
                self._committing = None

    async def _write(self, batch: list[TaskResult]) -> None:
        self.written += await self._store.write_results(self._run_id, batch, self._tables)
        self.tasks += len(batch)
        self.commits += 1

    async def _gather(self, batch: list[TaskResult]) -> bool:
        """Add to ``batch`` what arrives within the window, up to ``max_tasks`` in all.

        Returns whether the end-of-queue marker came with it.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._window
        while len(batch) < self._max_tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            if not self._queue.empty():
                item = self._queue.get_nowait()  # no waiting, so no timer to arm
            else:
                try:
                    # Waits on the queue itself: the batch closes the moment it is due. Not
                    # wait_for: on Python 3.11 it loses a cancellation that arrives as the
                    # item does, and the writer, cancelled, would wait on an empty queue.
                    async with asyncio.timeout(remaining):
                        item = await self._queue.get()
                except TimeoutError:
                    break
            if item is None:
                return True
            batch.append(item)
        return False
