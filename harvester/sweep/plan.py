"""``harvester plan``: what the next sweep will ask for, from the symbols file and the database.

No request is sent and nothing is written: the database is opened read-only (a
missing one is fine: every task is new). The symbols file is read as the sweep
reads it (``Universe``); every decision is harvester.sweep.incremental's (``choose_probes``,
``dead_tasks``, ``Knowledge.plan``). A fetched task counts one request (retries and
refetches are not foreseen); the time is the slowest endpoint's at its ``rate``.
Its exit codes are declared in ``harvester.exits``.
"""

from __future__ import annotations

import argparse
import sqlite3
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from harvester import arguments
from harvester.exits import PLAN, help_text
from harvester.model import SUPPORTED_MARKETS, TaskStatus, duration_text
from harvester.read.output import emit, table_text
from harvester.settings.config import Settings, SweepConfig, command_settings
from harvester.store.database import reading, snapshot
from harvester.sweep.backfill_plan import backfill_plan_text, make_backfill_plan
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

EPILOG = """\
examples:
  harvester plan
  harvester plan --symbols my-universe.txt --db shorts.sqlite --json | jq .requests_worst
  harvester plan --full

Per endpoint and market: tasks new (no stored row), probed, followers (fetched only
if the probes find news, else unchanged), skipped as dead, unsupported; requests at
best (no news) and worst (news everywhere), and the time at the configured rates.
"""


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

    def requests(self, endpoint: str | None = None, *, worst: bool) -> int:
        """Requests of one endpoint (or all), at best or at worst."""
        return sum(
            pair.worst if worst else pair.best
            for pair in self.pairs
            if endpoint in (None, pair.endpoint)
        )

    @property
    def warnings(self) -> tuple[str, ...]:
        """The warning when the sweep may run out of the day's quota, if it may."""
        return _quota_warnings(
            self.requests(worst=False),
            self.requests(worst=True),
            self.requests_today,
            self.daily_quota,
        )

    def minutes(self, *, worst: bool) -> float:
        """Minutes at the configured rates: the slowest endpoint's, as they run in parallel."""
        return max(
            (self.requests(name, worst=worst) / rate / 60 for name, rate in self.rates.items()),
            default=0.0,
        )


# Reading ------------------------------------------------------------------------------------


def read_knowledge(
    path: Path, endpoints: Sequence[str], config: SweepConfig, now: datetime
) -> tuple[Knowledge, int]:
    """What the file holds, as a sweep reads it, and the requests sent this UTC day.

    Nothing for a missing or empty file. No run exists yet, so the history is
    every run's (run id ``""``).
    """
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        return Knowledge({}, {}), 0  # what SQLite makes of an empty file: a new database

    def read(db: sqlite3.Connection) -> tuple[dict[Key, str], list[Any], int, int]:
        newest: dict[Key, str] = {}
        for name in endpoints:
            for symbol, day in db.execute(NEWEST_SQL.format(table=name)):
                newest[symbol, name] = day
        history = db.execute(HISTORY_SQL, history_params("", config, now)).fetchall()
        (used,) = db.execute(*_used_today(db, now)).fetchone()
        (night,) = db.execute(NIGHTS_SQL).fetchone()
        return newest, history, int(used), int(night)

    with reading(path) as db:  # one snapshot: the newest days and the history agree
        newest, history, used, night = snapshot(db, read)
    dead = dead_tasks(history, config, now)
    return Knowledge.of(newest, dead, night, config.reread_nights), used


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


def make_plan(settings: Settings, now: datetime | None = None) -> SweepPlan:
    """The plan of the next sweep with ``settings``; reads, never writes, never asks upstream."""
    endpoints = [endpoint.name for endpoint in settings.endpoints]
    tasks, totals = read_universe(settings)
    path = Path(settings.sweep.db)
    knowledge, used = read_knowledge(path, endpoints, settings.sweep, now or datetime.now(UTC))
    return SweepPlan(
        database=path,
        database_exists=path.exists(),
        symbols_file=Path(settings.sweep.symbols),
        totals=totals,
        full=settings.sweep.full,
        probe_size=settings.sweep.probe_size,
        rates={endpoint.name: endpoint.rate for endpoint in settings.endpoints},
        pairs=plan_pairs(tasks, knowledge, settings.sweep, endpoints),
        daily_quota=settings.gateway.daily_quota,
        requests_today=used,
    )


# Showing ------------------------------------------------------------------------------------


def _columns(full: bool) -> list[str]:
    middle = (
        [Category.NEW.value, FETCH]
        if full
        else [Category.NEW.value, Category.PROBE.value, Category.FOLLOW.value, Category.SKIP.value]
    )
    return ["endpoint", "market", "tasks", *middle, UNSUPPORTED, "best", "worst"]


