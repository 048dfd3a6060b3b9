"""The throttle faults of issue 22, decided by the service on fake clocks: a limit shared by
every endpoint, its schedule, the over-limit answers, counting refused requests, the daily
quota and the throttle's figures in the stats.

The monotonic clock starts at 100.0 and the wall clock at 2026-05-18 20:00 UTC, four hours
before the quota renews; both move only when a test moves them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest

from harvester.simulate import GatewaySettings, GatewayStats
from harvester.simulate.account import AccountStats
from harvester.simulate.openapi import PATHS, Call, OpenApiService
from harvester.simulate.responses import Answer
from harvester.simulate.service import Service
from harvester.simulate.settings import OPENAPI_ENDPOINTS
from harvester.simulate.throttle_stats import ThrottleStats

TRADES, INTEREST = "short_trades", "short_interest"
SYMBOLS = {TRADES: "AAPL.US", INTEREST: "US.AAPL"}
WALL = dt.datetime(2026, 5, 18, 20, 0, tzinfo=dt.UTC).timestamp()
MIDNIGHT = dt.datetime(2026, 5, 19, tzinfo=dt.UTC).timestamp()
BEARER = {"authorization": "Bearer demo-oauth-token"}


class Clocks:
    """The monotonic and the wall clock of one service, moved by the test."""

    def __init__(self) -> None:
        self.now = 100.0
        self.wall = WALL

    def step(self, seconds: float) -> None:
        """Move both clocks on."""
        self.now += seconds
        self.wall += seconds


def _gateway(clocks: Clocks, **settings: Any) -> Service:
    stats = GatewayStats(throttle=ThrottleStats())
    return Service(GatewaySettings(**settings), stats, lambda: clocks.now, lambda: clocks.wall)


def _openapi(clocks: Clocks, **settings: Any) -> OpenApiService:
    stats = GatewayStats(OPENAPI_ENDPOINTS, AccountStats(), ThrottleStats())
    chosen = GatewaySettings(api="openapi", account_rate=0, **settings)
    return OpenApiService(chosen, stats, lambda: clocks.now, lambda: clocks.wall)


def _ask(service: Service, endpoint: str = TRADES) -> Answer:
    answer, _ = service.handle(endpoint, SYMBOLS[endpoint], None, None)
    return answer


def _call(service: OpenApiService, endpoint: str = "short_trades") -> Answer:
    path = PATHS[endpoint].format(market="us")
    call = Call(endpoint, "us", path, "symbol=AAPL.US", (("symbol", "AAPL.US"),), BEARER)
    answer, _ = service.answer(call)
    service.depart()
    return answer


def _statuses(service: Service, n: int, endpoint: str = TRADES) -> list[int]:
    return [_ask(service, endpoint).status for _ in range(n)]


def _throttle(service: Service) -> dict[str, Any]:
    doc = service.stats.as_dict()["throttle"]
    assert isinstance(doc, dict)
    return doc


# --- the shared limit and how an over-limit request is answered -------------------------------


def test_the_shared_limit_counts_every_endpoint_together():
    clocks = Clocks()
    service = _gateway(clocks, shared_rate=3)
    first = [_ask(service, e).status for e in (TRADES, INTEREST, TRADES, INTEREST)]
    clocks.step(0.999)
    still = _ask(service, INTEREST)
    clocks.step(0.001)
    later = _statuses(service, 3) + _statuses(service, 1, INTEREST)
    assert first == [200, 200, 200, 429]
    assert still.status == 429  # the three accepted at t = 0 are still within the second
    assert later == [200, 200, 200, 429]
    throttle = _throttle(service)
    assert throttle["refused"] == {"shared": 3, "schedule": 0, "quota": 0}
    assert throttle["accepted"] == 6 and throttle["accepted_per_second"] == [3, 3]
    assert throttle["max_accepted_per_second"] == 3
    assert (throttle["limit"], throttle["limit_source"]) == (3, "shared")
    outcomes = service.stats.as_dict()["by_outcome"]
    assert outcomes == {TRADES: {"ok": 5}, INTEREST: {"ok": 1, "throttled": 3}}


def test_over_the_limit_429_carries_retry_after_unless_told_not_to():
    with_it = _gateway(Clocks(), shared_rate=1, retry_after=7)
    without = _gateway(Clocks(), shared_rate=1, overload_answer="429_no_retry_after")
    _ask(with_it), _ask(without)
    told, untold = _ask(with_it), _ask(without)
    assert (told.status, told.body, told.headers) == (
        429,
        b"429 Too Many Requests\n",
        (("Retry-After", "7"),),
    )
    assert (untold.status, untold.body, untold.headers) == (429, b"429 Too Many Requests\n", ())


@pytest.mark.parametrize(
    ("endpoint", "envelope"),
    [
        (TRADES, {"code": -5, "message": "internal error, please retry", "data": []}),
        (
            INTEREST,
            {
                "ret_code": -5,
                "ret_msg": "internal error, please retry",
                "error": {"code": "internal_error", "message": "internal error, please retry"},
                "data": None,
            },
        ),
    ],
)
def test_over_the_limit_as_minus_5_is_the_endpoints_envelope(endpoint, envelope):
    service = _gateway(Clocks(), shared_rate=1, overload_answer="-5")
    _ask(service, endpoint)
    refused = _ask(service, endpoint)
    assert (refused.status, refused.headers) == (200, ())
    assert orjson.loads(refused.body) == envelope
    assert service.stats.as_dict()["by_outcome"][endpoint] == {"ok": 1, "throttled": 1}


@pytest.mark.parametrize(
    ("answer", "status", "code", "headers"),
    [
        ("429", 429, 429002, (("Retry-After", "1"),)),
        ("429_no_retry_after", 429, 429002, ()),
        ("-5", 500, 500000, ()),
    ],
)
def test_the_openapi_dialect_answers_over_the_limit_in_its_own_forms(answer, status, code, headers):
    service = _openapi(Clocks(), shared_rate=2, overload_answer=answer)
    accepted = [_call(service, endpoint).status for endpoint in OPENAPI_ENDPOINTS]
    refused = _call(service)
    assert accepted == [200, 200]  # both data sets share the limit
    assert (refused.status, refused.headers) == (status, headers)
    assert orjson.loads(refused.body)["code"] == code
    assert _throttle(service)["refused"]["shared"] == 1


# --- the schedule --------------------------------------------------------------------------


def test_the_schedule_switches_at_its_time_from_the_first_request():
    clocks = Clocks()
    service = _gateway(clocks, rate_schedule=[[0, 4], [20, 2]])
    first = _statuses(service, 5)
    clocks.step(19.5)  # t = 19.5: still 4 a second
    before = _statuses(service, 5)
    clocks.step(0.5)  # t = 20: 2 a second, and the four of t = 19.5 are in this second
    at_the_switch = _statuses(service, 1)
    clocks.step(1.0)
    after = _statuses(service, 3)
    assert first == [200] * 4 + [429]
    assert before == [200] * 4 + [429]
    assert at_the_switch == [429]
    assert after == [200, 200, 429]
    throttle = _throttle(service)
    assert throttle["refused"] == {"shared": 0, "schedule": 4, "quota": 0}
    assert (throttle["limit"], throttle["limit_source"]) == (2, "schedule")
    assert throttle["accepted_per_second"][0] == 4 and throttle["accepted_per_second"][-1] == 2


def test_before_the_first_step_the_shared_rate_holds_and_a_zero_step_lifts_the_limit():
    clocks = Clocks()
    service = _gateway(clocks, shared_rate=1, rate_schedule=[[10, 3], [30, 0]])
    assert _statuses(service, 2) == [200, 429]
    clocks.step(10)
    assert _statuses(service, 4) == [200, 200, 200, 429]
    clocks.step(20)
    assert _statuses(service, 50) == [200] * 50
    assert _throttle(service)["refused"] == {"shared": 1, "schedule": 1, "quota": 0}


# --- counting refused requests -------------------------------------------------------------


@pytest.mark.parametrize(
    ("count_refused", "expected"),
    [
        (False, [[200, 200], [429, 429], [200, 200], [429, 429], [200, 200]]),
        (True, [[200, 200], [429, 429], [429, 429], [429, 429], [429, 429]]),
    ],
)
def test_a_client_at_twice_the_limit_stays_refused_when_refusals_count(count_refused, expected):
    clocks = Clocks()
    service = _gateway(clocks, shared_rate=2, count_refused=count_refused)
    seen = []
    for _ in range(5):  # two requests every half second: 4 a second against 2
        seen.append(_statuses(service, 2))
        clocks.step(0.5)
    assert seen == expected


def test_with_refusals_counted_a_client_that_pauses_a_second_is_served_again():
    clocks = Clocks()
    service = _gateway(clocks, shared_rate=2, count_refused=True)
    assert _statuses(service, 6) == [200, 200] + [429] * 4
    clocks.step(1.0)
    assert _statuses(service, 3) == [200, 200, 429]


# --- the daily quota -----------------------------------------------------------------------


def test_the_quota_refuses_until_the_wall_clocks_utc_midnight():
    clocks = Clocks()
    service = _gateway(clocks, quota=3)
    served = _statuses(service, 3)
    refused = _ask(service)
    clocks.step(MIDNIGHT - 0.5 - clocks.wall)  # 23:59:59.5
    last = _ask(service)
    clocks.step(0.5)  # midnight: a fresh day
    renewed = _statuses(service, 4)
    assert served == [200] * 3
    assert refused.status == 429
    assert refused.headers == (("Retry-After", "14400"),)  # 20:00 to midnight
    assert b"quota" in refused.body
    assert (last.status, last.headers) == (429, (("Retry-After", "1"),))
    assert renewed == [200, 200, 200, 429]
    throttle = _throttle(service)
    assert throttle["refused"] == {"shared": 0, "schedule": 0, "quota": 3}
    assert (throttle["quota"], throttle["quota_used"]) == (3, 3)
    assert throttle["quota_day"] == "2026-05-19"


def test_a_quota_refusal_may_be_long_or_a_403_that_says_quota():
    long = _gateway(Clocks(), quota=1, quota_answer="429_long")
    forbidden = _gateway(Clocks(), quota=1, quota_answer="403")
    _ask(long), _ask(forbidden)
    waited, refused = _ask(long), _ask(forbidden, INTEREST)
    assert (waited.status, waited.headers) == (429, (("Retry-After", "36000"),))
    assert (refused.status, refused.headers, refused.content_type) == (403, (), "application/json")
    assert orjson.loads(refused.body) == {
        "error": "quota_exhausted",
        "message": "daily quota of 1 requests exhausted; it renews at 00:00 UTC",
    }


@pytest.mark.parametrize(
    ("answer", "status", "code", "headers"),
    [
        ("429", 429, 429002, (("Retry-After", "14400"),)),
        ("429_long", 429, 429002, (("Retry-After", "36000"),)),
        ("403", 403, 403900, ()),
    ],
)
def test_the_openapi_dialect_says_quota_in_its_own_envelope(answer, status, code, headers):
    service = _openapi(Clocks(), quota=1, quota_answer=answer)
    assert _call(service).status == 200
    refused = _call(service, "short_positions")
    doc = orjson.loads(refused.body)
    assert (refused.status, refused.headers, doc["code"]) == (status, headers, code)
    assert "quota" in doc["message"]
    assert refused.outcome == "quota_exhausted"


def test_stepping_the_served_day_renews_the_quota():
    service = _gateway(Clocks(), quota=1)
    assert _statuses(service, 2) == [200, 429]
    service.set_today(service.today)  # the same day: still spent
    assert _statuses(service, 1) == [429]
    service.set_today(dt.date(2026, 5, 19))
    assert _statuses(service, 2) == [200, 429]


def test_only_accepted_requests_use_the_quota():
    clocks = Clocks()
    service = _gateway(clocks, shared_rate=1, quota=2)
    assert _statuses(service, 3) == [200, 429, 429]  # the shared limit's refusals
    clocks.step(1.0)
    assert _statuses(service, 1) == [200]
    clocks.step(1.0)
    assert _ask(service).outcome == "quota_exhausted"
    throttle = _throttle(service)
    assert throttle["refused"] == {"shared": 2, "schedule": 0, "quota": 1}
    assert throttle["quota_used"] == 2


def test_unauthorised_requests_reach_neither_the_limit_nor_the_quota():
    clocks = Clocks()
    service = _gateway(clocks, token="t", shared_rate=1, quota=1)
    assert _statuses(service, 3) == [401] * 3
    assert service.handle(TRADES, "AAPL.US", None, "Bearer t")[0].status == 200
    throttle = _throttle(service)
    assert throttle["accepted"] == 1 and throttle["quota_used"] == 1
    assert throttle["refused"] == {"shared": 0, "schedule": 0, "quota": 0}


# --- the stats -----------------------------------------------------------------------------


def test_a_reset_zeroes_the_counters_and_keeps_the_gauges():
    clocks = Clocks()
    service = _gateway(clocks, shared_rate=2, quota=10)
    _statuses(service, 3)
    service.stats.reset()
    assert _throttle(service) == {
        "refused": {"shared": 0, "schedule": 0, "quota": 0},
        "accepted": 0,
        "accepted_per_second": [],
        "max_accepted_per_second": 0,
        "limit": 2,
        "limit_source": "shared",
        "quota": 10,
        "quota_used": 2,
        "quota_day": "2026-05-18",
    }
    clocks.step(2.5)  # the first second counted is the one after the reset
    _statuses(service, 1)
    assert _throttle(service)["accepted_per_second"] == [1]


def test_accepted_per_second_shows_each_whole_second_since_the_first_request():
    clocks = Clocks()
    service = _gateway(clocks, shared_rate=5)
    for n in (5, 0, 2, 7):
        _statuses(service, n)
        clocks.step(1.0)
    throttle = _throttle(service)
    assert throttle["accepted_per_second"] == [5, 0, 2, 5]
    assert throttle["refused"]["shared"] == 2


def test_without_a_throttle_setting_the_stats_keep_their_shape():
    plain = Service(GatewaySettings(), GatewayStats(), lambda: 0.0)
    for _ in range(3):
        plain.handle(TRADES, "AAPL.US", None, None)
    assert "throttle" not in plain.stats.as_dict()
    assert not GatewaySettings().throttled
    assert GatewaySettings(ratelimit_headers="x").throttled
