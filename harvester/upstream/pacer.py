"""The account's pace: one rate for every endpoint the upstream limits together, that moves.

The configured rate is a guess; the upstream's limit is what counts, and it may
be lower, shared, and may drop during a run. aiolimiter fixes its rate when it
is built (its issue #98), so the account's pace is this small pacer of our own:
requests leave at most ``rate`` a second, spaced ``1 / rate`` apart, and never
more than ``ceil(rate)`` in any ``window`` (a second and a little: requests
delayed on their way arrive bunched). The endpoints keep their own fixed
limiters (aiolimiter) as ceilings under it.

How it finds the limit (AIMD with a memory, as the AWS SDKs' adaptive mode and
TCP's CUBIC do):

- **Overload** is a 429 to a request's first try, or a cluster of ``-5`` (at
  least ``CLUSTER`` in the last second, and at least ``CLUSTER_SHARE`` of its
  answers), never a lone one, but while probing past the limit found at an
  earlier overload, where a ``-5`` is the upstream's answer to the probe. On
  overload the rate is cut to ``BETA`` times what the upstream accepted a second
  over the last ``MEASURE`` seconds (at most halved by one cut, but the first on
  ``EVIDENCE`` answers or more), and that rate is remembered as the limit found.
  Another cut needs another overload ``CUT_GAP`` later, once the answers to the
  faster requests are in.
- **Hold, then raise:** for ``HOLD`` seconds after a cut the rate stays; then it
  climbs back quickly towards ``BETA`` times the limit found (``APPROACH`` of the
  gap a second) and, past it, probes upwards slowly (``PROBE`` of itself a
  second), never above the ceiling.
- **Told outright:** a ceiling the upstream states (``RateLimit-Policy``) sets the
  ceiling, and the rate with it, at once (``KEPT`` of it: arrival jitter).

Time is read from the ``clock`` and waited out with the ``sleep`` it is given
(by default the running loop's), so its rules are tested on a fake clock.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable

BETA = 0.95  #: a cut sets the rate to this share of what the upstream accepted
MIN_CUT = 0.5  #: one cut never takes the rate below this share of what it was ...
EVIDENCE = 3  #: ... but the first, on at least this many answers accepted in its second
CUT_GAP = 1.0  #: seconds after a cut before another overload may cut again
HOLD = 3.0  #: seconds after a cut before the rate rises
APPROACH = 0.5  #: share of the gap to ``BETA`` x the limit found that a second closes
PROBE = 0.005  #: share of itself the rate grows by a second past that
NEAR = 0.99  #: share of that target from which the rate probes instead
CLUSTER = 3  #: ``-5`` answers in a second that may be an overload ...
CLUSTER_SHARE = 0.2  #: ... when they are at least this share of that second's answers
KEPT = 0.97  #: share of a stated ceiling aimed at: requests arrive bunched by jitter
FLOOR = 0.05  #: requests a second the pace never goes below
WINDOW = 1.0  #: seconds of answers a cluster of ``-5`` is counted over
MEASURE = 2.0  #: seconds of answers the accepted rate is measured over


class Pacer:
    """``await pacer.acquire()`` before each request; tell it each answer it got.

    ``rate`` and ``ceiling`` are requests a second; ``cuts`` counts the cuts so far.
    """

    def __init__(
        self,
        ceiling: float,
        *,
        kept: float = KEPT,
        engaged: bool = True,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.ceiling = ceiling  #: the most it may send a second: configured, or stated
        self.rate = ceiling  #: the pace now
        self.found: float | None = None  #: the upstream's limit as last measured at an overload
        self.cuts = 0  #: cuts so far
        #: whether it paces now; one built disengaged (its ceiling only the endpoints' rates
        #: together, which their own limiters keep, bursts and all) engages at the first sign
        #: of the upstream's own limit, and lets go again once back at the ceiling
        self.engaged = engaged
        self._always = engaged
        # By default the running loop's clock, which its sleeps are measured on.
        self._clock = clock or asyncio.get_running_loop().time
        self._sleep = sleep
        self._window = WINDOW / kept  # the guard's: ``kept`` of the rate still fits in it
        self._next = -math.inf  # when the next request is due, on the pace
        self._sent: deque[float] = deque()
        self._answers: deque[tuple[float, str]] = deque()  # (time, "ok" | "refused" | "error")
        self._cut_at = -math.inf
        self._raised_at = -math.inf
        self._refusing_since: float | None = None
        self._first = math.inf  # the first answer's time

    def __repr__(self) -> str:
        return f"<Pacer rate={self.rate:.3g}/s ceiling={self.ceiling:g} cuts={self.cuts}>"

    # Sending ----------------------------------------------------------------------------------

    def delay(self, now: float) -> float:
        """Seconds until one more request may leave at ``now`` (0: at once)."""
        self._rise(now)
        if not self.engaged:
            return 0.0
        sent = self._sent
        while sent and now - sent[0] >= self._window:
            sent.popleft()
        wait = self._next - now
        most = max(1, math.ceil(self.rate))
        if len(sent) >= most:
            wait = max(wait, sent[-most] + self._window - now)
        return max(wait, 0.0)

    def sent(self, now: float) -> None:
        """Count a request as gone at ``now``."""
        self._sent.append(now)
        # Due times run on the pace, not from each send: a late wake-up is made up for by
        # the next request (one interval at most), or the loop's lateness would eat the rate.
        interval = 1.0 / self.rate
        on_grid = now <= self._next + interval  # late by less than an interval: keep the grid
        self._next = (self._next if on_grid else now) + interval

    async def acquire(self) -> None:
        """Wait until one more request may leave, and count it as gone."""
        # No await between the last look and the count: waiters woken together go one by one.
        while (wait := self.delay(self._clock())) > 0:
            await self._sleep(wait)
        self.sent(self._clock())

    # Answers ----------------------------------------------------------------------------------

    def answered(self, now: float, outcome: str) -> None:
        """Note an answer: ``ok`` (accepted, whatever its data), ``refused`` (a 429),
        ``refused again`` (a 429 to a retry: one symbol refused over and over says nothing
        of the pace, and must not sink it), or ``error`` (a ``-5``); an overload cuts the
        pace."""
        answers = self._answers
        self._first = min(self._first, now)
        answers.append((now, outcome))
        if outcome in ("refused", "refused again"):
            if self._refusing_since is None:
                self._refusing_since = now
        else:
            self._refusing_since = None
        while answers and now - answers[0][0] > MEASURE:
            answers.popleft()
        if outcome == "refused" or (outcome == "error" and (self._cluster() or self._past())):
            self._overload(now)

    def _past(self) -> bool:
        """Probing past the limit found at an overload: a lone ``-5`` is then the answer."""
        return self.found is not None and self.rate > self.found

    def _cluster(self) -> bool:
        recent = [outcome for t, outcome in self._answers if self._answers[-1][0] - t <= WINDOW]
        errors = recent.count("error")
        return errors >= CLUSTER and errors >= CLUSTER_SHARE * len(recent)

    def _overload(self, now: float) -> None:
        if now - self._cut_at < CUT_GAP:
            return  # answers to requests sent before the last cut: already acted on
        oks = sum(1 for _, outcome in self._answers if outcome == "ok")
        # Measured over ``MEASURE`` seconds: one second's edge drops or adds an answer,
        # a fifth of the rate at 5 a second, and a pace cut on it sits a fifth too low.
        span = min(MEASURE, max(WINDOW, now - self._first))  # less at the start of a run
        accepted = oks / span
        # The first cut goes all the way: before it, the pace was only a guess. Later ones,
        # and one on too few answers to measure a rate on (a lone 429 at the start), at
        # most halve it, so a harsh upstream (refusals that count too) cannot sink it.
        trusted = self.found is None and oks >= EVIDENCE
        least = 0.0 if trusted else MIN_CUT * self.rate
        if oks >= EVIDENCE or self.found is not None:
            self.found = max(accepted, FLOOR)  # else nothing measured: climb back to the ceiling
        self.rate = max(FLOOR, least, min(self.rate, BETA * accepted))
        self.cuts += 1
        self.engaged = True
        self._cut_at = self._raised_at = now

    def _rise(self, now: float) -> None:
        """Raise the pace for the time since it was last raised, once the hold is over."""
        start = max(self._raised_at, self._cut_at + HOLD)
        if now <= start:
            return
        if self.rate >= self.ceiling:
            self._raised_at = now
            self.engaged = self._always
            return
        seconds = now - start
        target = BETA * self.found if self.found is not None else self.ceiling
        if self.rate < NEAR * target:  # the approach never quite gets there: near is there
            self.rate += (target - self.rate) * (1 - (1 - APPROACH) ** seconds)
        else:
            self.rate *= (1 + PROBE) ** seconds
        self.rate = min(self.rate, self.ceiling)
        self._raised_at = now
        if self.rate >= self.ceiling:
            self.engaged = self._always

    def now(self) -> float:
        """The time on the pacer's clock."""
        return self._clock()

    def refusing_for(self, now: float) -> float:
        """Seconds the upstream has refused everything (0 while it accepts anything)."""
        return now - self._refusing_since if self._refusing_since is not None else 0.0

    # Told outright ----------------------------------------------------------------------------

    def limit_to(self, per_second: float) -> None:
        """The upstream states its limit: the ceiling (and the pace) drop to it at once."""
        if per_second <= 0:
            return
        ceiling = max(FLOOR, KEPT * per_second)
        if ceiling < self.ceiling:
            self.ceiling = ceiling
            self.rate = min(self.rate, ceiling)
            self.engaged = self._always = True  # a stated ceiling is kept for good
