"""The simulated gateway in its own process on loopback, and its ``/_stats`` counters.

Started as ``python -m harvester simulate --port 0 FLAGS``; the URL comes from
the line it prints once it listens. Stats are read and reset over HTTP with
urllib, so the bench process itself needs no event loop for them.
"""

from __future__ import annotations

import json
import logging
import queue
import subprocess
import threading
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from bench.procs import BenchError, child_env, harvester_argv, tail

log = logging.getLogger(__name__)

READY = "simulated gateway listening on "
START_TIMEOUT = 20.0  # seconds for the gateway to print its URL
STOP_TIMEOUT = 5.0  # seconds it gets to end after SIGTERM before SIGKILL
HTTP_TIMEOUT = 10.0  # seconds for one /_stats call


@dataclass(frozen=True, slots=True)
class Stats:
    """What the gateway counted since its last reset."""

    total: int
    by_endpoint: dict[str, int]
    max_per_second: dict[str, int]
    served_429: int
    span: float  #: seconds from the first request received to the last
    response_bytes: int  #: body bytes of every answer sent

    @property
    def rate(self) -> float:
        """Requests per second as the gateway saw them, first to last."""
        return self.total / self.span if self.span > 0 else 0.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Stats:
        """Read the ``GET /_stats`` document."""
        return cls(
            total=int(data["total"]),
            by_endpoint={k: int(v) for k, v in data["by_endpoint"].items()},
            max_per_second={k: int(v) for k, v in data["max_per_second"].items()},
            served_429=int(data["served_429"]),
            span=float(data["span"]),
            response_bytes=int(data["response_bytes"]),
        )


class GatewayProcess:
    """``with GatewayProcess(flags, folder) as gw: gw.url, gw.stats(), gw.reset()``."""

    def __init__(self, flags: Sequence[str], folder: Path) -> None:
        self.flags = list(flags)
        self._folder = folder
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._drainer: threading.Thread | None = None
        self.url = ""

    def __repr__(self) -> str:
        pid = self._proc.pid if self._proc else None
        return f"<GatewayProcess pid={pid} url={self.url or '-'} flags={self.flags}>"

    def __enter__(self) -> GatewayProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def _log(self) -> Path:
        return self._folder / "gateway.err"

    def start(self) -> None:
        """Start the process and wait (bounded) for the line naming its URL."""
        argv = harvester_argv("simulate", "--port", "0", *self.flags)
        with self._log.open("w") as err:
            self._proc = subprocess.Popen(
                argv,
                cwd=self._folder,
                env=child_env(),
                text=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        assert self._proc.stdout is not None
        # A thread drains stdout, so the wait has a timeout and the pipe never fills.
        self._drainer = threading.Thread(target=self._drain, args=(self._proc.stdout,), daemon=True)
        self._drainer.start()
        try:
            line = self._lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            line = None
        if line is None or not line.startswith(READY):
            self.close()
            raise BenchError(f"the gateway did not start: {tail(self._log.read_text())}")
        self.url = line.removeprefix(READY).strip()
        log.debug("gateway %s at %s", self.flags, self.url)

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def close(self) -> None:
        """SIGTERM our gateway, then SIGKILL if it lingers; harmless when already closed."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT)
        # The process is gone, so its pipe is at its end: let the drain finish, then close it.
        drainer, self._drainer = self._drainer, None
        if drainer is not None:
            drainer.join(STOP_TIMEOUT)
        if proc.stdout is not None and (drainer is None or not drainer.is_alive()):
            proc.stdout.close()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One request to the gateway's own paths (``/_stats``, ``/_sim/today``); its JSON."""
        payload = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=payload, method=method)
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as answer:
                data: dict[str, Any] = json.loads(answer.read())
        except OSError as exc:
            raise BenchError(f"gateway {method} {path}: {exc}") from exc
        return data

    def stats(self) -> Stats:
        """``GET /_stats``."""
        return Stats.from_json(self.call("GET", "/_stats"))

    def reset(self) -> None:
        """``POST /_stats/reset``."""
        self.call("POST", "/_stats/reset")
