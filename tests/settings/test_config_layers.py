"""A ``--config`` file is read over the shipped ``config/harvester.toml``, key by key.

The shipped file, when the working directory has one, comes first; the named file adds
to it and need only hold what it changes. The ``[simulate]`` table is not layered: it is
the named file's (or none), else the shipped file's. ``HARVESTER_SIMULATE_*`` variables are
passed through to the simulated gateway, which checks them. Every test works in its own
folder (``defaults`` changes into it) and passes an explicit ``environ``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harvester.errors import ConfigError
from harvester.settings.config import DEFAULT_CONFIG, Settings, config_files, load_settings

WriteToml = Callable[..., Path]

SHIPPED = """
[sweep]
workers = 7
db = "shipped.sqlite"

[endpoints.short_trades]
rate = 4

[simulate]
seed = 1
error_rate = 0.02
"""


@pytest.fixture
def shipped(write_toml: WriteToml, defaults: Settings, tmp_path: Path) -> Path:
    """``config/harvester.toml`` in the working directory (``tmp_path``), as SHIPPED."""
    (tmp_path / "config").mkdir()
    return write_toml(tmp_path / "config", SHIPPED)


@pytest.mark.timeout(10)
def test_a_config_file_adds_to_the_shipped_one_key_by_key(
    write_toml: WriteToml, shipped: Path, tmp_path: Path
) -> None:
    mine = write_toml(
        tmp_path, "[sweep]\nworkers = 3\n[endpoints.short_trades]\nburst = 2\n", "m.toml"
    )
    settings = load_settings(mine, environ={})
    assert settings.sweep.workers == 3  # the named file wins
    assert settings.sweep.db == "shipped.sqlite"  # what it leaves out, the shipped file says
    trades = settings.endpoint("short_trades")
    assert (trades.rate, trades.burst) == (4.0, 2)
    assert settings.endpoint("short_interest").rate == 10.0  # neither sets it: the default
    assert settings.files == (str(DEFAULT_CONFIG), str(mine))
    assert settings.source == str(mine)


@pytest.mark.timeout(10)
def test_the_environment_and_flags_still_go_over_both_files(
    write_toml: WriteToml, shipped: Path, tmp_path: Path
) -> None:
    mine = write_toml(tmp_path, "[sweep]\nworkers = 3\n", "m.toml")
    settings = load_settings(
        mine,
        environ={"HARVESTER_SWEEP_DB": "env.sqlite", "HARVESTER_SWEEP_WORKERS": "9"},
        overrides={"sweep": {"workers": 2}},
    )
    assert (settings.sweep.db, settings.sweep.workers) == ("env.sqlite", 2)


@pytest.mark.timeout(10)
def test_the_simulate_table_is_the_named_files_alone(
    write_toml: WriteToml, shipped: Path, tmp_path: Path
) -> None:
    # The shipped table is a demonstration: a scenario of one's own does not inherit its faults.
    mine = write_toml(tmp_path, '[simulate]\ntoday = "2026-05-19"\n', "m.toml")
    assert dict(load_settings(mine, environ={}).simulate) == {"today": "2026-05-19"}
    bare = write_toml(tmp_path, "[sweep]\nworkers = 3\n", "bare.toml")
    assert dict(load_settings(bare, environ={}).simulate) == {}
    # With no file named, the shipped table is the scenario.
    assert dict(load_settings(None, environ={}).simulate) == {"seed": 1, "error_rate": 0.02}


@pytest.mark.timeout(10)
def test_a_bad_key_names_the_file_that_holds_it(
    write_toml: WriteToml, shipped: Path, tmp_path: Path
) -> None:
    write_toml(tmp_path / "config", "[sweep]\nworkers = 0\n")
    mine = write_toml(tmp_path, "[sweep]\ndb = 'x.sqlite'\n", "m.toml")
    with pytest.raises(ConfigError) as info:
        load_settings(mine, environ={})
    assert str(info.value).startswith(f"{DEFAULT_CONFIG}: [sweep] workers: ")
    # The named file's own value for the key is the one judged, and it is fine.
    fixed = write_toml(tmp_path, "[sweep]\nworkers = 4\n", "fixed.toml")
    assert load_settings(fixed, environ={}).sweep.workers == 4
    wrong = write_toml(tmp_path, "[sweep]\nwokers = 4\n", "wrong.toml")
    with pytest.raises(ConfigError, match=r"^.*wrong\.toml: unknown setting \[sweep\] wokers$"):
        load_settings(wrong, environ={})


@pytest.mark.timeout(10)
def test_naming_the_shipped_file_reads_it_once(shipped: Path) -> None:
    assert config_files(DEFAULT_CONFIG) == (DEFAULT_CONFIG,)
    assert config_files(shipped.resolve()) == (shipped.resolve(),)
    assert config_files(None) == (DEFAULT_CONFIG,)
    settings = load_settings(shipped.resolve(), environ={})
    assert settings.files == (str(shipped.resolve()),) and settings.sweep.workers == 7


@pytest.mark.timeout(10)
def test_without_a_shipped_file_the_named_one_is_all(
    write_toml: WriteToml, defaults: Settings, tmp_path: Path
) -> None:
    mine = write_toml(tmp_path, "[sweep]\nworkers = 3\n", "m.toml")
    assert config_files(mine) == (mine,)
    assert config_files(None) == ()
    settings = load_settings(mine, environ={})
    assert (settings.files, settings.sweep.db) == ((str(mine),), "harvest.sqlite")


@pytest.mark.timeout(10)
def test_simulate_variables_are_passed_through_for_the_gateway_to_check(
    defaults: Settings,
) -> None:
    environ = {
        "HARVESTER_SIMULATE_TODAY": "2026-05-19",
        "HARVESTER_SIMULATE_NO_SUCH_KEY": "x",  # the gateway refuses it when it starts
        "HARVESTER_SWEEP_WORKERS": "3",
        "PATH": "/bin",
    }
    settings = load_settings(None, environ=environ)
    assert settings.simulate_variables == {
        "HARVESTER_SIMULATE_TODAY": "2026-05-19",
        "HARVESTER_SIMULATE_NO_SUCH_KEY": "x",
    }
    assert dict(settings.simulate) == {}  # the table holds the file's keys only
