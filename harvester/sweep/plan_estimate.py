"""``harvester plan``'s likely figure: how probable news is tonight, per pair, and why.

**News, read from the data.** A pair (endpoint and market) had news on a night
if its frontier moved that night: a ``trade_date`` first stored (``first_seen_at``)
by one of that night's runs is newer than every day the pair held before. That
is what the probes look for (a restatement alone is not seen: upstream restates
with its publications), and it reads the same from a nightly, a ``--full`` or a
first sweep, whatever their tasks say.

**Nights are business days.** A run counts on its day: the simulated gateway's
served day, else the UTC day it started; a weekend day counts as the Monday
after; several runs on one day are one night. The last ``NIGHTS`` nights are read.

**P(news tonight).** The pair last had news on day N and the nights since, up to
the last one swept (L), had none. The chance a gap between news lasts exactly
``j`` business days, given it lasted ``j - 1``, is ``h(j)``: the window's gaps
between news nights that long over those at least that long, with one more gap
drawn from the published cadence (``PUBLISHED_EVERY``, API.md) as a prior, so
one odd gap (a holiday) does not decide alone and a young file leans on the
calendar. Tonight T has news with ``1 - prod(1 - h(j))`` for ``j`` from
``bdays(N, L) + 1`` to ``bdays(N, T)`` (``bdays``: the weekdays after the first day
up to the second); with no news in the window, with the cadence's ``1 / every`` per
business day since L.

**Likely requests.** ``(probes + new + behind + rereads + P x followers) x`` the
requests the last ``WORK_RUNS`` completed sweeps sent per task that sent any
(retries, refetches; 1 when they had none). Everything here is read from the
file or computed from what was read: nothing asks upstream.
"""

from __future__ import annotations

import math
import sqlite3
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

from harvester.sweep.incremental import business_days_after

Pair = tuple[str, str]  # (endpoint, market), as plan lists them

#: Business days between a pair's publications, as API.md describes upstream: US short
#: trades about every two weeks, HK every trading day; short interest (and the OpenAPI's
#: short positions, the same reports) twice a month in the US, weekly in HK. A pair not
#: listed is taken to publish every business day, so its likely figure is its worst.
PUBLISHED_EVERY: dict[Pair, float] = {
    ("short_trades", "US"): 10.0,
    ("short_trades", "HK"): 1.0,
    ("short_interest", "US"): 10.5,
    ("short_interest", "HK"): 5.0,
    ("short_positions", "US"): 10.5,
    ("short_positions", "HK"): 5.0,
}
NIGHTS = 40  #: nights (business days with a run) read: four US fortnights
WORK_RUNS = 10  #: completed sweeps read for the requests per fetched task
_BEFORE = timedelta(days=45)  # data days read before the window: the frontier it starts at

RUNS_SQL = "SELECT started_at, {served} FROM runs ORDER BY started_at, rowid"
#: Per market, each trade_date from ``?`` on, and when a row of it was first stored.
SEEN_SQL = (
    "SELECT market, trade_date, MIN(first_seen_at) FROM {table} "
    "WHERE trade_date >= ? AND first_seen_at IS NOT NULL GROUP BY market, trade_date"
)
#: The last ``?`` completed sweeps: how many, their requests, their tasks that sent any.
WORK_SQL = """
SELECT COUNT(*), COALESCE(SUM(r.requests), 0), COALESCE(SUM(
    (SELECT COUNT(*) FROM tasks AS t WHERE t.run_id = r.run_id AND t.attempts > 0)), 0)
FROM (SELECT run_id, requests FROM runs WHERE kind = 'sweep' AND status = 'completed'
      ORDER BY started_at DESC, rowid DESC LIMIT ?) AS r"""


def night_of(day: date) -> date:
    """The business day a run on ``day`` counts on: itself, or a weekend's Monday after."""
    return day + timedelta(days=(7 - day.weekday()) % 7 if day.weekday() >= 5 else 0)


