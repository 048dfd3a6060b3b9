"""The circuit breaker that tells a gateway outage from one bad symbol, and waits it out.

Every request goes through the guard, one ``async with`` block each::

    attempt = guard.attempt(symbol)
    async with attempt:
        ...  # send one request, parse its answer
    # after a failure: attempt.outage is True when it was the outage's

The guard is in one of three states (``GuardState``):

- **closed**: requests go out. It opens after ``OUTAGE_AFTER`` transport
  failures in a row (connection refused or reset, time-outs, HTTP 5xx), only
  when they are spread over at least ``OUTAGE_SPREAD`` symbols, or when no
  connection could be opened at all (``unreachable``: no symbol can cause
  that). So one security that upstream cannot serve fails on its own
  ``max_attempts`` while the others go on.
- **open**: requests are held until the next probe is due: ``PROBE_FIRST``
  seconds after the outage began, then with the wait doubling up to
  ``PROBE_MAX``.
- **half-open**: one probe is out and every other request is still held. The
  probe re-sends a request that was answered earlier in the run (the canary)
  when there is one, so a symbol that fails forever cannot keep the outage
  open; else the held request itself goes out. An answer of any kind, to the
  probe or to a request sent before the outage, closes the guard; a failed
  probe opens it again, and a cancelled one lets another request probe.

Failures while the guard is open are the outage's: they cost the task
nothing. ``outage_max`` seconds after the outage began, every held request
raises GatewayUnavailable, which stops the run.

A symbol whose failures fell between answers to other requests (so the
gateway was up) is a suspect: its failures count only against its own
attempts until it is answered.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType

from harvester.errors import FetchError, GatewayUnavailable, TransportError

log = logging.getLogger(__name__)

OUTAGE_AFTER = 8  # transport failures in a row that mean "down", not "flaky"
OUTAGE_SPREAD = 3  # ... over at least this many symbols (or unreachable failures)
PROBE_FIRST = 0.5  # seconds from the outage's start to the first probe; doubled up to PROBE_MAX
PROBE_MAX = 15.0

Canary = Callable[[], Awaitable[bool]]  # re-sends an answered request; True if answered again


class GuardState(enum.StrEnum):
    """Where the circuit breaker stands."""

    CLOSED = "closed"  #: requests go out
    OPEN = "open"  #: requests are held until the next probe is due
    HALF_OPEN = "half-open"  #: one probe is out, every other request is held


class Attempt:
    """One request through the guard: an async context manager, used once.

    Entering it waits while the guard holds requests; leaving it tells the
    guard what happened: no exception or any FetchError but a TransportError
    is an answer (the gateway is up), a TransportError is a failure, anything
    else (a cancellation, a stop) abandons the request.
    """

    __slots__ = ("_guard", "outage", "probe", "symbol")

    def __init__(self, guard: OutageGuard, symbol: str) -> None:
        self._guard = guard
        self.symbol = symbol  #: the symbol asked for
        self.probe = False  #: went out as the outage's probe
        self.outage = False  #: failed as part of an outage, so it costs the task nothing

    def __repr__(self) -> str:
        return f"<Attempt {self.symbol} probe={self.probe} outage={self.outage}>"

    async def __aenter__(self) -> Attempt:
        await self._guard._admit(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._guard._settle(self, exc)


class OutageGuard:
    """Shared by every task of a sweep: a circuit breaker over the gateway.

    ``clock`` and ``sleep`` default to the running loop's ``time`` and
    ``asyncio.sleep``; tests pass a fake pair so that nothing really waits.
    """

    def __init__(
        self,
        max_wait: float,
        *,
        threshold: int = OUTAGE_AFTER,
        spread: int = OUTAGE_SPREAD,
        where: str = "base_url",
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.max_wait = max_wait  #: seconds an outage may last before the run stops
        self.threshold = threshold  #: failures in a row that open the guard
        self.spread = spread  #: symbols (or unreachable failures) they must span
        self.where = where  #: names the gateway in messages: its base URL
        self.outages = 0  #: outages seen so far
        self.canary: Canary | None = None  #: set by the fetch loop after each answer
        self._clock = clock
        self._sleep = sleep or asyncio.sleep
        self._streak = 0
        self._streak_symbols: set[str] = set()
        self._unreachable = 0  # failures in the streak that never reached the gateway
        self._suspects: set[str] = set()
        self._opened: float | None = None  # when the current outage began
        self._next_probe = 0.0
        self._delay = PROBE_FIRST  # the wait after the next failed probe
        self._probe: Attempt | None = None  # the attempt whose probe is out
        self._changed = asyncio.Event()  # replaced by a fresh one at each change
        self._last_error = ""

    def __repr__(self) -> str:
        return (
            f"<OutageGuard {self.state} streak={self._streak} outages={self.outages} "
            f"suspects={len(self._suspects)}>"
        )

    @property
    def state(self) -> GuardState:
        """Closed, open or half-open."""
        if self._opened is None:
            return GuardState.CLOSED
        return GuardState.OPEN if self._probe is None else GuardState.HALF_OPEN

    def attempt(self, symbol: str) -> Attempt:
        """The context manager to send one request for ``symbol`` in."""
        return Attempt(self, symbol)

    def _now(self) -> float:
        if self._clock is None:
            self._clock = asyncio.get_running_loop().time
        return self._clock()

    async def _admit(self, attempt: Attempt) -> None:
        """Hold ``attempt`` while the guard is open; it may go out as the probe."""
        while self._opened is not None:
            now = self._now()
            give_up = self._opened + self.max_wait
            if now >= give_up:
                raise GatewayUnavailable(
                    f"the gateway is unavailable: no answer from {self.where} "
                    f"for {self.max_wait:g}s (last error: {self._last_error})"
                )
            if self._probe is not None or now < self._next_probe:
                await self._hold(
                    give_up if self._probe is not None else min(self._next_probe, give_up)
                )
                continue
            self._probe = attempt  # half-open
            if self.canary is None:
                # Nothing answered yet this run: this request itself probes.
                attempt.probe = True
                return
            await self._send_canary(attempt, self.canary)

    async def _send_canary(self, attempt: Attempt, canary: Canary) -> None:
        try:
            answered = await canary()
        except BaseException:
            self._abandoned(attempt)
            raise
        if not answered:
            self._probe_failed(attempt)
        elif attempt is self._probe:
            # The symbols that opened the outage may be the whole story (the gateway
            # answered the canary): from now on their failures are their own.
            self._suspects.update(self._streak_symbols)
            self._close()

    async def _hold(self, until: float) -> None:
        """Wait until the state changes or the clock reaches ``until``."""
        changed = asyncio.ensure_future(self._changed.wait())
        timer = asyncio.ensure_future(self._sleep(max(until - self._now(), 0.0)))
        try:
            await asyncio.wait((changed, timer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            changed.cancel()
            timer.cancel()

    def _settle(self, attempt: Attempt, error: BaseException | None) -> None:
        """Classify how ``attempt`` ended."""
        if isinstance(error, TransportError):
            attempt.outage = self._failed(attempt, error)
        elif error is None or isinstance(error, FetchError):
            self._answered(attempt)  # an answer, however unwelcome: the gateway is up
        else:
            self._abandoned(attempt)

    def _answered(self, attempt: Attempt) -> None:
        if self._opened is None:
            # These failed while the gateway answered: theirs, not the gateway's.
            self._suspects.update(self._streak_symbols)
        self._suspects.discard(attempt.symbol)
        self._reset_streak()
        self._close()

    def _failed(self, attempt: Attempt, error: TransportError) -> bool:
        """Count a transport failure; True when it belongs to an outage."""
        self._last_error = error.message
        if self._opened is not None:
            self._probe_failed(attempt)
            return True
        if attempt.symbol in self._suspects and not error.unreachable:
            return False
        self._streak += 1
        self._streak_symbols.add(attempt.symbol)
        self._unreachable += error.unreachable
        if (
            self._streak < self.threshold
            or len(self._streak_symbols) + self._unreachable < self.spread
        ):
            return False
        self._open(error)
        return True

    def _abandoned(self, attempt: Attempt) -> None:
        """A probe cancelled before it could report: let another request probe."""
        if attempt is self._probe:
            self._probe = None
            self._wake()

    def _probe_failed(self, attempt: Attempt) -> None:
        if attempt is not self._probe:
            return  # a request sent before the outage: the probe is still out
        self._probe = None
        self._next_probe = self._now() + self._delay
        self._delay = min(self._delay * 2, PROBE_MAX)
        self._wake()

    def _open(self, error: TransportError) -> None:
        self._opened = self._now()
        self._next_probe = self._opened + PROBE_FIRST
        self._delay = min(PROBE_FIRST * 2, PROBE_MAX)
        self.outages += 1
        log.warning(
            "the gateway (%s) looks down (%d failures in a row over %d symbols, "
            "last: %s); pausing and probing for up to %gs",
            self.where,
            self._streak,
            len(self._streak_symbols),
            error.message,
            self.max_wait,
        )

    def _close(self) -> None:
        if self._opened is None:
            return
        log.warning("the gateway (%s) answers again; carrying on", self.where)
        self._reset_streak()
        self._opened = None
        self._probe = None
        self._wake()

    def _reset_streak(self) -> None:
        self._streak = self._unreachable = 0
        self._streak_symbols.clear()

    def _wake(self) -> None:
        """Let every held request look at the new state."""
        self._changed.set()
        self._changed = asyncio.Event()
