"""One incremental run's state: what the file knew at its start, the probes, each task's fate.

``IncrementalRun.prepare`` reads what the file holds (newest stored day per
symbol and endpoint, the answer history for dead-symbol memory, the runs
before this one) and ranks each pair's probes among the run's unfinished
tasks; the sweep fetches the first ``probe_size``, then ``replacements`` for
those that did not answer ``ok``, and hands every probe's result to ``judge``;
then ``decide`` says, for every other task, whether it ends without a request
(``unchanged``, ``skipped``) or how many records to ask for. The rules are in
harvester.sweep.incremental; this module only applies them to one run. Nothing is kept
across a stop: a resumed run probes again among the tasks still unfinished,
which is as right as the first time (their stored days have not moved).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from harvester.catalog import ENDPOINTS, ROW_HEAD
from harvester.model import UNFINISHED, Symbol, TaskResult, TaskStatus
from harvester.settings.config import EndpointConfig, SweepConfig
from harvester.store.store import Store
from harvester.store.upserts import TableSpec
from harvester.sweep.incremental import (
    HISTORY_SQL,
    NEWEST_SQL,
    NIGHTS_SQL,
    Key,
    Knowledge,
    Pair,
    Row,
    Verdict,
    dead_tasks,
    history_params,
    incremental_count,
    needs_refetch,
    probe_candidates,
    probe_verdict,
    rank_probes,
    row_day,
)

#: Sweep runs started before run ``?``: tonight's ``night`` (which probes, which reread slice).
NIGHT_SQL = NIGHTS_SQL + " AND rowid < (SELECT rowid FROM runs WHERE run_id = ?)"
_PENDING_SQL = (
    f"SELECT status FROM tasks WHERE run_id = ? AND symbol = ? AND endpoint = ? "
    f"AND status IN ({', '.join(repr(s.value) for s in UNFINISHED)})"
)


@dataclass(frozen=True, slots=True)
class Decision:
    """One task's fate: a result without a request, or a fetch of ``count`` records."""

    result: TaskResult | None = None  #: final without a request (``unchanged``, ``skipped``)
    count: int | None = None  #: records to ask for; None: the configured ``count``
    stored_newest: str | None = None  #: the symbol's newest stored day, for the refetch check


FETCH_ALL = Decision()