@dataclass(frozen=True, slots=True)
class History:
    """What the file tells of its recent nights, as read (``read_history``)."""

    runs: tuple[tuple[str, date], ...] = ()  #: every run: started_at and its night, in order
    served: bool = False  #: the newest run has a simulated served day
    window: tuple[date, ...] = ()  #: the last ``NIGHTS`` nights with a run, oldest first
    #: per pair: (first stored at, trade_date) of each day, from a while before the window on
    seen: Mapping[Pair, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    work: tuple[int, int, int] = (0, 0, 0)  #: ``WORK_SQL``: sweeps, requests, tasks fetched


def read_history(db: sqlite3.Connection, endpoints: Sequence[str]) -> History:
    """The runs, the days first stored per pair from a while before the window on, and the
    recent sweeps' requests per task; inside the caller's read transaction."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    served = "served_day" if "served_day" in columns else "NULL"
    rows = db.execute(RUNS_SQL.format(served=served)).fetchall()
    if not rows:
        return History()
    # started_at is UTC text: its first ten characters are the UTC day
    runs = [(started, night_of(date.fromisoformat(day or started[:10]))) for started, day in rows]
    window = tuple(sorted({night for _, night in runs}))[-NIGHTS:]
    since = (window[0] - _BEFORE).isoformat()
    seen: dict[Pair, list[tuple[str, str]]] = {}
    for name in endpoints:
        if "first_seen_at" not in {row[1] for row in db.execute(f"PRAGMA table_info({name})")}:
            continue  # a file older than schema version 5 does not tell
        for market, day, first in db.execute(SEEN_SQL.format(table=name), (since,)):
            seen.setdefault((name, market), []).append((first, day))
    (work,) = db.execute(WORK_SQL, (WORK_RUNS,)).fetchall()
    return History(
        tuple(runs),
        rows[-1][1] is not None,
        window,
        {pair: tuple(sorted(days)) for pair, days in seen.items()},
        tuple(work),
    )


def tonight(history: History, now: datetime, today: date | None = None) -> tuple[date, str]:
    """The night the next sweep counts on, and how it was chosen."""
    if today is not None:
        return night_of(today), "--today"
    current = night_of(now.astimezone(UTC).date())
    if not history.runs:
        return current, "today (UTC)"
    after = night_of(history.runs[-1][1] + timedelta(days=1))
    if history.served:  # a simulated gateway steps one business day a night
        return after, "the business day after the last run's served day"
    if after >= current:
        return after, "the business day after the last run"
    return current, "today (UTC)"


@dataclass(frozen=True, slots=True)
class Nights:
    """One pair's window: the nights a run looked at it, and those it had news."""

    looked: tuple[date, ...]
    news: tuple[date, ...]
    swept: date | None = None  #: the last night a run stored or looked at the pair's days


def pair_nights(history: History, pair: Pair) -> Nights:
    """The nights of the window after the pair's frontier was first known, and its news."""
    window = history.window
    if not window or not history.seen.get(pair):
        return Nights((), ())
    starts = [started for started, _ in history.runs]
    first_run = next(i for i, (_, night) in enumerate(history.runs) if night >= window[0])
    frontier: str | None = None
    known: date | None = None  # the night its frontier was first known within the window
    news: set[date] = set()
    for first, day in history.seen.get(pair, ()):
        run = bisect_right(starts, first) - 1
        if run < first_run:  # stored before the window: where the frontier starts
            frontier = max(frontier or day, day)
            continue
        night = history.runs[run][1]
        if frontier is None or night == known:  # the night it is first known: no news
            frontier, known = max(frontier or day, day), night
        elif day > frontier:
            frontier = day
            news.add(night)
    looked = tuple(night for night in window if known is None or night > known)
    return Nights(looked, tuple(sorted(news)), window[-1])


@dataclass(frozen=True, slots=True)
class Chance:
    """How probable news is tonight for one pair, and what that rests on."""

    probability: float
    nights: int  #: nights of the window that looked at the pair
    news: int  #: of them, those with news
    last: date | None  #: the last night with news
    since: int  #: business days from ``last`` (or, without news, the last night swept) on
    gaps: tuple[int, ...]  #: business days between the window's news nights
    every: float  #: the published cadence: business days between publications

    def text(self) -> str:
        """What the chance rests on, in a few words."""
        seen = f"seen on {self.news} of {self.nights} nights" if self.nights else "no night seen"
        if self.last is not None:
            seen += f", last {self.last} ({_business_days(self.since)} before)"
        if self.gaps:
            common = max(set(self.gaps), key=lambda gap: (self.gaps.count(gap), -gap))
            many = "gap" if len(self.gaps) == 1 else "gaps"
            return f"{seen}, mostly {common} apart ({len(self.gaps)} {many})"
        return f"{seen}; calendar: every {_business_days(self.every)}"


def _business_days(count: float) -> str:
    return f"{count:g} business day{'' if count == 1 else 's'}"


def _hazard(j: int, gaps: Sequence[int], every: float) -> float:
    """P(a gap between news is ``j`` business days | it is at least ``j``), the cadence's
    gap counted once with the window's."""
    prior = min(max(j - every + 1, 0.0), 1.0)
    return (sum(gap == j for gap in gaps) + prior) / (sum(gap >= j for gap in gaps) + 1)


def chance(nights: Nights, every: float, night: date) -> Chance:
    """The chance the pair has news on ``night``, from its window and its cadence."""
    swept = nights.swept
    gaps = tuple(business_days_after(a, b) for a, b in pairwise(nights.news))
    if not nights.news:
        since = business_days_after(swept, night) if swept else 1
        probability = 1 - (1 - min(1 / every, 1.0)) ** since
        return Chance(probability, len(nights.looked), 0, None, since, gaps, every)
    last = nights.news[-1]
    quiet = business_days_after(last, swept) if swept else 0
    since = business_days_after(last, night)
    stay = math.prod(1 - _hazard(j, gaps, every) for j in range(quiet + 1, since + 1))
    return Chance(1 - stay, len(nights.looked), len(nights.news), last, since, gaps, every)


@dataclass(frozen=True, slots=True)
class Outlook:
    """Tonight's night, each pair's chance of news, and the requests a fetched task costs."""

    night: date
    chosen: str  #: how ``night`` was chosen
    window: tuple[date, ...]  #: the nights read
    chances: Mapping[Pair, Chance]
    per_task: float  #: requests per task that sent any, in the recent sweeps
    work_runs: int  #: how many sweeps ``per_task`` rests on

    def chance(self, pair: Pair) -> float:
        """The pair's probability of news tonight (1 for a pair not estimated)."""
        found = self.chances.get(pair)
        return found.probability if found is not None else 1.0


def outlook(
    history: History, pairs: Sequence[Pair], now: datetime, today: date | None = None
) -> Outlook:
    """The estimate's inputs for ``pairs``, from what the file told (``read_history``)."""
    night, chosen = tonight(history, now, today)
    chances = {
        pair: chance(pair_nights(history, pair), PUBLISHED_EVERY.get(pair, 1.0), night)
        for pair in pairs
    }
    runs, requests, fetched = history.work
    per_task = requests / fetched if fetched and requests > fetched else 1.0
    return Outlook(night, chosen, history.window, chances, per_task, runs)
