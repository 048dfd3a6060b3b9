"""A loopback server that records every request and answers each path with fixed records.

Run as a process of its own (the vendor's SDK holds the GIL while it waits for an
answer, so a server in the test's own process would never answer it)::

    python capture_server.py LOG ANSWERS

``ANSWERS`` is a JSON file ``{path: {"counter_id": ..., "data": [records]}}``; a GET of
a path in it gets ``{"code": 0, "message": "success", "data": <that object>}``, any
other request a 404 with a vendor-style code. Each request is appended to ``LOG`` as
one JSON line (method, raw path, raw query string, headers as sent, in order) before
it is answered, so a client holding its answer has been logged. The first line on
stdout is ``capture server listening on http://127.0.0.1:PORT``; it serves until killed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from aiohttp import web


def capturing(log: Path, answers: dict[str, object]) -> web.Application:
    """The application: log the request, then answer it by its path."""

    async def capture(request: web.Request) -> web.Response:
        line = {
            "method": request.method,
            "path": request.rel_url.raw_path,
            "query": request.rel_url.raw_query_string,
            "headers": [
                [name.decode("latin-1"), value.decode("latin-1")]
                for name, value in request.raw_headers
            ],
        }
        with log.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
        data = answers.get(request.rel_url.raw_path)
        if request.method != "GET" or data is None:
            return web.json_response({"code": 404001, "message": "not found"}, status=404)
        return web.json_response({"code": 0, "message": "success", "data": data})

    application = web.Application()
    application.router.add_route("*", "/{tail:.*}", capture)
    return application


async def serve(log: Path, answers: dict[str, object]) -> None:
    """Serve on 127.0.0.1 at a port the kernel picks, and say where."""
    runner = web.AppRunner(capturing(log, answers), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(f"capture server listening on http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text("utf-8"))))
