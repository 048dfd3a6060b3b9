"""Nightly sweeps from outside: the CLI with --simulate, real files, several nights in a row.

Each test writes its settings and symbols in tmp_path, runs ``harvester sweep
--simulate`` as a subprocess night after night (the served day set in the
config), and reads the file back.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from harvester.sweep.incremental import reread_slot

Run = Callable[..., subprocess.CompletedProcess[str]]
UNIVERSE = "AAPL.US\nMSFT.US\nNVDA.US\nTSLA.US\n700.HK\n5.HK\n9988.HK\nBADX.US\n"
NO_REREADS = 20  # the first nights of reread_nights = 1000 that reread no symbol of UNIVERSE


def test_the_universe_is_in_no_reread_slice_of_the_first_nights() -> None:
    assert all(reread_slot(s, 1000) >= NO_REREADS for s in UNIVERSE.split())


@pytest.fixture
def night(harvester: Run, tmp_path: Path, fast_toml: str) -> Callable[..., dict[str, Any]]:
    """``night(today=None, *flags, **sweep)``: one sweep of UNIVERSE; its --json summary."""
    symbols = tmp_path / "symbols.txt"
    symbols.write_text(UNIVERSE, encoding="utf-8")

    def sweep(today: str | None = None, *flags: str, **settings: object) -> dict[str, Any]:
        # No symbol of UNIVERSE is in the reread slice of the first nights of 1000 (see
        # NO_REREADS): only the tests about rereads set reread_nights.
        settings.setdefault("reread_nights", 1000)
        lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
        text = fast_toml.replace("[sweep]\n", "[sweep]\n" + "".join(f"{x}\n" for x in lines))
        text += 'invalid_symbol = ["BADX.US"]\nschedules = true\nrestate_rate = 0.0\n'
        if today is not None:
            text += f'today = "{today}"\n'
        config = tmp_path / "c.toml"
        config.write_text(text, encoding="utf-8")
        result = harvester(
            "sweep",
            "--simulate",
            "--config",
            str(config),
            "--symbols",
            str(symbols),
            "--db",
            str(tmp_path / "h.sqlite"),
            "--json",
            "-q",
            *flags,
        )
        assert result.returncode in (0, 76), result.stderr
        summary: dict[str, Any] = json.loads(result.stdout)
        summary["exit"] = result.returncode
        summary["stderr"] = result.stderr
        return summary

    return sweep


def tasks(db: Path) -> dict[tuple[str, str], tuple[Any, ...]]:
    """The latest run's tasks: (symbol, endpoint) -> (status, attempts, rows, message)."""
    with closing(sqlite3.connect(db)) as conn:
        return {
            (s, e): tuple(rest)
            for s, e, *rest in conn.execute(
                "SELECT symbol, endpoint, status, attempts, rows, error_message FROM tasks "
                "WHERE run_id = (SELECT run_id FROM runs ORDER BY started_at DESC, rowid DESC "
                "LIMIT 1)"
            )
        }


