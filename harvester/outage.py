"""Noticing that the gateway is down, and waiting for it instead of burning every task's retries.

After ``OUTAGE_AFTER`` transport failures in a row (connection refused or
reset, time-outs, HTTP 5xx) the guard opens: requests are held, and one at a
time goes out as a probe, with backoff between probes. The first answer of
any kind closes it again. Failures while it is open are the outage's, not the
tasks': they do not count against ``max_attempts``. An outage longer than
``outage_max`` seconds raises GatewayUnavailable, which stops the run.
"""

from __future__ import annotations

import asyncio
import logging

from harvester.errors import GatewayUnavailable

log = logging.getLogger(__name__)

OUTAGE_AFTER = 8  # transport failures in a row that mean "down", not "flaky"
PROBE_FIRST = 0.5  # seconds before the first probe; doubled up to PROBE_MAX
PROBE_MAX = 15.0


class OutageGuard:
    """Shared by every task of a sweep; ``admit`` before each request, then report its fate."""

    def __init__(self, max_wait: float, *, threshold: int = OUTAGE_AFTER) -> None:
        self.max_wait = max_wait
        self.threshold = threshold
        self.outages = 0  #: outages seen so far
        self._streak = 0
        self._open_since: float | None = None
        self._probing = False
        self._delay = PROBE_FIRST
        self._back = asyncio.Event()
        self._back.set()
        self._last_error = ""

    def __repr__(self) -> str:
        state = "open" if self._open_since is not None else "closed"
        return f"<OutageGuard {state} streak={self._streak} outages={self.outages}>"

    @property
    def is_open(self) -> bool:
        """True while the gateway is considered down."""
        return self._open_since is not None

    async def admit(self) -> bool:
        """Wait until a request may go out; True when it goes out as the outage's probe."""
        loop = asyncio.get_running_loop()
        while self._open_since is not None:
            remaining = self._open_since + self.max_wait - loop.time()
            if remaining <= 0:
                raise GatewayUnavailable(
                    f"the gateway is unavailable: no answer for {self.max_wait:g}s "
                    f"(last error: {self._last_error})"
                )
            if not self._probing:
                self._probing = True
                delay, self._delay = self._delay, min(self._delay * 2, PROBE_MAX)
                try:
                    await asyncio.sleep(min(delay, remaining))
                except BaseException:
                    self._probing = False
                    raise
                return True
            try:
                await asyncio.wait_for(self._back.wait(), remaining)
            except TimeoutError:
                continue
        return False

    def succeeded(self, probe: bool) -> None:
        """An answer came back (of any kind): the gateway is up."""
        self._streak = 0
        if probe:
            self._probing = False
        if self._open_since is not None:
            log.warning("the gateway answers again; carrying on")
            self._open_since = None
            self._delay = PROBE_FIRST
            self._back.set()

    def failed(self, probe: bool, message: str) -> bool:
        """A transport failure; True when it belongs to an outage (and costs the task nothing)."""
        if probe:
            self._probing = False
        self._last_error = message
        if self._open_since is not None:
            return True
        self._streak += 1
        if self._streak < self.threshold:
            return False
        self._open_since = asyncio.get_running_loop().time()
        self._back.clear()
        self.outages += 1
        log.warning("the gateway looks down (%d failures in a row, last: %s); pausing and "
                    "probing for up to %gs", self._streak, message, self.max_wait)
        return True

    def abandon_probe(self) -> None:
        """The probe was cancelled before it could report; let another task probe."""
        self._probing = False
