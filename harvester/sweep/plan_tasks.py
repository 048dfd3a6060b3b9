"""The plan's figures: per pair, what the next sweep will do with each task, and its requests.

No request is sent and nothing is written: the database is opened read-only (a
missing one is fine: every task is new). The symbols file is read as the sweep
reads it (``Universe``); every decision is harvester.sweep.incremental's (``choose_probes``,
``dead_tasks``, ``Knowledge.plan``). At best and at worst a fetched task counts one
request (retries and refetches are not foreseen); the likely figure weighs each pair's
followers by its chance of news tonight and counts the requests recent sweeps sent per
task (harvester.sweep.plan_estimate). The time is the slowest endpoint's at its ``rate``.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from harvester.model import SUPPORTED_MARKETS, TaskStatus
from harvester.settings.config import Settings, SweepConfig
from harvester.store.database import reading, snapshot
from harvester.sweep.incremental import (
    HISTORY_SQL,
    NEWEST_SQL,
    NIGHTS_SQL,
    Category,
    Key,
    Knowledge,
    choose_probes,
    dead_tasks,
    history_params,
    pair_of,
    probe_candidates,
)
from harvester.sweep.ledger import read_universe
from harvester.sweep.plan_estimate import History, Outlook, outlook, read_history
from harvester.sweep.quota import USED_ON_SQL, USED_TODAY_SQL, utc_day, utc_midnight

FETCH = "fetch"  #: with ``--full``: a task with stored rows, fetched with the configured count
UNSUPPORTED = TaskStatus.UNSUPPORTED.value  #: a market the gateway does not serve: no request
CATEGORIES = (
    Category.NEW.value,
    Category.PROBE.value,
    Category.FOLLOW.value,
    Category.BEHIND.value,
    Category.REREAD.value,
    Category.SKIP.value,
    FETCH,
    UNSUPPORTED,
)
Pair = tuple[str, str]  # (endpoint, market)


@dataclass(frozen=True, slots=True)
class PairPlan:
    """One endpoint and market: its tasks by what the sweep will do with them."""

    endpoint: str
    market: str
    counts: Mapping[str, int]  #: tasks by category (``CATEGORIES``)
    probes: tuple[str, ...] = ()  #: the symbols probed, in the order they are chosen

    @property
    def tasks(self) -> int:
        """Every task of the pair."""
        return sum(self.counts.values())

    @property
    def best(self) -> int:
        """Requests if the probes find no news: probes, new tasks and ``--full`` fetches."""
        fetched = (Category.PROBE, Category.NEW, Category.BEHIND, Category.REREAD, FETCH)
        return sum(self.counts.get(name, 0) for name in fetched)

    @property
    def worst(self) -> int:
        """Requests if the probes find news: the followers are fetched too."""
        return self.best + self.counts.get(Category.FOLLOW, 0)


@dataclass(frozen=True, slots=True)
class SweepPlan:
    """The whole plan: every pair, the requests and minutes per endpoint, and warnings."""

    database: Path
    database_exists: bool
    symbols_file: Path
    totals: Mapping[str, int]  #: ``symbols``, ``duplicates``, ``malformed_lines``
    full: bool
    probe_size: int
    rates: Mapping[str, float]  #: requests per second, by endpoint
    pairs: tuple[PairPlan, ...]
    daily_quota: int
    requests_today: int  #: sent this UTC day, as the quota counts them
    outlook: Outlook  #: tonight's chance of news per pair, and the requests per fetched task

    def requests(self, endpoint: str | None = None, *, worst: bool) -> int:
        """Requests of one endpoint (or all), at best or at worst."""
        return sum(
            pair.worst if worst else pair.best
            for pair in self.pairs
            if endpoint in (None, pair.endpoint)
        )

    def fetches(self, pair: PairPlan) -> float:
        """A pair's likely fetched tasks: its followers weighed by its chance of news tonight."""
        chance = 1.0 if self.full else self.outlook.chance((pair.endpoint, pair.market))
        return pair.best + chance * pair.counts.get(Category.FOLLOW, 0)

    def likely(self, endpoint: str | None = None) -> float:
        """Likely requests of one endpoint (or all): the likely fetches, each at the requests
        recent sweeps sent per fetched task."""
        fetches = sum(
            self.fetches(pair) for pair in self.pairs if endpoint in (None, pair.endpoint)
        )
        return fetches * self.outlook.per_task

    @property
    def warnings(self) -> tuple[str, ...]:
        """The warning when the sweep may run out of the day's quota, if it may."""
        return _quota_warnings(
            self.requests(worst=False),
            self.requests(worst=True),
            self.requests_today,
            self.daily_quota,
        )

    def minutes(self, *, worst: bool, likely: bool = False) -> float:
        """Minutes at the configured rates: the slowest endpoint's, as they run in parallel."""
        return max(
            (
                (self.likely(name) if likely else self.requests(name, worst=worst)) / rate / 60
                for name, rate in self.rates.items()
            ),
            default=0.0,
        )


# Reading ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileState:
    """What the file holds before the next sweep (``read_knowledge``)."""

    knowledge: Knowledge = field(default_factory=lambda: Knowledge({}, {}))  #: as a sweep reads it
    used: int = 0  #: requests sent this UTC day, as the quota counts them
    history: History = field(default_factory=History)  #: its recent nights, for the likely figure