def test_a_night_with_nothing_published_asks_only_the_probes(
    night: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    first = night("2026-05-18", probe_size=1)
    assert first["requests"] == 16  # everything, the first night
    # The same day again: nothing was published since, and the probes say so.
    second = night("2026-05-18", probe_size=1)
    done = tasks(tmp_path / "h.sqlite")
    unchanged = {key for key, value in done.items() if value[0] == "unchanged"}
    # Per market and endpoint one probe; the other symbols with rows are unchanged.
    assert len(unchanged) == 2 * (3 + 2)
    assert second["requests"] == 4 + 2  # the probes and BADX.US (invalid, no rows yet)
    [message, *_] = [
        done[key][3] for key in sorted(unchanged) if key[1] == "short_trades" and ".US" in key[0]
    ]
    # On 2026-05-18 US short_trades serves up to 2026-05-01 (the batch of 05-15 is out 05-19).
    assert message.startswith("no news: probes ") and "newest stored 2026-05-01" in message


def test_a_night_after_a_publication_asks_for_the_new_days_and_the_overlap(
    night: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    night("2026-05-18", probe_size=1)
    night("2026-05-19", probe_size=1)  # HK short_trades: 05-19; US short_trades: up to 05-15
    done = tasks(tmp_path / "h.sqlite")
    # The HK probe asks for everything; its two followers for one new day and five of overlap.
    hk = sorted(done[s, "short_trades"][:3] for s in ("700.HK", "5.HK", "9988.HK"))
    assert hk == [("ok", 1, 1 + 5), ("ok", 1, 1 + 5), ("ok", 1, 20)]
    with closing(sqlite3.connect(tmp_path / "h.sqlite")) as conn:
        newest = dict(
            conn.execute("SELECT symbol, MAX(trade_date) FROM short_trades GROUP BY symbol")
        )
    assert {newest[s] for s in ("700.HK", "5.HK", "9988.HK")} == {"2026-05-19"}
    assert {newest[s] for s in ("AAPL.US", "MSFT.US")} == {"2026-05-15"}


@pytest.mark.slow  # ~2.5 s of subprocesses; the rule has fast unit tests
def test_a_symbol_refused_three_nights_running_is_skipped_until_its_recheck(
    night: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    for _ in range(3):
        night("2026-05-18")
        assert tasks(tmp_path / "h.sqlite")[("BADX.US", "short_trades")][0] == "invalid"
    fourth = night("2026-05-18")
    done = tasks(tmp_path / "h.sqlite")
    status, attempts, _, message = done[("BADX.US", "short_trades")]
    assert (status, attempts) == ("skipped", 0)
    assert "invalid in each of its last 3 answers; asked again from " in message
    assert fourth["tasks"]["short_trades"].get("skipped") == 1
    # --full asks everything again, the dead included.
    night("2026-05-18", "--full")
    assert tasks(tmp_path / "h.sqlite")[("BADX.US", "short_trades")][:2] == ("invalid", 1)


def test_the_daily_quota_stops_a_sweep_before_the_request_that_would_exceed_it(
    night: Callable[..., dict[str, Any]], harvester: Run, tmp_path: Path
) -> None:
    stopped = night("2026-05-18", workers=1)  # no quota: 16 requests
    assert stopped["exit"] == 0
    (tmp_path / "h.sqlite").unlink()
    text = (tmp_path / "c.toml").read_text(encoding="utf-8")
    (tmp_path / "c.toml").write_text(
        text.replace(
            "[endpoints.short_trades]", "[gateway]\ndaily_quota = 5\n\n[endpoints.short_trades]", 1
        ),
        encoding="utf-8",
    )
    result = harvester(
        "sweep",
        "--simulate",
        "--config",
        str(tmp_path / "c.toml"),
        "--symbols",
        str(tmp_path / "symbols.txt"),
        "--db",
        str(tmp_path / "h.sqlite"),
        "--json",
        "-q",
    )
    assert result.returncode == 76, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "interrupted" and summary["requests"] == 5
    assert "daily_quota" in result.stderr.splitlines()[-1]
    # The same day, the quota is used up: a resumed sweep sends nothing and stops again.
    again = harvester(
        "sweep",
        "--simulate",
        "--config",
        str(tmp_path / "c.toml"),
        "--symbols",
        str(tmp_path / "symbols.txt"),
        "--db",
        str(tmp_path / "h.sqlite"),
        "--json",
        "-q",
        "--resume",
    )
    assert again.returncode == 76 and json.loads(again.stdout)["requests"] == 0


def _data(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Each data table's symbol, market, date and data columns, in key order."""
    from harvester.sweep.run import table_specs

    with closing(sqlite3.connect(db)) as conn:
        return {
            spec.table: conn.execute(
                f"SELECT symbol, market, trade_date, {', '.join(spec.columns)} FROM {spec.table} "
                "ORDER BY symbol, trade_date"
            ).fetchall()
            for spec in table_specs().values()
        }


@pytest.mark.slow
def test_a_nightly_sweep_killed_mid_run_resumes_to_what_a_full_sweep_stores(
    harvester: Run,
    start_sweep: Callable[..., subprocess.Popen[str]],
    ok_tasks: Any,
    tmp_path: Path,
    fast_toml: str,
) -> None:
    symbols = tmp_path / "symbols.txt"
    symbols.write_text("".join(f"N{i}.US\n{100 + i}.HK\n" for i in range(20)), encoding="utf-8")
    simulate = "schedules = true\nrestate_rate = 0.3\nseed = 3\n"

    def config(name: str, day: str, rate: float) -> Path:
        text = fast_toml.replace("rate = 500.0", f"rate = {rate}").replace(
            "[sweep]\n", "[sweep]\nprobe_size = 2\n"
        )
        path = tmp_path / name
        path.write_text(text + simulate + f'today = "{day}"\n', encoding="utf-8")
        return path

    def sweep(db: Path, conf: Path, *flags: str) -> None:
        result = harvester(
            "sweep",
            "--simulate",
            "--config",
            str(conf),
            "--symbols",
            str(symbols),
            "--db",
            str(db),
            "-q",
            *flags,
        )
        assert result.returncode == 0, result.stderr

    nightly, full = tmp_path / "n.sqlite", tmp_path / "f.sqlite"
    for db in (nightly, full):
        sweep(db, config("d.toml", "2026-05-18", 500.0), "--full")
    first = ok_tasks(nightly)
    # 2026-05-19: HK short_trades and a US short_trades batch publish, with restatements.
    slow = config("slow.toml", "2026-05-19", 15.0)
    process = start_sweep(
        [
            "sweep",
            "--simulate",
            "--config",
            str(slow),
            "--symbols",
            str(symbols),
            "--db",
            str(nightly),
            "-q",
        ],
        db=nightly,
        ok=first + 8,
    )
    process.kill()  # SIGKILL, by its pid: a crash in the middle of the night
    process.wait(timeout=10)
    sweep(nightly, config("fast.toml", "2026-05-19", 500.0), "--resume")
    sweep(full, config("fast.toml", "2026-05-19", 500.0), "--full")
    assert _data(nightly) == _data(full)
    with closing(sqlite3.connect(nightly)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        statuses = dict(
            conn.execute(
                "SELECT status, COUNT(*) FROM tasks WHERE run_id = (SELECT run_id FROM runs "
                "ORDER BY started_at DESC LIMIT 1) GROUP BY status"
            )
        )
    assert statuses.get("unchanged", 0) > 0 and "pending" not in statuses


def test_an_incremental_answer_that_misses_the_stored_day_is_fetched_again_in_full(
    night: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    night("2026-05-18", probe_size=1)
    # overlap 0: the one new day is asked for, and its answer does not reach back to the
    # stored 2026-05-18, so nothing proves there is no hole: the task asks again for all.
    night("2026-05-19", probe_size=1, overlap=0)
    hk = ("700.HK", "5.HK", "9988.HK")
    done = tasks(tmp_path / "h.sqlite")
    # The probe asked for everything at once; each follower twice.
    assert sorted(done[s, "short_trades"][:3] for s in hk) == [("ok", 1, 20), *[("ok", 2, 20)] * 2]
    night("2026-05-20", probe_size=1, overlap=1)  # with one record of overlap, no second ask
    done = tasks(tmp_path / "h.sqlite")
    assert sorted(done[s, "short_trades"][:3] for s in hk) == [*[("ok", 1, 2)] * 2, ("ok", 1, 20)]
