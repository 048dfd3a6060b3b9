"""``harvester plan --backfill-since``: the pages a backfill will ask for, and their time.

No request is sent and nothing is written: the symbols file is read as a sweep
reads it, and the database read-only, for each task's oldest stored day (a
backfill starts there; a task with none starts today). Each (market, data set)
publishes ``PER_YEAR`` records a year; a backfill's pages are one of the page
size and then ``size - 1`` new each (the record at the cut-off comes again).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from harvester.model import duration_text
from harvester.settings.config import Settings
from harvester.store.database import reading
from harvester.sweep.backfill import OLDEST_SQL, page_size
from harvester.sweep.incremental import Key
from harvester.sweep.ledger import read_universe

#: Records a year each (market, data set) publishes, as ``plan`` expects them: a trading day
#: each (weekdays less the exchange's holidays), a short-interest report twice a month (US),
#: a weekly short-position report (HK).
PER_YEAR: dict[tuple[str, str], float] = {
    ("US", "short_trades"): 261 - 10,
    ("HK", "short_trades"): 261 - 13,
    ("US", "short_positions"): 24,
    ("HK", "short_positions"): 52,
}
_YEAR = 365.25


def expected_records(market: str, endpoint: str, since: date, start: date) -> int:
    """Records expected from ``since`` to ``start`` (both included), by ``PER_YEAR``."""
    days = max((start - since).days + 1, 0)
    return round(days / _YEAR * PER_YEAR.get((market, endpoint), 261 - 10))


def expected_pages(records: int, size: int) -> int:
    """Pages until one reaches past the oldest record wanted: the first brings ``size``
    records, each further one ``size - 1`` new (the record at the cut-off comes again)."""
    needed = records + 1  # the one record older than ``since`` tells the paging to stop
    return 1 if needed <= size else 1 + -(-(needed - size) // (size - 1))


@dataclass(frozen=True, slots=True)
class BackfillPlan:
    """A backfill's requests and time at the account's pace, per data set and market."""

    since: str
    requests: Mapping[str, int]  #: ``endpoint market`` -> pages to ask
    rate: float  #: requests a second: the account's, or the endpoints' together

    @property
    def total(self) -> int:
        """Requests in all (retries not foreseen)."""
        return sum(self.requests.values())

    @property
    def seconds(self) -> float:
        """The time the requests take at ``rate``."""
        return self.total / self.rate


def make_backfill_plan(
    settings: Settings, since: date, now: datetime | None = None
) -> BackfillPlan:
    """The pages a ``backfill --since`` would ask for: from each task's oldest stored day
    (or today) back to ``since``, ``expected_records`` per ``page_size`` page."""
    today = (now or datetime.now(UTC)).date()
    tasks, _ = read_universe(settings)
    names = [endpoint.name for endpoint in settings.endpoints]
    oldest: dict[Key, str] = {}
    path = Path(settings.sweep.db)
    if path.is_file() and path.stat().st_size:
        with reading(path) as db:
            for name in names:
                for symbol, day in db.execute(OLDEST_SQL.format(table=name)):
                    oldest[symbol, name] = day
    requests: Counter[str] = Counter()
    for (symbol, endpoint), served in tasks.items():
        if not served:
            continue
        market = symbol.rsplit(".", 1)[-1]
        start = (
            date.fromisoformat(oldest[symbol, endpoint]) if (symbol, endpoint) in oldest else today
        )
        if start <= since:
            continue
        records = expected_records(market, endpoint, since, start)
        requests[f"{endpoint} {market}"] += expected_pages(records, page_size(endpoint))
    return BackfillPlan(since.isoformat(), dict(sorted(requests.items())), settings.pace)


def backfill_plan_text(plan: BackfillPlan) -> str:
    """The backfill plan for a terminal."""
    lines = [f"backfill back to {plan.since}: pages to ask (retries not foreseen)"]
    lines += [f"  {pair:<24} {n:>8}" for pair, n in plan.requests.items()]
    lines.append(
        f"  {'total':<24} {plan.total:>8} requests, {duration_text(plan.seconds)} at "
        f"{plan.rate:g}/s"
    )
    return "\n".join(lines) + "\n"
