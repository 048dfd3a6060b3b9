"""Noticing that the gateway is down, and waiting for it instead of burning every task's retries.

An outage is the gateway's, not a symbol's. The guard opens after
``OUTAGE_AFTER`` transport failures in a row (connection refused or reset,
time-outs, HTTP 5xx) only when they are spread over at least
``OUTAGE_SPREAD`` symbols, or when no connection could be opened at all
(``unreachable``: no symbol can cause that). So one security that upstream
cannot serve fails on its own ``max_attempts`` while the others go on.

While the guard is open, requests are held and one probe at a time goes out,
with backoff between probes. The probe re-sends a request that was answered
earlier in the run (the canary) when there is one, so a symbol that fails
forever cannot keep the outage open; else the held request itself goes out.
The first answer of any kind closes the guard. Failures while it is open are
the outage's: they do not count against ``max_attempts``. An outage longer
than ``outage_max`` seconds raises GatewayUnavailable, which stops the run.

A symbol whose failures fell between answers to other requests (so the
gateway was up) is a suspect: its failures count only against its own
attempts until it is answered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from harvester.errors import GatewayUnavailable, TransportError

log = logging.getLogger(__name__)

OUTAGE_AFTER = 8  # transport failures in a row that mean "down", not "flaky"
OUTAGE_SPREAD = 3  # ... over at least this many symbols (or unreachable failures)
PROBE_FIRST = 0.5  # seconds before the first probe; doubled up to PROBE_MAX
PROBE_MAX = 15.0

Canary = Callable[[], Awaitable[bool]]  # re-sends an answered request; True if answered again


class OutageGuard:
    """Shared by every task of a sweep; ``admit`` before each request, then report its fate."""

    def __init__(
        self, max_wait: float, *, threshold: int = OUTAGE_AFTER, spread: int = OUTAGE_SPREAD,
        where: str = "base_url",
    ) -> None:
        self.max_wait = max_wait
        self.threshold = threshold
        self.spread = spread
        self.where = where  #: names the gateway in messages: its base URL
        self.outages = 0  #: outages seen so far
        self.canary: Canary | None = None  #: set by the fetch loop after each answer
        self._streak = 0
        self._streak_symbols: set[str] = set()
        self._unreachable = 0  # failures in the streak that never reached the gateway
        self._suspects: set[str] = set()
        self._open_since: float | None = None
        self._probing = False
        self._delay = PROBE_FIRST
        self._back = asyncio.Event()
        self._back.set()
        self._last_error = ""

    def __repr__(self) -> str:
        state = "open" if self._open_since is not None else "closed"
        return (f"<OutageGuard {state} streak={self._streak} outages={self.outages} "
                f"suspects={len(self._suspects)}>")

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
                    f"the gateway is unavailable: no answer from {self.where} "
                    f"for {self.max_wait:g}s "
                    f"(last error: {self._last_error})"
                )
            if not self._probing:
                self._probing = True
                delay, self._delay = self._delay, min(self._delay * 2, PROBE_MAX)
                try:
                    await asyncio.sleep(min(delay, remaining))
                    if self.canary is None:
                        # Nothing answered yet this run: this request probes, and the
                        # guard stays in probing until it reports.
                        return True
                    answered = await self.canary()
                except BaseException:
                    self._probing = False
                    raise
                self._probing = False
                if answered:
                    self._close()
                    return False
                continue
            try:
                await asyncio.wait_for(self._back.wait(), remaining)
            except TimeoutError:
                continue
        return False

    def succeeded(self, probe: bool, symbol: str) -> None:
        """An answer came back for ``symbol`` (of any kind): the gateway is up."""
        if probe:
            self._probing = False
        if self._open_since is None:
            # These failed while the gateway answered: theirs, not the gateway's.
            self._suspects.update(self._streak_symbols)
        self._suspects.discard(symbol)
        self._reset_streak()
        if self._open_since is not None:
            self._close()

    def failed(self, probe: bool, error: TransportError, symbol: str) -> bool:
        """A transport failure; True when it belongs to an outage (and costs the task nothing)."""
        if probe:
            self._probing = False
        self._last_error = error.message
        if self._open_since is not None:
            return True
        if symbol in self._suspects and not error.unreachable:
            return False
        self._streak += 1
        self._streak_symbols.add(symbol)
        self._unreachable += error.unreachable
        if (self._streak < self.threshold
                or len(self._streak_symbols) + self._unreachable < self.spread):
            return False
        self._open_since = asyncio.get_running_loop().time()
        self._back.clear()
        self.outages += 1
        log.warning("the gateway (%s) looks down (%d failures in a row over %d symbols, "
                    "last: %s); pausing and probing for up to %gs", self.where, self._streak,
                    len(self._streak_symbols), error.message, self.max_wait)
        return True

    def abandon_probe(self) -> None:
        """The probe was cancelled before it could report; let another task probe."""
        self._probing = False

    def _reset_streak(self) -> None:
        self._streak = self._unreachable = 0
        self._streak_symbols.clear()

    def _close(self) -> None:
        if self._open_since is None:
            return
        log.warning("the gateway (%s) answers again; carrying on", self.where)
        # The symbols that opened the outage may be the whole story (the gateway answered
        # the canary): from now on their failures are their own.
        self._suspects.update(self._streak_symbols)
        self._reset_streak()
        self._open_since = None
        self._delay = PROBE_FIRST
        self._back.set()