def read_knowledge(
    path: Path, endpoints: Sequence[str], config: SweepConfig, now: datetime
) -> FileState:
    """What the file holds, as a sweep reads it, the requests sent this UTC day, and its
    recent nights.

    Nothing for a missing or empty file. No run exists yet, so the history is
    every run's (run id ``""``).
    """
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        return FileState()  # what SQLite makes of an empty file: a new database

    def read(db: sqlite3.Connection) -> tuple[dict[Key, str], list[Any], int, int, History]:
        newest: dict[Key, str] = {}
        for name in endpoints:
            for symbol, day in db.execute(NEWEST_SQL.format(table=name)):
                newest[symbol, name] = day
        answers = db.execute(HISTORY_SQL, history_params("", config, now)).fetchall()
        (used,) = db.execute(*_used_today(db, now)).fetchone()
        (night,) = db.execute(NIGHTS_SQL).fetchone()
        return newest, answers, int(used), int(night), read_history(db, endpoints)

    with reading(path) as db:  # one snapshot: the newest days and the history agree
        newest, answers, used, night, nights = snapshot(db, read)
    dead = dead_tasks(answers, config, now)
    return FileState(Knowledge.of(newest, dead, night, config.reread_nights), used, nights)


def _used_today(db: sqlite3.Connection, now: datetime) -> tuple[str, tuple[str]]:
    """The query of the requests sent this UTC day: as the quota counts them, or, in a file
    made before ``requests_by_day`` (schema 7 and older), by the runs started today."""
    tables = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'requests_by_day'")
    if tables.fetchone():
        return USED_ON_SQL, (utc_day(now).isoformat(),)
    return USED_TODAY_SQL, (utc_midnight(now),)


# Deciding -----------------------------------------------------------------------------------


def _order(pair: Pair, endpoints: Sequence[str]) -> tuple[int, int, str]:
    endpoint, market = pair
    rank = (
        SUPPORTED_MARKETS.index(market) if market in SUPPORTED_MARKETS else len(SUPPORTED_MARKETS)
    )
    return endpoints.index(endpoint), rank, market


def choose_all_probes(
    tasks: Mapping[Key, bool], knowledge: Knowledge, size: int
) -> dict[Pair, list[Key]]:
    """Per pair, the probes the sweep will fetch first: ``choose_probes`` among its live tasks."""
    live = (key for key, supported in tasks.items() if supported)
    return {
        (endpoint, market): choose_probes(ranked, size, knowledge.night)
        for (market, endpoint), ranked in probe_candidates(knowledge, live).items()
    }


def _category(
    key: Key, supported: bool, knowledge: Knowledge, probes: frozenset[Key], full: bool
) -> str:
    if not supported:
        return UNSUPPORTED
    if full:
        return FETCH if key in knowledge.newest else Category.NEW.value
    return knowledge.plan(key, probes).value


def plan_pairs(
    tasks: Mapping[Key, bool], knowledge: Knowledge, config: SweepConfig, endpoints: Sequence[str]
) -> tuple[PairPlan, ...]:
    """Every pair's tasks by category, in the order: endpoint, then US, HK, other markets."""
    chosen = {} if config.full else choose_all_probes(tasks, knowledge, config.probe_size)
    probes = frozenset(key for keys in chosen.values() for key in keys)
    counts: dict[Pair, Counter[str]] = {}
    for key, supported in tasks.items():
        category = _category(key, supported, knowledge, probes, config.full)
        market, endpoint = pair_of(key)
        counts.setdefault((endpoint, market), Counter())[category] += 1
    return tuple(
        PairPlan(
            endpoint,
            market,
            {name: counts[endpoint, market][name] for name in CATEGORIES},
            tuple(symbol for symbol, _ in chosen.get((endpoint, market), ())),
        )
        for endpoint, market in sorted(counts, key=lambda pair: _order(pair, endpoints))
    )


def _quota_warnings(best: int, worst: int, used: int, quota: int) -> tuple[str, ...]:
    """The warning when the sweep may run out of the day's quota, as it counts it."""
    if not quota or used + worst <= quota:
        return ()
    if used + best > quota:
        case = f"even the best case ({best} requests)"
    else:
        case = f"the worst case ({worst} requests, every pair with news)"
    if used:
        case = f"{used} requests sent earlier today (UTC) and {case} exceed"
    else:
        case += " exceeds"
    return (
        f"{case} [gateway] daily_quota ({quota}): the sweep would stop before the "
        "request that would go over it, leaving the run interrupted for --resume",
    )


def make_plan(
    settings: Settings, now: datetime | None = None, today: date | None = None
) -> SweepPlan:
    """The plan of the next sweep with ``settings``; reads, never writes, never asks upstream.

    ``today`` is the day that sweep runs, for the likely figure (``plan_estimate.tonight``
    chooses one if None).
    """
    endpoints = [endpoint.name for endpoint in settings.endpoints]
    tasks, totals = read_universe(settings)
    path = Path(settings.sweep.db)
    now = now or datetime.now(UTC)
    state = read_knowledge(path, endpoints, settings.sweep, now)
    pairs = plan_pairs(tasks, state.knowledge, settings.sweep, endpoints)
    return SweepPlan(
        database=path,
        database_exists=path.exists(),
        symbols_file=Path(settings.sweep.symbols),
        totals=totals,
        full=settings.sweep.full,
        probe_size=settings.sweep.probe_size,
        rates={endpoint.name: endpoint.rate for endpoint in settings.endpoints},
        pairs=pairs,
        daily_quota=settings.gateway.daily_quota,
        requests_today=state.used,
        outlook=outlook(
            state.history, [(pair.endpoint, pair.market) for pair in pairs], now, today
        ),
    )
