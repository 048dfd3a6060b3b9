"""Nightly sweeps pay only for what changed: which tasks to probe, fetch, skip or leave alone.

Everything here decides from what the file already holds (``Knowledge``) and
from the answers of a few probes; nothing here sends a request or writes.

- **The frontier.** A pair (market and endpoint)'s newest stored day is the
  newest ``trade_date`` any of its symbols holds. A symbol whose newest stored
  day is behind it (a late publisher, a suspended security, a night cut short)
  is never decided for by probes: it is fetched, from its own newest day.
- **Probes.** Per pair, ``probe_size`` symbols at the frontier (not dead) are
  fetched before the others, in an order no symbol name decides that turns by
  ``probe_size`` each night (``night``: the runs before this one), so nights in
  a row ask different probes. A probe that does not answer
  ``ok`` is replaced by the next in that order, so a delisted or failing probe
  never silences its pair. If no ``ok`` probe shows a day after its newest
  stored one, or a different value for a day it holds, the pair has published
  nothing: its other symbols at the frontier end ``unchanged``, without a
  request. A pair whose probes all fail is fetched whole. A symbol with no
  stored row is always fetched.
- **Incremental counts.** A fetched symbol asks for the business days from
  its newest stored day to the pair's newest published day (what the probes
  saw), plus ``overlap`` records for restatements (more, as deep as the oldest
  record a probe found restated); within the configured ``count`` and the
  endpoint's documented range. An answer that is full and does not reach back
  to the stored day is fetched again with the configured ``count``
  (``needs_refetch``), so a wrong guess costs a request, never a row.
- **Rereads.** Each night one symbol in ``reread_nights`` (a slice that
  rotates with ``night``) is fetched with the configured ``count`` whatever the
  probes say, so a restatement older than ``overlap`` is stored within
  ``reread_nights`` nightly sweeps.
- **Dead symbols.** An endpoint that answered ``invalid`` or ``unsupported``
  (or ``no_data``, or ``failed``) for a symbol in each of its last ``dead_after``
  answers is not asked again until ``recheck_after`` (``no_data_recheck_after``)
  days after the last one: the task ends ``skipped`` with the date of the retry.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from harvester.catalog import ROW_HEAD
from harvester.model import TaskStatus, symbol_from_canonical, utc_text, utc_time
from harvester.settings.config import SweepConfig

Key = tuple[str, str]  # (canonical symbol, endpoint)
Pair = tuple[str, str]  # (market, endpoint): what one set of probes decides
Row = tuple[object, ...]  # (*ROW_HEAD, *data columns), as the adapters make and probes read
_DAY = ROW_HEAD.index("trade_date")  # where a row's trade_date sits
_DATA = len(ROW_HEAD)  # where a row's data columns start


def row_day(row: Row) -> str:
    """A row's ``trade_date``, ``YYYY-MM-DD``."""
    return str(row[_DAY])


#: Statuses that are an answer from upstream: the history dead-symbol memory reads.
ANSWERED = (
    TaskStatus.OK,
    TaskStatus.NO_DATA,
    TaskStatus.UNSUPPORTED,
    TaskStatus.INVALID,
    TaskStatus.FAILED,
)
_REFUSED = frozenset({TaskStatus.INVALID.value, TaskStatus.UNSUPPORTED.value})
_FAILED = frozenset({TaskStatus.FAILED.value})

#: Sweep runs in the file: the next sweep's ``night``.
NIGHTS_SQL = "SELECT COUNT(*) FROM runs WHERE kind = 'sweep'"
#: Per symbol and endpoint: its newest stored trade_date.
NEWEST_SQL = "SELECT symbol, MAX(trade_date) FROM {table} GROUP BY symbol"
#: Per symbol and endpoint: its last ``?`` answers in the runs other than ``?`` started since
#: ``?`` (``history_since``), newest first.
HISTORY_SQL = f"""
SELECT symbol, endpoint, status, updated_at FROM (
    SELECT t.symbol, t.endpoint, t.status, t.updated_at, ROW_NUMBER() OVER (
        PARTITION BY t.symbol, t.endpoint ORDER BY r.started_at DESC, r.rowid DESC) AS n
    FROM runs AS r CROSS JOIN tasks AS t ON t.run_id = r.run_id
    WHERE r.run_id != ? AND r.started_at >= ?
        AND t.status IN ({", ".join(f"'{s.value}'" for s in ANSWERED)}))
WHERE n <= ? ORDER BY symbol, endpoint, n"""


class Category(enum.StrEnum):
    """What an incremental sweep (the default, nightly) does with one task before any request."""

    NEW = "new"  #: no stored row: fetched with the configured count
    PROBE = "probe"  #: fetched first; its answer decides its pair
    FOLLOW = "follow"  #: fetched incrementally if its pair has news, else ``unchanged``
    BEHIND = "behind"  #: newest stored day behind its pair's: fetched whatever the probes say
    REREAD = "reread"  #: tonight's slice: fetched with the configured count
    SKIP = "skip"  #: a dead symbol: ``skipped`` until its recheck date


