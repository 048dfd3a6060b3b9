"""Every task of a sweep belongs to one task group: a failure in any of them ends the sweep.

A failure is injected into each task in turn (the writer, the feeder, a worker, a probe,
the stopper, the display): a bug (an exception that is not ours) and, where a task can
raise one, an error of ours. ``run_sweep`` must end within a deadline and raise exactly
one named HarvesterError, never an ExceptionGroup and never a bare RuntimeError, leave
the run ``interrupted``, and a ``--resume`` must finish it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

import harvester.sweep.run
from harvester.errors import CredentialsRefused, HarvesterError, InternalError, StoreError
from harvester.model import RunStatus, StopKind
from harvester.simulate import Gateway
from harvester.store.store import Store
from harvester.sweep.run import run_sweep

SYMBOLS = "".join(f"G{i}.US\n" for i in range(40))
DEADLINE = 10.0  # seconds a failing sweep may take to end
Query = Callable[..., list[tuple[Any, ...]]]


class Boom(RuntimeError):
    """The bug injected: an exception that is not ours."""


class FailingStop(asyncio.Event):
    """A stop event whose ``wait`` fails: the stopper task's failure."""

    async def wait(self) -> bool:  # type: ignore[override]
        await asyncio.sleep(0)
        raise Boom("stopper boom")


def _fail_writer(monkeypatch: pytest.MonkeyPatch, task: str, error: BaseException) -> None:
    async def write_results(self: Store, *args: Any, **kwargs: Any) -> int:
        raise error

    monkeypatch.setattr(Store, "write_results", write_results)


def _fail_feeder(monkeypatch: pytest.MonkeyPatch, task: str, error: BaseException) -> None:
    real_work = Store.remaining_work

    async def remaining_work(self: Store, *args: Any) -> AsyncIterator[Any]:
        fed = 0
        async for item in real_work(self, *args):
            if fed == 10:
                raise error
            fed += 1
            yield item

    monkeypatch.setattr(Store, "remaining_work", remaining_work)


def _fail_fetch(monkeypatch: pytest.MonkeyPatch, task: str, error: BaseException) -> None:
    real_fetch = harvester.sweep.run.fetch_task
    calls = 0

    async def fetch_task(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == (1 if task == "probe" else 12):  # a nightly run asks its probes first
            raise error
        return await real_fetch(*args, **kwargs)

    monkeypatch.setattr(harvester.sweep.run, "fetch_task", fetch_task)


#: How each task is made to fail with an error (the stopper and the display are handed in).
INJECT = {
    "writer": _fail_writer,
    "feeder": _fail_feeder,
    "worker": _fail_fetch,
    "probe": _fail_fetch,
}


async def _show_that_fails(counts: object) -> None:
    await asyncio.sleep(0.01)
    raise Boom("display boom")


CASES = [
    # (task, the error injected, the error run_sweep must raise, words its message has)
    ("writer", Boom("writer boom"), InternalError, "writer failed: Boom: writer boom"),
    ("writer", StoreError("database h.sqlite: disk is full"), StoreError, "disk is full"),
    ("feeder", Boom("feeder boom"), InternalError, "feeder failed: Boom: feeder boom"),
    ("feeder", StoreError("database h.sqlite: disk I/O error"), StoreError, "disk I/O"),
    ("worker", Boom("worker boom"), InternalError, "worker failed: Boom: worker boom"),
    ("probe", Boom("probe boom"), InternalError, "probe failed: Boom: probe boom"),
    ("stopper", None, InternalError, "stopper failed: Boom: stopper boom"),
    ("display", None, InternalError, "display failed: Boom: display boom"),
]


@pytest.mark.parametrize(
    ("task", "error", "raised", "words"),
    CASES,
    ids=[f"{case[0]}-{type(case[1] or Boom()).__name__}" for case in CASES],
)
async def test_a_failure_in_any_task_ends_the_sweep_with_one_named_error(
    make_settings: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    query: Query,
    task: str,
    error: BaseException | None,
    raised: type[HarvesterError],
    words: str,
) -> None:
    async with Gateway() as gateway:
        settings = make_settings(gateway.url, SYMBOLS, sweep={"workers": 2})
        db = Path(settings.sweep.db)
        if task == "probe":  # probes are asked only once a run has stored something
            assert (await run_sweep(settings)).status is RunStatus.COMPLETED
        if error is not None:
            INJECT[task](monkeypatch, task, error)
        stop = FailingStop() if task == "stopper" else None
        show = _show_that_fails if task == "display" else None
        with pytest.raises(HarvesterError) as failed:
            async with asyncio.timeout(DEADLINE):
                await run_sweep(settings, stop=stop, show=show)
        monkeypatch.undo()
        assert type(failed.value) is raised, repr(failed.value)
        assert not isinstance(failed.value, BaseExceptionGroup)
        assert words in str(failed.value) and "\n" not in str(failed.value)
        ((status, reason),) = query(
            db, "SELECT status, stop_reason FROM runs ORDER BY started_at DESC LIMIT 1"
        )
        assert status == "interrupted" and reason.startswith("stopped by an error: "), reason
        done = await run_sweep(settings, resume=True)
    assert done.status is RunStatus.COMPLETED and done.resumed
    # Every task done: fetched (ok), or found unchanged by the probes of a nightly run.
    assert query(
        db,
        "SELECT SUM(status IN ('ok', 'unchanged')), COUNT(*) FROM tasks WHERE run_id = ?",
        (done.run_id,),
    ) == [(80, 80)]


async def test_a_run_wide_error_in_a_worker_stops_the_run_with_its_one_reason(
    make_settings: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    query: Query,
) -> None:
    # Refused credentials are the run's problem: the sweep stops with its reason and what
    # finished is committed; no ExceptionGroup and no other error comes out.
    async with Gateway() as gateway:
        settings = make_settings(gateway.url, SYMBOLS, sweep={"workers": 2})
        _fail_fetch(monkeypatch, "worker", CredentialsRefused("HTTP 401", code="http_401"))
        async with asyncio.timeout(DEADLINE):
            summary = await run_sweep(settings)
    assert summary.stop_kind is StopKind.CREDENTIALS and summary.status is RunStatus.INTERRUPTED
    assert (
        0
        < summary.tasks["short_trades"].get("ok", 0) + summary.tasks["short_interest"].get("ok", 0)
        < 80
    )
