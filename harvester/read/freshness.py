"""Is the data as new as it should be? Each market's newest stored day of each data set,
against the newest day its publication lag allows (``[endpoints.NAME] stale_after_us`` and
``stale_after_hk``, in business days), for ``harvester check``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from harvester.catalog import published_by
from harvester.model import MARKET_TZ, SUPPORTED_MARKETS
from harvester.settings.config import EndpointConfig


@dataclass(frozen=True, slots=True)
class Freshness:
    """One market's newest stored day of one data set, against the newest due by ``reference``."""

    endpoint: str
    market: str
    newest: date
    reference: date  #: ``--today``, the simulated gateway's served day, or today there
    stale_after: int  #: ``[endpoints.NAME] stale_after_<market>``, in business days

    @property
    def expected(self) -> date:
        """The newest day that should be stored by ``reference``, at the latest."""
        return published_by(self.reference, self.stale_after)

    @property
    def stale(self) -> bool:
        """Whether the newest stored day is older than ``expected``."""
        return self.newest < self.expected

    @property
    def setting(self) -> str:
        """The setting that says how late this market publishes this data set."""
        return f"[endpoints.{self.endpoint}] stale_after_{self.market.lower()}"

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` object of one pair (orjson writes a date as ``YYYY-MM-DD``)."""
        return {**asdict(self), "expected": self.expected, "stale": self.stale}


def reference_days(
    today: date | None, run: dict[str, Any] | None, now: datetime
) -> tuple[dict[str, date], str]:
    """The day each market's data is judged on, and where it came from.

    ``--today``; else the latest run's ``served_day`` (a ``--simulate`` run's: the simulated
    gateway serves a fixed day; a file older than schema version 8 has no such column);
    else ``now`` in each exchange's time zone.
    """
    if today is not None:
        return dict.fromkeys(SUPPORTED_MARKETS, today), "--today"
    served = run.get("served_day") if run else None
    if served:
        return dict.fromkeys(SUPPORTED_MARKETS, date.fromisoformat(served)), "served_day"
    return {
        market: now.astimezone(ZoneInfo(MARKET_TZ[market])).date() for market in SUPPORTED_MARKETS
    }, "clock"


def freshness(
    newest: list[dict[str, str]], endpoints: Sequence[EndpointConfig], days: dict[str, date]
) -> list[Freshness]:
    """Each stored (data set, market) pair of ``endpoints`` against its ``stale_after``.

    A market with no rows of a data set is not judged: it may be one that market does not
    publish, or a universe without symbols of it.
    """
    settings = {endpoint.name: endpoint for endpoint in endpoints}
    return [
        Freshness(
            pair["endpoint"],
            pair["market"],
            date.fromisoformat(pair["newest"]),
            days[pair["market"]],
            getattr(settings[pair["endpoint"]], f"stale_after_{pair['market'].lower()}"),
        )
        for pair in newest
        if pair["endpoint"] in settings
    ]


def behind_line(pair: Freshness) -> str:
    return (
        f"{pair.market} {pair.endpoint} is behind: newest stored day {pair.newest}, expected "
        f"{pair.expected} at the latest ({pair.setting} = {pair.stale_after} business days "
        f"before {pair.reference}); harvester sweep --full asks every symbol anew, and if upstream "
        f"has nothing newer either, {pair.market} publishes it later than that: raise "
        f"stale_after_{pair.market.lower()}"
    )