@dataclass(frozen=True, slots=True)
class Dead:
    """Why a task is not asked, and from when it is asked again."""

    status: str  #: the answer repeated: ``invalid``, ``unsupported`` or ``no_data``
    runs: int  #: how many answers in a row
    until: datetime  #: asked again from this time on

    def reason(self) -> str:
        """The task's message: why it was skipped and when it is tried again."""
        return (
            f"{self.status} in each of its last {self.runs} answers; "
            f"asked again from {self.until.date().isoformat()}"
        )


@dataclass(frozen=True, slots=True)
class Knowledge:
    """What the file holds before a nightly sweep asks anything."""

    newest: Mapping[Key, str]  #: newest stored trade_date per (symbol, endpoint)
    dead: Mapping[Key, Dead]  #: tasks not to ask, and until when
    night: int = 0  #: runs before this one: which probes come first, which slice is reread
    reread_every: int = 0  #: ``reread_nights``: one symbol in this many is reread (0: none)
    frontier: Mapping[Pair, str] = field(default_factory=dict)  #: newest stored day per pair

    @classmethod
    def of(
        cls,
        newest: Mapping[Key, str],
        dead: Mapping[Key, Dead],
        night: int = 0,
        reread_every: int = 0,
    ) -> Knowledge:
        """What the file holds, with each pair's frontier worked out."""
        frontier: dict[Pair, str] = {}
        for key, day in newest.items():
            pair = pair_of(key)
            if day > frontier.get(pair, ""):
                frontier[pair] = day
        return cls(newest, dead, night, reread_every, frontier)

    def behind(self, key: Key) -> bool:
        """True if the task's newest stored day is behind its pair's newest."""
        day = self.newest.get(key)
        return day is not None and day < self.frontier.get(pair_of(key), day)

    def rereads(self, key: Key) -> bool:
        """True if the task is in tonight's reread slice."""
        return bool(self.reread_every) and reread_slot(key[0], self.reread_every) == (
            self.night % self.reread_every
        )

    def plan(self, key: Key, probes: frozenset[Key] = frozenset()) -> Category:
        """What to do with a task, once the probes are chosen."""
        if key in self.dead:
            return Category.SKIP
        if key in probes:
            return Category.PROBE
        if key not in self.newest:
            return Category.NEW
        if self.rereads(key):
            return Category.REREAD
        return Category.BEHIND if self.behind(key) else Category.FOLLOW


def _draw(*parts: object) -> int:
    """A number from ``parts``, the same in every process (``hash`` is salted per process)."""
    text = "\x1f".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def reread_slot(symbol: str, every: int) -> int:
    """Which of the ``every`` nightly slices rereads ``symbol``."""
    return _draw("reread", symbol) % every


def history_since(config: SweepConfig, now: datetime) -> str:
    """How far back the answer history is read, as ``runs.started_at`` text.

    A dead symbol is asked again once per recheck, so its last ``dead_after``
    answers lie within ``dead_after`` rechecks (and a day of slack each). An
    answer older than that is not read: at worst such a symbol is asked once
    more, and the history read stays bounded however many runs the file holds.
    """
    days = config.dead_after * (max(config.recheck_after, config.no_data_recheck_after) + 2)
    start = now - timedelta(days=days)
    return utc_text(start)


def history_params(run_id: str, config: SweepConfig, now: datetime) -> tuple[str, str, int]:
    """``HISTORY_SQL``'s parameters: the run left out, how far back, answers per task."""
    return run_id, history_since(config, now), config.dead_after


def dead_tasks(
    history: Iterable[tuple[str, str, str, str]], config: SweepConfig, now: datetime
) -> dict[Key, Dead]:
    """The tasks dead as of ``now``, from ``HISTORY_SQL`` rows (newest answer first)."""
    answers: dict[Key, list[tuple[str, str]]] = {}
    for symbol, endpoint, status, updated_at in history:
        answers.setdefault((symbol, endpoint), []).append((status, updated_at))
    dead: dict[Key, Dead] = {}
    for key, seen in answers.items():
        statuses = {status for status, _ in seen}
        if len(seen) < config.dead_after:
            continue
        if statuses <= _REFUSED or statuses == _FAILED:
            days = config.recheck_after
        elif statuses == {TaskStatus.NO_DATA.value}:
            days = config.no_data_recheck_after
        else:
            continue
        until = utc_time(seen[0][1]) + timedelta(days=days)
        if until > now:
            dead[key] = Dead(seen[0][0], len(seen), until)
    return dead


def pair_of(key: Key) -> Pair:
    """The market and endpoint a task belongs to."""
    return symbol_from_canonical(key[0]).market, key[1]


def probe_candidates(
    knowledge: Knowledge, keys: Iterable[Key] | None = None
) -> dict[Pair, list[tuple[Key, str]]]:
    """Per pair, the tasks a probe may be: stored rows at the pair's frontier, not dead; with
    their newest stored day.

    ``keys`` limits them to those tasks (default: every task with stored rows).
    """
    candidates: dict[Pair, list[tuple[Key, str]]] = {}
    for key in knowledge.newest if keys is None else keys:
        day = knowledge.newest.get(key)
        if day is not None and key not in knowledge.dead and not knowledge.behind(key):
            candidates.setdefault(pair_of(key), []).append((key, day))
    return candidates


