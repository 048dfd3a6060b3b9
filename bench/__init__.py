"""The harvester's benchmark: ``python -m bench [--quick] [--json] [--case NAME]``.

Ten cases, each reporting two measured quantities and their ratio against a
target: ``utilisation`` and ``politeness`` (one rate-limited sweep),
``overhead`` (CPU per request, unthrottled, of a bare loop doing the same
work, aiohttp fetches and stdlib ``executemany`` upserts of the same rows,
against the harvester's), ``store`` (the store's batched upserts against
stdlib ``executemany``), ``memory`` (peak RSS of a big sweep against a small
one), ``resume`` (requests spent by a sweep killed halfway and resumed),
``cold_start`` (``sweep --simulate`` wall time against the time its rate limit
needs), ``nightly`` (requests and bytes of nightly sweeps against full
ones on the same 10 business days, and the rows they store differently) and
``account`` (a sweep of the vendor's OpenAPI against its account limit of 10
calls a second and 5 in flight: requests/s over 10, and the limits kept) and
``throttle`` (sweeps against an upstream whose true limit, shared by both
endpoints, is half the configured one or drops, a daily quota, and random
``-5``s: wall time over the time the true limit needs, refusals, failed
tasks, the quota's stop and resume). The
simulated gateway and every sweep run in their own processes on loopback;
databases live in temp folders.

Where things are: one module per case family (``throughput``: utilisation,
politeness, overhead; ``storage``: store; ``memory``; ``recovery``: resume;
``startup``: cold_start; ``nightly``; ``account``; ``throttle``), their targets in
``targets``, the run order in ``runner``, the output in ``table``; ``sweeper``
runs a harvester sweep, ``bare`` is the loop ``overhead`` compares it with,
``gateway`` runs the simulated gateway, ``procs`` and ``measure`` any child.
"""

CASES: tuple[str, ...] = (
    "utilisation",
    "politeness",
    "overhead",
    "store",
    "memory",
    "resume",
    "cold_start",
    "nightly",
    "account",
    "throttle",
)
"""Every case, in the order they run and are reported."""