def plan_text(plan: SweepPlan) -> str:
    """The plan for a person: a header, a table per pair, requests, minutes, warnings."""
    totals = plan.totals
    where = (
        str(plan.database)
        if plan.database_exists
        else f"{plan.database} (no such file yet: every task is new)"
    )
    mode = (
        "full sweep (--full or [sweep] full): every supported task is fetched with the "
        "configured count"
        if plan.full
        else f"nightly sweep: up to {plan.probe_size} probes per market and endpoint first; "
        "followers are fetched only if their probes find news, else end unchanged"
    )
    lines = [
        f"plan: {totals['symbols']} symbols from {plan.symbols_file} "
        f"({totals['duplicates']} duplicates, {totals['malformed_lines']} malformed lines "
        f"skipped), database {where}",
        mode,
        "",
    ]
    columns = _columns(plan.full)
    rows = [
        [
            pair.endpoint,
            pair.market,
            pair.tasks,
            *(pair.counts[name] for name in columns[3:-2]),
            pair.best,
            pair.worst,
        ]
        for pair in plan.pairs
    ]
    lines.append(table_text(columns, rows))
    best, worst = plan.requests(worst=False), plan.requests(worst=True)
    quota = (
        f"; daily_quota {plan.daily_quota}, {plan.requests_today} sent today (UTC)"
        if plan.daily_quota
        else ""
    )
    lines.append(
        f"requests: {best} at best (no pair has news), {worst} at worst "
        f"(every pair has news); retries not included{quota}"
    )
    rates = ", ".join(f"{name} {rate:g}/s" for name, rate in plan.rates.items())
    lines.append(
        f"time at the configured rates ({rates}; endpoints in parallel): "
        f"{duration_text(plan.minutes(worst=False) * 60)} at best, "
        f"{duration_text(plan.minutes(worst=True) * 60)} at worst"
    )
    lines.extend(f"warning: {warning}" for warning in plan.warnings)
    return "\n".join(lines) + "\n"


def plan_dict(plan: SweepPlan) -> dict[str, Any]:
    """The plan as plain data for ``--json``."""
    return {
        "database": str(plan.database),
        "database_exists": plan.database_exists,
        "symbols_file": str(plan.symbols_file),
        **plan.totals,
        "full": plan.full,
        "probe_size": plan.probe_size,
        "pairs": [
            {
                "endpoint": pair.endpoint,
                "market": pair.market,
                "tasks": pair.tasks,
                **pair.counts,
                "requests_best": pair.best,
                "requests_worst": pair.worst,
                "probes": list(pair.probes),
            }
            for pair in plan.pairs
        ],
        "endpoints": {
            name: {
                "rate": rate,
                "requests_best": plan.requests(name, worst=False),
                "requests_worst": plan.requests(name, worst=True),
            }
            for name, rate in plan.rates.items()
        },
        "requests_best": plan.requests(worst=False),
        "requests_worst": plan.requests(worst=True),
        "minutes_best": round(plan.minutes(worst=False), 3),
        "minutes_worst": round(plan.minutes(worst=True), 3),
        "daily_quota": plan.daily_quota,
        "requests_today": plan.requests_today,
        "warnings": list(plan.warnings),
    }


# The command line ---------------------------------------------------------------------------


def run_plan(args: argparse.Namespace) -> int:
    """``harvester plan``: print the plan of the next sweep; 0, or 2 by a HarvesterError."""
    if args.backfill_since:
        backfill = make_backfill_plan(
            command_settings(args), date.fromisoformat(args.backfill_since)
        )
        document = {
            "since": backfill.since,
            "requests": dict(backfill.requests),
            "requests_total": backfill.total,
            "rate": backfill.rate,
            "seconds": round(backfill.seconds, 1),
        }
        text = (
            orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"
            if args.json
            else backfill_plan_text(backfill)
        )
        return emit(None, lambda out: out.write(text.encode()))
    plan = make_plan(command_settings(args))
    if args.json:
        text = orjson.dumps(plan_dict(plan), option=orjson.OPT_INDENT_2).decode() + "\n"
    else:
        text = plan_text(plan)

    def write(out: BinaryIO) -> None:
        out.write(text.encode())

    return emit(None, write)


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``plan`` to ``commands`` (argparse subparsers), with the ``common`` flags."""
    parser = commands.add_parser(
        "plan",
        parents=[common],
        help="what the next sweep will ask for, and how long it takes (no request)",
        description="What the next sweep will ask for; no request, nothing written.\n"
        "A database that does not exist yet is fine: every task is new.",
        epilog=EPILOG + "\nexit codes:\n" + help_text(PLAN),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--symbols", help="symbols file ([sweep] symbols)")
    parser.add_argument(
        "--full",
        action="store_true",
        default=None,
        help="plan a full sweep: every supported task fetched ([sweep] full)",
    )
    parser.add_argument(
        "--backfill-since",
        type=arguments.day,
        metavar="DAY",
        help="plan `harvester backfill --since DAY` instead: its pages and time",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run_plan)