@dataclass
class IncrementalRun:
    """Probes, verdicts and decisions for one run of a nightly sweep."""

    config: SweepConfig
    endpoints: Mapping[str, EndpointConfig]  #: the swept endpoints' settings, by name
    tables: Mapping[str, TableSpec]  #: where each endpoint's rows go
    knowledge: Knowledge = field(default_factory=lambda: Knowledge({}, {}))
    probes: dict[Pair, list[Key]] = field(default_factory=dict)  #: fetched first
    verdicts: dict[Pair, Verdict] = field(default_factory=dict)  #: set by ``judge``
    _stored: dict[Key, list[Row]] = field(default_factory=dict)  # probes' stored rows
    _reserves: dict[Pair, list[Key]] = field(default_factory=dict)  # next probes, in order
    _answered: dict[Pair, int] = field(default_factory=dict)  # probes that answered ok

    def __repr__(self) -> str:
        return (
            f"<IncrementalRun night={self.knowledge.night} known={len(self.knowledge.newest)} "
            f"dead={len(self.knowledge.dead)} probes={sum(map(len, self.probes.values()))} "
            f"verdicts={len(self.verdicts)}>"
        )

    @property
    def probed(self) -> frozenset[Key]:
        """Every probe task of this invocation, replacements included."""
        return frozenset(key for keys in self.probes.values() for key in keys)

    async def prepare(self, store: Store, run_id: str, now: datetime | None = None) -> None:
        """Read what the file holds and rank each pair's probes among unfinished tasks."""
        newest: dict[Key, str] = {}
        for name in self.endpoints:
            table = self.tables[name].table
            for symbol, day in await store.read(NEWEST_SQL.format(table=table)):
                newest[symbol, name] = day
        now = now or datetime.now(UTC)
        history = await store.read(HISTORY_SQL, history_params(run_id, self.config, now))
        dead = dead_tasks(history, self.config, now)
        ((night,),) = await store.read(NIGHT_SQL, (run_id,))
        self.knowledge = Knowledge.of(newest, dead, night, self.config.reread_nights)
        for pair, candidates in probe_candidates(self.knowledge).items():
            self._reserves[pair] = rank_probes(candidates, night, self.config.probe_size)
            self.probes[pair] = await self._take(store, run_id, pair, self.config.probe_size)

    async def _take(self, store: Store, run_id: str, pair: Pair, wanted: int) -> list[Key]:
        """The next ``wanted`` unfinished tasks of ``pair``'s ranked reserves, as probes."""
        reserves, chosen = self._reserves[pair], []
        while reserves and len(chosen) < wanted:
            key = reserves.pop(0)
            if await store.read(_PENDING_SQL, (run_id, *key)):
                chosen.append(key)
                self._stored[key] = await self._stored_rows(store, key)
        return chosen

    async def replacements(
        self, store: Store, run_id: str, results: Sequence[TaskResult]
    ) -> list[Key]:
        """Count the probes of ``results`` that answered ``ok``; for each pair short of
        ``probe_size`` such answers, the next reserves, added to its probes. Called once every
        probe fetched so far has ended."""
        for result in results:
            if result.status is TaskStatus.OK:
                pair = (result.symbol.market, result.endpoint)
                self._answered[pair] = self._answered.get(pair, 0) + 1
        added: list[Key] = []
        for pair, probes in self.probes.items():
            wanted = self.config.probe_size - self._answered.get(pair, 0)
            if wanted > 0 and self._reserves[pair]:
                more = await self._take(store, run_id, pair, wanted)
                probes.extend(more)
                added.extend(more)
        return added

    async def _stored_rows(self, store: Store, key: Key) -> list[Row]:
        """The probe's newest stored rows, as many as one answer holds, oldest first."""
        symbol, name = key
        spec = self.tables[name]
        rows = await store.read(
            f"SELECT {', '.join((*ROW_HEAD, *spec.columns))} FROM {spec.table} "
            "WHERE symbol = ? ORDER BY trade_date DESC LIMIT ?",
            (symbol, self.endpoints[name].count),
        )
        return [tuple(row) for row in reversed(rows)]

    def judge(self, results: Sequence[TaskResult]) -> None:
        """Decide each pair from its probes' results (those that ended ``ok`` count)."""
        answered: dict[Pair, list[tuple[Key, Sequence[Row], Sequence[Row]]]] = {}
        for result in results:
            key = (result.symbol.canonical, result.endpoint)
            if result.status is TaskStatus.OK:
                stored = self._stored.get(key, [])
                oldest = row_day(stored[0]) if stored else ""
                rows = [row for row in result.rows if row_day(row) >= oldest]
                answered.setdefault((result.symbol.market, result.endpoint), []).append(
                    (key, rows, stored)
                )
        for pair in self.probes:
            self.verdicts[pair] = probe_verdict(answered.get(pair, []))

    def decide(self, symbol: Symbol, endpoint: str) -> Decision:
        """What to do with a task that is not a probe."""
        key = (symbol.canonical, endpoint)
        knowledge = self.knowledge
        dead = knowledge.dead.get(key)
        if dead is not None:
            return Decision(
                TaskResult(symbol, endpoint, TaskStatus.SKIPPED, 0, error_message=dead.reason())
            )
        newest = knowledge.newest.get(key)
        if newest is None or knowledge.rereads(key):
            return FETCH_ALL  # new, or tonight's reread: everything the endpoint gives
        verdict = self.verdicts.get((symbol.market, endpoint))
        if verdict is not None and not verdict.news and not knowledge.behind(key):
            return Decision(
                TaskResult(
                    symbol,
                    endpoint,
                    TaskStatus.UNCHANGED,
                    0,
                    error_message=f"{verdict.reason}; newest stored {newest}",
                )
            )
        frontier = knowledge.frontier.get((symbol.market, endpoint))
        seen = verdict.newest if verdict is not None else None
        pair_newest = max(filter(None, (frontier, seen)), default=None)
        count = incremental_count(
            newest,
            pair_newest,
            self.config.overlap,
            self.endpoints[endpoint].count,
            _documented(endpoint),
            verdict.depth if verdict is not None else 0,
        )
        return Decision(count=count, stored_newest=newest)

    def refetch(self, decision: Decision, endpoint: str, result: TaskResult) -> bool:
        """True if an incremental answer may have left a hole: ask again for everything."""
        if decision.count is None or decision.stored_newest is None or not result.rows:
            return False
        return needs_refetch(
            result.rows, decision.count, self.endpoints[endpoint].count, decision.stored_newest
        )


def _documented(endpoint: str) -> tuple[int, int]:
    return next(entry.count_range for entry in ENDPOINTS if entry.name == endpoint)
