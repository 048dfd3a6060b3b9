"""The one writer: task results queue up and are committed in batches, by size and by time.

A result waits at most ``interval`` (plus the commit itself) between being
submitted and being committed, with its rows and its task status together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType

from harvester.model import TaskResult
from harvester.store import Store
from harvester.upserts import TableSpec


class BatchWriter:
    """Commits task results in batches; ``async with`` flushes everything on the way out."""

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
        self._task: asyncio.Task[None] | None = None
        self._late: list[TaskResult] = []  # records of tasks cut off by a stop
        self.rows = 0  #: rows written
        self.tasks = 0  #: task results committed
        self.commits = 0  #: transactions committed

    def __repr__(self) -> str:
        return (f"<BatchWriter run={self._run_id} queued={self._queue.qsize()} "
                f"tasks={self.tasks} rows={self.rows} commits={self.commits}>")

    async def __aenter__(self) -> BatchWriter:
        self._task = asyncio.create_task(self._run(), name="harvester-writer")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def submit(self, result: TaskResult) -> None:
        """Queue a result for the next commit; waits when the writer falls behind."""
        if self._task is None or self._task.done():
            await self.close()  # raises the writer's own failure, if that is why it stopped
            raise RuntimeError("writer is closed")
        await self._queue.put(result)

    def submit_late(self, result: TaskResult) -> None:
        """Keep the record of a task cut off by a stop, without waiting; committed on close.

        Called from a task that is being cancelled, so it must not await.
        """
        self._late.append(result)

    async def close(self) -> None:
        """Commit what is queued and stop; shielded so a cancellation cannot lose results."""
        task, self._task = self._task, None
        if task is None:
            return
        if not task.done():
            await asyncio.shield(self._queue.put(None))
        await asyncio.shield(task)
        late, self._late = self._late, []
        if late:
            await asyncio.shield(self._commit(late))

    async def _commit(self, batch: list[TaskResult]) -> None:
        self.rows += await self._store.write_results(self._run_id, batch, self._tables)
        self.tasks += len(batch)
        self.commits += 1

    async def _run(self) -> None:
        while (first := await self._queue.get()) is not None:
            batch, stop = await self._gather(first)
            await self._commit(batch)
            if stop:
                return

    async def _gather(self, first: TaskResult) -> tuple[list[TaskResult], bool]:
        """A batch: ``first`` and what arrives within the window, up to ``max_tasks``.

        Returns the batch and whether the end-of-queue marker came with it.
        """
        loop = asyncio.get_running_loop()
        batch = [first]
        deadline = loop.time() + self._window
        while len(batch) < self._max_tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            if not self._queue.empty():
                item = self._queue.get_nowait()  # no waiting, so no timer to arm
            else:
                try:
                    # Waits on the queue itself: the batch closes the moment it is due.
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False
