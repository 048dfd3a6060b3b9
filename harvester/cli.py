"""Sweep short-selling data into a SQLite file, check the runs, and read the data back.

The command line of every subcommand; only this module runs a loop. Every subcommand
takes the shared ``--config`` and ``--db`` of ``common_flags`` and sets ``run``, the
function that runs it and returns its exit code: a member of ``harvester.exits.Exit``,
which declares every code and what it means to each command (``-h`` shows them). Every
command exits ``Exit.USAGE`` (2) on a usage, settings or database error, with one line on
stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import math
import os
import signal
import sys
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from harvester import __version__
from harvester.arguments import day, port_or_any, positive_count
from harvester.catalog import OPENAPI
from harvester.errors import ConfigError, HarvesterError, InternalError, UsageError
from harvester.exits import SWEEP, Exit, help_text
from harvester.model import RunStatus, RunSummary, StopKind
from harvester.read import changes, chart, check, explore, export, query
from harvester.read.status import newest_line, read_newest_days, read_status
from harvester.settings.config import DEFAULT_CONFIG, Settings, command_settings, load_settings
from harvester.simulate import GatewaySettings, add_arguments, settings_from_args
from harvester.simulate.cli import served_day_argument
from harvester.simulate.settings import DEFAULT_TODAY, from_environ
from harvester.store.lock import check_file
from harvester.sweep import plan
from harvester.sweep.counts import SweepCounts
from harvester.sweep.report import (
    Progress,
    ProgressDisplay,
    status_text,
    summary_dict,
    summary_text,
)
from harvester.sweep.run import run_sweep
from harvester.upstream.auth import Auth, Signed, credentials

log = logging.getLogger("harvester")

# The signals that stop a sweep gracefully; each has its exit code (Exit.for_signal).
STOP_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM)
# A second signal this soon after the first is the same request: GNU timeout, and a
# terminal closing, signal the process and then its whole group.
SAME_REQUEST = 0.5


class _Parser(argparse.ArgumentParser):
    """argparse that reports mistakes as one line and exit code 2, like every other error."""

    def error(self, message: str) -> Any:
        self.exit(Exit.USAGE, f"harvester: error: {message}\n")


def common_flags() -> argparse.ArgumentParser:
    """The flags most subcommands share, each with its one help text (for ``parents=``)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        help=f"TOML settings file, read over {DEFAULT_CONFIG} (if present) key by key",
    )
    common.add_argument("--db", help="database file ([sweep] db)")
    return common


