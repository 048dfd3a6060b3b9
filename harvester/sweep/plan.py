"""``harvester plan``: what the next sweep will ask for, from the symbols file and the database.

The figures are harvester.sweep.plan_tasks' (per pair, what the sweep will do with
each task; requests at best, likely and at worst) and the likely figure's chances
harvester.sweep.plan_estimate's; this module shows them, for a person or as
``--json``. Its exit codes are declared in ``harvester.exits``.
"""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any, BinaryIO

import orjson

from harvester import arguments
from harvester.exits import PLAN, help_text
from harvester.model import duration_text
from harvester.read.output import emit, table_text
from harvester.settings.config import command_settings
from harvester.sweep.backfill_plan import backfill_plan_text, make_backfill_plan
from harvester.sweep.incremental import Category
from harvester.sweep.plan_tasks import FETCH, UNSUPPORTED, Pair, PairPlan, SweepPlan, make_plan

EPILOG = """\
examples:
  harvester plan
  harvester plan --symbols my-universe.txt --db shorts.sqlite --json | jq .requests_likely
  harvester plan --full
  harvester plan --today 2026-05-19

Per endpoint and market: tasks new (no stored row), probed, followers (fetched only
if the probes find news, else unchanged), skipped as dead, unsupported; requests at
best (no news), likely (each pair's chance of news tonight, from the file's recent
nights and the publication calendars) and at worst (news everywhere), and the time at
the configured rates.
"""


# Showing ------------------------------------------------------------------------------------


def _columns(full: bool) -> list[str]:
    middle = (
        [Category.NEW.value, FETCH]
        if full
        else [Category.NEW.value, Category.PROBE.value, Category.FOLLOW.value, Category.SKIP.value]
    )
    chance = [] if full else ["news%"]
    return ["endpoint", "market", "tasks", *middle, UNSUPPORTED, "best", *chance, "likely", "worst"]


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
    counted = columns[3 : columns.index(UNSUPPORTED) + 1]
    rows = [
        [
            pair.endpoint,
            pair.market,
            pair.tasks,
            *(pair.counts[name] for name in counted),
            pair.best,
            *([] if plan.full else [_news_percent(plan, pair)]),
            round(plan.fetches(pair)),
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
    lines.extend(_likely_lines(plan))
    lines.extend(f"warning: {warning}" for warning in plan.warnings)
    return "\n".join(lines) + "\n"


def _news_percent(plan: SweepPlan, pair: PairPlan) -> int | None:
    """The pair's chance of news tonight in percent; None (``-``) without followers."""
    if not pair.counts.get(Category.FOLLOW, 0):
        return None
    return round(100 * plan.outlook.chance(_key(pair)))


def _key(pair: PairPlan) -> Pair:
    return pair.endpoint, pair.market


def _likely_lines(plan: SweepPlan) -> list[str]:
    """The likely figure and what it rests on: per pair with followers, its chance of news."""
    seen = plan.outlook
    line = (
        f"likely: {round(plan.likely())} requests "
        f"({duration_text(plan.minutes(worst=False, likely=True) * 60)}): "
    )
    how = "the best case and each pair's followers times its chance of news tonight"
    if seen.per_task == 1.0:
        line += how
    else:
        sweeps = "sweep" if seen.work_runs == 1 else f"{seen.work_runs} sweeps"
        fetches = sum(plan.fetches(pair) for pair in plan.pairs)
        line += (
            f"{round(fetches)} tasks fetched ({how}) x {seen.per_task:.2f} requests each, as "
            f"in the last {sweeps} (retries, refetches)"
        )
    width = max((len(f"{pair.endpoint} {pair.market}") for pair in plan.pairs), default=0)
    pairs = [
        f"  {f'{pair.endpoint} {pair.market}'.ljust(width)}  {chance.probability:>4.0%}  "
        + chance.text()
        for pair in plan.pairs
        if (chance := seen.chances.get(_key(pair))) and pair.counts.get(Category.FOLLOW, 0)
    ]
    if plan.full or not pairs:
        return [line]
    if len(seen.window) > 1:
        window = f"the {len(seen.window)} nights from {seen.window[0]} to {seen.window[-1]}"
    else:
        window = f"the night of {seen.window[0]}"
    return [
        line,
        f"news tonight, {seen.night:%a %Y-%m-%d} ({seen.chosen}), by {window} and the "
        "publication calendars:",
        *pairs,
    ]


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
                "fetches_likely": round(plan.fetches(pair), 1),
                "requests_likely": round(plan.fetches(pair) * plan.outlook.per_task, 1),
                "requests_worst": pair.worst,
                "probes": list(pair.probes),
                "news": _chance_dict(plan, pair),
            }
            for pair in plan.pairs
        ],
        "endpoints": {
            name: {
                "rate": rate,
                "requests_best": plan.requests(name, worst=False),
                "requests_likely": round(plan.likely(name), 1),
                "requests_worst": plan.requests(name, worst=True),
            }
            for name, rate in plan.rates.items()
        },
        "requests_best": plan.requests(worst=False),
        "requests_worst": plan.requests(worst=True),
        "requests_likely": round(plan.likely()),
        "minutes_best": round(plan.minutes(worst=False), 3),
        "minutes_likely": round(plan.minutes(worst=False, likely=True), 3),
        "minutes_worst": round(plan.minutes(worst=True), 3),
        "daily_quota": plan.daily_quota,
        "requests_today": plan.requests_today,
        "warnings": list(plan.warnings),
        "likely": {
            "night": plan.outlook.night.isoformat(),
            "night_chosen": plan.outlook.chosen,
            "nights": [night.isoformat() for night in plan.outlook.window],
            "requests_per_task": round(plan.outlook.per_task, 3),
            "sweeps_read": plan.outlook.work_runs,
        },
    }


def _chance_dict(plan: SweepPlan, pair: PairPlan) -> dict[str, Any]:
    """A pair's chance of news tonight and what it rests on, for ``--json``."""
    chance = plan.outlook.chances.get(_key(pair))
    if chance is None:
        return {"probability": plan.outlook.chance(_key(pair))}
    return {
        "probability": round(chance.probability, 3),
        "nights": chance.nights,
        "news_nights": chance.news,
        "last": chance.last.isoformat() if chance.last else None,
        "business_days_since": chance.since,
        "gaps": list(chance.gaps),
        "published_every": chance.every,
        "because": chance.text(),
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
    today = date.fromisoformat(args.today) if args.today else None
    plan = make_plan(command_settings(args), today=today)
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
    parser.add_argument(
        "--today",
        type=arguments.day,
        metavar="DAY",
        help="the day the sweep will run, for the likely figure (default: the business day "
        "after the last run, or today (UTC) if later; after --simulate runs, the business day "
        "after the last served day)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run_plan)