def choose_probes(candidates: Iterable[tuple[Key, str]], size: int, night: int = 0) -> list[Key]:
    """The first ``size`` of the candidates in tonight's order (``rank_probes``)."""
    return rank_probes(candidates, night, size)[:size]


def rank_probes(candidates: Iterable[tuple[Key, str]], night: int, size: int) -> list[Key]:
    """Every candidate, in the order they are tried as probes on night ``night``.

    The candidates stand in an order no name decides (a draw per symbol), turned by
    ``size`` places each night: the first ``size`` are tonight's probes, the rest replace
    those that fail. While the candidates stay the same (as after a night of no news),
    consecutive nights ask different probes, so a probe that stopped publishing (a
    suspended security) speaks for its pair one night at most.
    """
    order = sorted((key for key, _ in candidates), key=lambda key: (_draw(*key), key))
    if not order:
        return order
    start = night * max(size, 1) % len(order)
    return order[start:] + order[:start]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a pair's probes found: news or not, its newest published day, and in words."""

    news: bool
    newest: str | None  #: the newest trade_date any probe answered with
    reason: str
    #: how many of a probe's newest stored records reach back to the oldest it found restated
    #: (or missing): the others are asked that far back too
    depth: int = 0


def probe_verdict(
    answers: Sequence[tuple[Key, Sequence[Row], Sequence[Row]]],
) -> Verdict:
    """Judge a pair from its probes: ``(key, rows answered, rows stored for those days)``.

    News is a day after the probe's newest stored one, or a stored day whose
    values differ (a restatement). With no probe answered, the pair is news:
    only an answer can show that nothing changed. ``depth`` counts the records a
    probe holds from the oldest day it found restated or missing to its newest:
    the others are asked that far back.
    """
    if not answers:
        return Verdict(True, None, "no probe answered ok: every task is fetched")
    newest = max((row_day(row) for _, rows, _ in answers for row in rows), default=None)
    reasons, depth = [], 0
    for (symbol, _), rows, stored in answers:
        found, oldest = _news(rows, stored)
        if found:
            reasons.append(f"probe {symbol}: {found}")
        if oldest is not None:
            depth = max(depth, sum(1 for row in stored if row_day(row) >= oldest))
    if reasons:
        return Verdict(True, newest, reasons[0], depth)
    names = ", ".join(symbol for (symbol, _), _, _ in answers[:3])
    more = f" and {len(answers) - 3} more" if len(answers) > 3 else ""
    return Verdict(
        False, newest, f"no news: probes {names}{more} found no new day and no restated value"
    )


def _news(rows: Sequence[Row], stored: Sequence[Row]) -> tuple[str | None, str | None]:
    """Why ``rows`` (answered) are news against ``stored`` (same symbol), or None; and the
    oldest stored day they restate or fill in, or None."""
    by_day = {row_day(row): row for row in stored}
    newest = max(by_day, default="")
    why, oldest = None, None
    for row in rows:
        day = row_day(row)
        if day > newest:
            why = why or f"{day} is after its newest stored day {newest or '(none)'}"
            continue
        old = by_day.get(day)
        # A value that did not parse arrives as None and never replaces a stored one.
        if old is not None and not any(
            new is not None and new != was
            for new, was in zip(row[_DATA:], old[_DATA:], strict=True)
        ):
            continue
        why = why or (f"{day} was not stored" if old is None else f"{day} restated")
        oldest = day if oldest is None or day < oldest else oldest
    return why, oldest


def business_days_after(first: date, last: date) -> int:
    """Weekdays after ``first`` up to and including ``last`` (0 when ``last <= first``)."""
    if last <= first:
        return 0
    days = (last - first).days
    weeks, rest = divmod(days, 7)
    extra = sum(1 for i in range(1, rest + 1) if (first + timedelta(days=i)).weekday() < 5)
    return weeks * 5 + extra


def incremental_count(
    stored_newest: str,
    pair_newest: str | None,
    overlap: int,
    configured: int,
    documented: tuple[int, int],
    depth: int = 0,
) -> int:
    """Records to ask for a symbol whose newest stored day is ``stored_newest``: to the pair's
    newest day, and ``overlap`` more, or ``depth`` more if a probe found a restatement that
    deep."""
    low, high = documented
    if pair_newest is None:
        return configured
    gap = business_days_after(date.fromisoformat(stored_newest), date.fromisoformat(pair_newest))
    return max(low, min(gap + max(overlap, depth), configured, high))


def needs_refetch(rows: Sequence[Row], asked: int, configured: int, stored_newest: str) -> bool:
    """True if an incremental answer may have left a hole before its oldest day."""
    if asked >= configured or len(rows) < asked:
        return False  # asked for all, or upstream had fewer than asked: nothing is missing
    return min(map(row_day, rows)) > stored_newest
