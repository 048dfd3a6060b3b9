"""The throttle's settings: off by default, read from a ``[simulate]`` TOML table and from the
flags of ``harvester simulate``, and a bad value refused in one line naming the field.
"""

from __future__ import annotations

import argparse
import re
import tomllib

import pytest

from harvester.simulate import GatewaySettings, add_arguments, settings_from_args
from harvester.simulate.settings import THROTTLE_SETTINGS

TABLE = """
[simulate]
shared_rate = 5
rate_schedule = [[0, 20], [20.5, 5]]
overload_answer = -5
retry_after = 3
count_refused = true
quota = 800
quota_answer = 403
ratelimit_headers = "ietf"
"""


def test_every_throttle_setting_is_off_by_default():
    settings = GatewaySettings()
    assert {name: getattr(settings, name) for name in THROTTLE_SETTINGS} == {
        "shared_rate": 0,
        "rate_schedule": (),
        "overload_answer": "429",
        "retry_after": 1,
        "count_refused": False,
        "quota": 0,
        "quota_answer": "429",
        "ratelimit_headers": "none",
    }
    assert not settings.throttled


def test_a_toml_table_sets_them():
    settings = GatewaySettings.from_mapping(tomllib.loads(TABLE)["simulate"])
    assert settings.shared_rate == 5
    assert settings.rate_schedule == ((0.0, 20), (20.5, 5))
    assert (settings.overload_answer, settings.quota_answer) == ("-5", "403")
    assert (settings.retry_after, settings.count_refused, settings.quota) == (3, True, 800)
    assert settings.ratelimit_headers == "ietf"
    assert settings.throttled


@pytest.mark.parametrize(
    ("mapping", "named"),
    [
        ({"shared_rate": -1}, "shared_rate"),
        ({"shared_rate": 2.5}, "shared_rate"),
        ({"shared_rate": True}, "shared_rate"),
        ({"rate_schedule": "0:20,20:5"}, "rate_schedule"),
        ({"rate_schedule": [[0, 20, 1]]}, "rate_schedule"),
        ({"rate_schedule": [[-1, 20]]}, "rate_schedule time"),
        ({"rate_schedule": [[0, 20], [0, 5]]}, "rate_schedule time"),
        ({"rate_schedule": [[0, 2.5]]}, "rate_schedule rate"),
        ({"overload_answer": "503"}, "overload_answer"),
        ({"overload_answer": -3}, "overload_answer"),
        ({"retry_after": 0.5}, "retry_after"),
        ({"retry_after": -1}, "retry_after"),
        ({"count_refused": 1}, "count_refused"),
        ({"quota": "800"}, "quota"),
        ({"quota_answer": "429_no_retry_after"}, "quota_answer"),
        ({"ratelimit_headers": "draft"}, "ratelimit_headers"),
        ({"ratelimit_headers": True}, "ratelimit_headers"),
    ],
)
def test_a_bad_value_names_the_field_in_one_line(mapping, named):
    with pytest.raises(ValueError, match=re.escape(f"simulate: {named} must be")) as caught:
        GatewaySettings.from_mapping(mapping)
    assert "\n" not in str(caught.value)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser


def test_the_flags_set_them_over_a_base():
    base = GatewaySettings(quota=10, retry_after=2)
    flags = "--shared-rate 5 --rate-schedule 0:20,20:5 --overload-answer -5 --count-refused "
    flags += "--quota 800 --quota-answer 403 --ratelimit-headers x"
    settings = settings_from_args(_parser().parse_args(flags.split()), base)
    assert settings == GatewaySettings(
        shared_rate=5,
        rate_schedule=((0.0, 20), (20.0, 5)),
        overload_answer="-5",
        count_refused=True,
        quota=800,
        quota_answer="403",
        ratelimit_headers="x",
        retry_after=2,
    )
    assert settings_from_args(_parser().parse_args([]), base) == base
    unset = _parser().parse_args(["--no-count-refused", "--retry-after", "9"])
    assert settings_from_args(unset, GatewaySettings(count_refused=True)) == GatewaySettings(
        retry_after=9
    )


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--rate-schedule", "0:20,x"], "rate_schedule must be"),
        (["--rate-schedule", "5:1,2:3"], "rate_schedule time must be"),
        (["--rate-schedule", "0:-1"], "rate_schedule rate must be"),
        (["--shared-rate", "-2"], "shared_rate must be"),
        (["--quota", "x"], "quota"),
        (["--overload-answer", "503"], "invalid choice"),
        (["--ratelimit-headers", "draft"], "invalid choice"),
    ],
)
def test_a_bad_flag_is_a_usage_error_naming_it(flags, named, capsys):
    with pytest.raises(SystemExit) as ended:
        _parser().parse_args(flags)
    assert ended.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert named in err


def test_the_help_documents_every_flag():
    text = _parser().format_help()
    for flag in (
        "--shared-rate",
        "--rate-schedule",
        "--overload-answer",
        "--retry-after",
        "--count-refused",
        "--quota",
        "--quota-answer",
        "--ratelimit-headers",
    ):
        assert flag in text
