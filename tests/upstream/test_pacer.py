"""The account's pacer on a fake clock: its pace, its cuts, its hold and climb, stated limits."""

from __future__ import annotations

import itertools

import pytest

from harvester.upstream import pacer as rules
from harvester.upstream.pacer import Pacer


class FakeClock:
    """A clock that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def paced(ceiling: float) -> tuple[Pacer, FakeClock]:
    clock = FakeClock()
    return Pacer(ceiling, clock=clock, sleep=clock.sleep), clock


def most_in_a_second(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


async def test_requests_leave_at_the_rate_and_never_more_in_a_second() -> None:
    pacer, clock = paced(10.0)
    times = []
    for _ in range(50):
        await pacer.acquire()
        times.append(clock.now)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) == pytest.approx(0.1)
    assert most_in_a_second(times) <= 10
    assert times[-1] - times[0] == pytest.approx(4.9, abs=0.2)


def accept(pacer: Pacer, start: float, per_second: float, seconds: float) -> float:
    """Answers ``ok`` at ``per_second`` from ``start``; returns the time after the last."""
    t = start
    for _ in range(round(per_second * seconds)):
        pacer.answered(t, "ok")
        t += 1.0 / per_second
    return t


def test_a_429_cuts_to_what_the_upstream_accepted() -> None:
    pacer, _ = paced(8.0)
    t = accept(pacer, 0.0, 5.0, 2.0)
    pacer.answered(t, "refused")
    assert pacer.rate == pytest.approx(rules.BETA * 5.0, rel=0.05)
    assert (pacer.cuts, pacer.found) == (1, pytest.approx(5.0, rel=0.05))


def test_a_drop_to_a_quarter_is_followed_within_seconds() -> None:
    pacer, _ = paced(20.0)
    t = accept(pacer, 0.0, 8.0, rules.MEASURE)
    pacer.answered(t, "refused")  # the limit found at first: 8 a second
    pacer.delay(t + 1000.0)  # back up to the ceiling
    assert pacer.rate == pacer.ceiling
    t = accept(pacer, t + 1000.0, 19.0, rules.MEASURE)
    pacer.answered(t, "refused")  # the limit just dropped: the last second still shows ~19
    assert pacer.rate == pytest.approx(rules.BETA * 19.0, rel=0.06)
    for _ in range(2):
        t = accept(pacer, t, 5.0, 1.5 * rules.CUT_GAP)
        pacer.answered(t, "refused")
    # Never more than halved by one cut, so from 18 to under 5 takes a cut a second.
    assert 4.0 <= pacer.rate < 5.0 and pacer.cuts == 4


def test_refusals_to_requests_sent_before_a_cut_do_not_cut_again() -> None:
    pacer, _ = paced(20.0)
    t = accept(pacer, 0.0, 12.0, rules.MEASURE)
    pacer.answered(t, "refused")
    first = pacer.rate
    for k in range(5):
        pacer.answered(t + 0.1 * k, "refused")
    assert (pacer.cuts, pacer.rate) == (1, first)
    pacer.answered(t + rules.CUT_GAP + 0.01, "refused")
    assert pacer.cuts == 2 and pacer.rate < first


def test_after_the_first_cut_one_cut_never_more_than_halves_the_pace() -> None:
    pacer, _ = paced(20.0)
    t = accept(pacer, 0.0, 8.0, rules.MEASURE)
    pacer.answered(t, "refused")
    first = pacer.rate
    pacer.answered(t + rules.CUT_GAP + 1.1, "refused")  # nothing accepted in the last second
    assert pacer.rate == pytest.approx(first * rules.MIN_CUT)


def test_a_lone_minus_5_is_no_overload_but_a_cluster_is() -> None:
    pacer, _ = paced(20.0)
    t = accept(pacer, 0.0, 20.0, rules.MEASURE)
    pacer.answered(t, "error")
    assert pacer.cuts == 0
    pacer, _ = paced(20.0)
    t = accept(pacer, 0.0, 5.0, rules.MEASURE)
    for k in range(rules.CLUSTER):
        pacer.answered(t + 0.01 * k, "error")
    assert pacer.cuts == 1


def test_after_a_cut_the_pace_holds_then_climbs_back_then_probes_slowly() -> None:
    pacer, _ = paced(20.0)
    t = accept(pacer, 0.0, 8.0, rules.MEASURE)
    pacer.answered(t, "refused")
    cut = pacer.rate
    pacer.delay(t + rules.HOLD - 0.1)
    assert pacer.rate == cut  # held
    # A second cut from a lower pace remembers the limit found before it.
    pacer, _ = paced(20.0)
    t = accept(pacer, 0.0, 8.0, rules.MEASURE)
    pacer.answered(t, "refused")
    pacer.found = 8.0
    pacer.rate = 3.0
    pacer.delay(t + rules.HOLD + 5.0)
    assert rules.BETA * 8.0 * 0.95 < pacer.rate <= rules.BETA * 8.0 * 1.01
    before = pacer.rate
    pacer.delay(t + rules.HOLD + 15.0)
    assert before < pacer.rate <= before * (1 + rules.PROBE) ** 10 * 1.001
    pacer.delay(t + 10_000.0)
    assert pacer.rate == pacer.ceiling


def test_a_stated_limit_lowers_the_ceiling_and_the_pace_at_once() -> None:
    pacer, _ = paced(20.0)
    pacer.limit_to(5.0)
    assert pacer.ceiling == pytest.approx(rules.KEPT * 5.0) == pacer.rate
    pacer.limit_to(50.0)  # never raised by a statement: the configured rate stays a ceiling
    assert pacer.ceiling == pytest.approx(rules.KEPT * 5.0)
    pacer.limit_to(0.0)  # nonsense is ignored
    assert pacer.ceiling == pytest.approx(rules.KEPT * 5.0)


async def test_a_disengaged_pacer_lets_bursts_by_until_the_upstream_pushes_back() -> None:
    clock = FakeClock()
    pacer = Pacer(10.0, engaged=False, clock=clock, sleep=clock.sleep)
    for _ in range(30):
        await pacer.acquire()
    assert clock.now == 1000.0  # the endpoints' own limiters pace it, not this
    t = accept(pacer, clock.now, 8.0, rules.MEASURE)
    pacer.answered(t, "refused")
    assert pacer.engaged and pacer.rate == pytest.approx(rules.BETA * 8.0, rel=0.05)
    pacer.delay(t + 10_000.0)  # back at the ceiling: it lets go again
    assert not pacer.engaged


def test_past_the_limit_found_a_lone_minus_5_answers_the_probe() -> None:
    pacer, _ = paced(20.0)
    t = accept(pacer, 0.0, 5.0, 2.0)
    for k in range(rules.CLUSTER):
        pacer.answered(t + 0.01 * k, "error")
    assert pacer.cuts == 1 and 4.0 <= (pacer.found or 0) <= 5.0
    t = accept(pacer, t + 2.0, 4.0, 2.0)
    pacer.answered(t, "error")  # under the limit found: a lone one is noise
    assert pacer.cuts == 1
    pacer.rate = 5.3  # probing past it
    pacer.answered(t + 0.1, "error")
    assert pacer.cuts == 2


def test_a_lone_429_before_anything_was_accepted_halves_the_pace_not_sinks_it() -> None:
    pacer, _ = paced(20.0)
    pacer.answered(0.0, "ok")
    pacer.answered(0.1, "refused")  # one answer accepted: no rate to measure on
    assert pacer.rate == pytest.approx(20.0 * rules.MIN_CUT) and pacer.found is None
    pacer.delay(0.1 + rules.HOLD + 10.0)  # nothing was found: it climbs back to the ceiling
    assert pacer.rate == pytest.approx(20.0, rel=0.01)


def test_a_retry_refused_again_does_not_cut_but_counts_as_refusing() -> None:
    pacer, _ = paced(20.0)
    t = accept(pacer, 0.0, 8.0, rules.MEASURE)
    for k in range(20):
        pacer.answered(t + 2.0 * k, "refused again")
    assert pacer.cuts == 0 and pacer.refusing_for(t + 40.0) == pytest.approx(40.0)