def _run_flags(parser: argparse.ArgumentParser, verb: str) -> None:
    """The flags of a command that runs a sweep (``sweep``, ``backfill``)."""
    parser.add_argument("--symbols", help="symbols file ([sweep] symbols)")
    parser.add_argument("--base-url", help="upstream URL ([gateway] base_url)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help=f"continue the latest unfinished {verb} run, or start one",
    )
    parser.add_argument(
        "--simulate",
        action="store_true",
        help=f"start the simulated gateway in-process and {verb} against it",
    )
    parser.add_argument(
        "--date",
        type=served_day_argument,
        metavar="YYYY-MM-DD",
        help="with --simulate: the day the simulated gateway serves, the data as published "
        f"by then ([simulate] today, HARVESTER_SIMULATE_TODAY; default {DEFAULT_TODAY})",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand; each sets ``run`` (args -> exit code)."""
    parser = _Parser(prog="harvester", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--version", action="version", version=f"harvester {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    common = common_flags()

    sweep = commands.add_parser(
        "sweep",
        parents=[common],
        help="fetch every symbol into the database",
        epilog="exit codes:\n" + help_text(SWEEP),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _run_flags(sweep, "sweep")
    sweep.add_argument(
        "--full",
        action="store_true",
        default=None,
        help="fetch every task with the configured count: no probes, no "
        "incremental counts, no dead-symbol memory ([sweep] full)",
    )
    sweep.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help="a malformed symbols line is an error (exit 2)",
    )
    sweep.set_defaults(run=_run_sweep)

    backfill = commands.add_parser(
        "backfill",
        parents=[common],
        help="page each symbol's history back to a date (the OpenAPI dialect)",
        description="Page each symbol's history back to --since through the OpenAPI's "
        "last_timestamp cut-off, committing page by page; resumable like a sweep. The "
        "gateway dialect has no cut-off: its history stops at [endpoints.NAME] count.",
        epilog="exit codes: as for sweep\n" + help_text(SWEEP),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    backfill.add_argument(
        "--since", type=day, required=True, help="the oldest day wanted, YYYY-MM-DD"
    )
    _run_flags(backfill, "backfill")
    backfill.set_defaults(run=_run_sweep)

    status = commands.add_parser(
        "status",
        parents=[common],
        help="recent runs and their task counts",
        description="Recent runs (newest first) with their task counts, requests and rows, "
        "and the newest stored day of each market and data set. Read-only: it never blocks "
        "a sweep.",
    )
    status.add_argument("--limit", type=positive_count, default=5, help="runs to show (default 5)")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(run=_status)

    simulate = commands.add_parser("simulate", help="serve the simulated gateway on loopback")
    # Not the shared --config: the gateway reads only the file's [simulate] table, and no
    # default file unless named.
    simulate.add_argument("--config", type=Path, help="TOML settings file ([simulate] table)")
    simulate.add_argument("--port", type=port_or_any, default=8787, help="port (0 = any free port)")
    add_arguments(simulate)
    simulate.set_defaults(run=_run_simulate)
    for module in (query, export, changes, check, explore, plan, chart):
        module.add_parsers(commands, common)
    return parser


def gateway_settings(settings: Settings) -> GatewaySettings:
    """The simulated gateway's settings: the ``[simulate]`` table over the defaults, and
    the ``HARVESTER_SIMULATE_*`` variables over the table.

    Unless they set ``rate_limit``, the gateway enforces each endpoint's
    own ``rate + burst`` per second, and the account's ``rate`` and ``concurrency``
    over them all, so ``--simulate`` proves the sweep polite. It speaks the dialect
    of ``[gateway] api`` unless the table says otherwise.
    """
    table = dict(settings.simulate)
    try:
        table |= from_environ(settings.simulate_variables)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    table.setdefault("api", settings.gateway.api)
    table.setdefault("account_rate", math.ceil(settings.gateway.rate))
    table.setdefault("account_concurrency", settings.gateway.concurrency)
    table.setdefault(
        "rate_limit",
        {
            endpoint.name: math.ceil(endpoint.rate + max(endpoint.burst, 1))
            for endpoint in settings.endpoints
        },
    )
    try:
        return GatewaySettings.from_mapping(table)
    except ValueError as exc:
        raise UsageError(f"{settings.source}: {exc}") from exc


def simulated_auth(simulated: GatewaySettings) -> Auth:
    """What a sweep of the in-process simulated OpenAPI signs with: its demo credentials."""
    return Signed(
        simulated.app_key,
        simulated.app_secret,
        simulated.access_token,
        hint="the simulated gateway's demo credentials were refused",
    )


def _exit_code(summary: RunSummary, caught: signal.Signals | None) -> Exit:
    if summary.stop_kind in (StopKind.CREDENTIALS, StopKind.ADDRESS):
        return Exit.USAGE
    if summary.stop_kind is StopKind.OUTAGE:
        return Exit.UNAVAILABLE
    if summary.stop_kind is StopKind.QUOTA:
        return Exit.QUOTA
    if summary.stop_kind is StopKind.SIGNAL or summary.status is RunStatus.INTERRUPTED:
        return Exit.for_signal(caught or signal.SIGINT)
    return Exit.FAILED if summary.failed else Exit.OK


def _install_signals(caught: list[signal.Signals], stop: asyncio.Event) -> None:
    """First SIGINT/SIGTERM/SIGHUP: ask the sweep to stop gracefully. Another: exit at once.

    A signal within ``SAME_REQUEST`` seconds of the first is the same request.
    Exiting at once is safe: every commit is atomic (WAL), and the run left
    ``running`` is picked up by ``--resume``.
    """
    loop = asyncio.get_running_loop()
    first: list[float] = []

    def on_signal(signum: signal.Signals) -> None:
        if caught:
            if loop.time() - first[0] < SAME_REQUEST:
                log.debug("%s right after %s: the same stop request", signum.name, caught[0].name)
                return
            sys.stderr.write(f"harvester: {signum.name} again: stopping at once\n")
            os._exit(Exit.for_signal(caught[0]))
        first.append(loop.time())
        caught.append(signum)
        log.warning(
            "%s received: finishing what is in flight (send it again to stop at once)", signum.name
        )
        stop.set()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop for ``[sweep] event_loop``: uvloop's if chosen or installed, else None."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ConfigError(
                "[sweep] event_loop: uvloop is not installed (pip install 'harvester[fast]')"
            ) from None
        return None
    return uvloop.new_event_loop


def _run_sweep(args: argparse.Namespace) -> int:
    settings = command_settings(args)
    check_file(Path(settings.sweep.db))  # a folder or a hard-linked file: before anything starts
    # Modules and settings live as long as the process: keep them out of the collector's
    # full passes, so that one does not hold the loop (and the requests due) for ~15 ms.
    gc.freeze()
    with asyncio.Runner(loop_factory=loop_factory(settings.sweep.event_loop)) as runner:
        log.debug("event loop: %s", type(runner.get_loop()).__module__)
        return runner.run(_sweep(args, settings))


async def _sweep(args: argparse.Namespace, settings: Settings) -> int:
    if args.simulate and args.base_url:
        raise UsageError("--simulate and --base-url exclude each other")
    if args.date and not args.simulate:
        raise UsageError("--date sets the simulated gateway's day: it needs --simulate")
    since = date.fromisoformat(args.since) if getattr(args, "since", None) else None
    if since is not None and settings.gateway.api != OPENAPI:
        raise UsageError(
            f"backfill needs a cut-off to page back, and the {settings.gateway.api} dialect has "
            f'none: its history stops at [endpoints.NAME] count; set [gateway] api = "{OPENAPI}"'
        )
    # The simulated OpenAPI takes only its own demo credentials, whatever the environment holds.
    demo = args.simulate and settings.gateway.api == OPENAPI
    auth = None if demo else credentials(settings.dialect, settings.gateway.token_env, os.environ)
    caught: list[signal.Signals] = []
    stop = asyncio.Event()
    _install_signals(caught, stop)
    simulated = None
    async with AsyncExitStack() as stack:
        if args.simulate:
            from harvester.simulate.server import Gateway

            simulated = gateway_settings(settings)
            if args.date:
                simulated = replace(simulated, today=args.date)
            gateway = await stack.enter_async_context(Gateway(simulated))
            settings = replace(settings, gateway=replace(settings.gateway, base_url=gateway.url))
            auth = simulated_auth(simulated) if demo else auth
        interval = settings.sweep.log_interval

        async def show(counts: SweepCounts) -> None:
            await ProgressDisplay(Progress(counts), interval=interval).run()

        summary = await run_sweep(
            settings,
            resume=args.resume,
            auth=auth,
            stop=stop,
            show=None if args.quiet else show,
            since=since,
            served_day=simulated.today if simulated is not None else None,
        )
    if args.json:
        sys.stdout.write(orjson.dumps(summary_dict(summary)).decode() + "\n")
    else:
        sys.stdout.write(summary_text(summary) + "\n")
    if summary.stop_kind in (
        StopKind.CREDENTIALS,
        StopKind.OUTAGE,
        StopKind.ADDRESS,
        StopKind.QUOTA,
    ):
        sys.stderr.write(f"harvester: error: {summary.stop_reason}\n")
    return _exit_code(summary, caught[0] if caught else None)


def _status(args: argparse.Namespace) -> int:
    settings = command_settings(args)
    path = Path(settings.sweep.db)
    runs = read_status(path, limit=args.limit)
    if args.json:
        # A list of runs, as before; the newest days are check --json's "freshness".
        sys.stdout.write(orjson.dumps(runs, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        newest = newest_line(read_newest_days(path)) if runs else ""
        sys.stdout.write("\n".join(filter(None, (status_text(runs), newest))) + "\n")
    return Exit.OK


def _run_simulate(args: argparse.Namespace) -> int:
    return asyncio.run(_simulate(args))


async def _simulate(args: argparse.Namespace) -> int:
    if args.config is not None:
        base = gateway_settings(load_settings(args.config))
    else:  # the gateway's defaults, and the HARVESTER_SIMULATE_* variables over them
        try:
            base = GatewaySettings.from_mapping(from_environ(os.environ))
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    try:
        settings = settings_from_args(args, base)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc

    def ready(url: str) -> None:
        sys.stdout.write(f"simulated gateway listening on {url}\n")
        sys.stdout.flush()

    from harvester.simulate.server import serve

    with contextlib.suppress(asyncio.CancelledError):
        await serve(settings, port=args.port, ready=ready)
    return Exit.OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s harvester %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    if getattr(args, "verbose", False):
        # Only our own debug lines: aiosqlite's would echo every statement and its values.
        log.setLevel(logging.DEBUG)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except InternalError as exc:
        sys.stderr.write(f"harvester: error: {exc}\n")
        return Exit.INTERNAL
    except HarvesterError as exc:
        sys.stderr.write(f"harvester: error: {exc}\n")
        return Exit.USAGE
    except KeyboardInterrupt:
        sys.stderr.write("harvester: stopped at once\n")
        return Exit.SIGINT
