"""The account's daily request quota: the request that would exceed it is never sent."""

from __future__ import annotations

from datetime import UTC, datetime, time

from harvester.model import utc_text

#: Requests recorded today: the runs started since ``?`` (this UTC day's midnight).
USED_TODAY_SQL = "SELECT COALESCE(SUM(requests), 0) FROM runs WHERE started_at >= ?"


def utc_midnight(now: datetime | None = None) -> str:
    """This UTC day's start in the form ``runs.started_at`` is written in."""
    day = (now or datetime.now(UTC)).astimezone(UTC).date()
    return utc_text(datetime.combine(day, time(), tzinfo=UTC))


class DailyQuota:
    """Counts requests against ``[gateway] daily_quota``; ``limit`` 0 means none."""

    def __init__(self, limit: int, used: int = 0) -> None:
        self.limit = limit  #: requests allowed per UTC day (0: no quota)
        self.used = used  #: requests counted so far today, those of earlier runs included
        self.reached = False  #: True once a request was refused

    def __repr__(self) -> str:
        return f"<DailyQuota {self.used}/{self.limit or 'none'} reached={self.reached}>"

    def take(self) -> bool:
        """Count one request, or refuse it (False) if it would go over the quota."""
        if self.limit and self.used >= self.limit:
            self.reached = True
            return False
        self.used += 1
        return True

    def note(self) -> None:
        """Count a request that goes out whatever the quota (an outage probe)."""
        self.used += 1

    def reason(self) -> str:
        """Why the sweep stopped, naming the setting."""
        return (
            f"the daily quota of {self.limit} requests ([gateway] daily_quota) is used up "
            f"({self.used} today); run it again tomorrow with --resume"
        )
