"""The one exception tree of the harvester.

::

    HarvesterError
    ├── ConfigError            bad settings or symbols file (exit 2)
    ├── UsageError             a command-line mistake (exit 2)
    ├── StoreError             the database cannot be opened or written (exit 2)
    ├── GatewayUnavailable     an outage outlasted ``outage_max``; the run stops (exit 75)
    ├── WrongAddress           an endpoint's first answers were all one HTTP 3xx/4xx (exit 2)
    ├── InternalError          a bug: an unexpected exception in one of a sweep's tasks (exit 70)
    └── FetchError             one request's failure; carries its code and message
        ├── CredentialsRefused HTTP 401/403: every request would fail, so the run stops (exit 2)
        ├── QuotaSpent         the upstream says the account's quota is spent: the run stops,
        │                      resumable (exit 76)
        ├── TransientError     worth another attempt after a backoff
        │   ├── TransportError     time-out, connection reset, HTTP 5xx; ``unreachable``
        │   │                      when no connection could be opened at all
        │   ├── MalformedResponse  a body that is not the JSON envelope
        │   ├── RateLimited        HTTP 429 (or "not now"); knows its Retry-After
        │   └── UpstreamError      ``-5`` internal_error (and unknown codes, if so configured)
        └── PermanentError     retrying cannot help; carries the task status it leads to
            ├── InvalidRequest     HTTP 400, ``-3``, ``-7``       -> invalid
            ├── Unsupported        ``-8``                         -> unsupported
            ├── NoData             ``-10``                        -> no_data
            └── Rejected           redirects, other 4xx, unknown codes -> failed

Foreign exceptions (aiohttp, aiosqlite, orjson) are translated where those
libraries are called and chained with ``from exc``. Whether a TransportError
belonged to a gateway outage is not the error's to say: the outage guard's
``Attempt`` records it.
"""

from __future__ import annotations

from harvester.model import TaskStatus


class HarvesterError(Exception):
    """Base of every error the harvester raises on purpose."""


class ConfigError(HarvesterError):
    """A setting or the symbols file is wrong; the message names it."""


class UsageError(HarvesterError):
    """A command-line mistake."""


class StoreError(HarvesterError):
    """The database file cannot be used."""


class GatewayUnavailable(HarvesterError):
    """The gateway stayed down for longer than ``outage_max``."""


class WrongAddress(HarvesterError):
    """Every first answer of an endpoint was the same HTTP 3xx/4xx: the URL, not the symbols."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class InternalError(HarvesterError):
    """An unexpected exception in one of a sweep's tasks: a bug; the message names the task."""

    @classmethod
    def from_bug(cls, exc: BaseException, where: str = "") -> InternalError:
        """The one line for ``exc``, a bug (in ``where``, a task), chained to it."""
        error = cls(
            f"{where}{type(exc).__name__}: {exc}; this is a bug in the harvester, "
            "please report it with the output of -v"
        )
        error.__cause__ = exc
        return error


class FetchError(HarvesterError):
    """One request failed; ``code`` is the upstream code or a short reason."""

    status: TaskStatus = TaskStatus.FAILED

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class CredentialsRefused(FetchError):
    """HTTP 401 or 403: not a task's failure but the whole run's; the sweep stops."""


class QuotaSpent(FetchError):
    """The upstream says the account's quota is spent (a long ``Retry-After``, a spent
    ``RateLimit`` quota, a 403 naming the quota, or nothing but refusals for a while)."""


class TransientError(FetchError):
    """Worth another attempt after a backoff; ``failed`` once attempts run out."""


class TransportError(TransientError):
    """Time-out, connection failure or HTTP 5xx.

    ``unreachable`` is set when no connection could be opened (refused, no route,
    connect time-out): that is the gateway's state, whatever symbol was asked for.
    """

    def __init__(self, message: str, *, code: str | None = None, unreachable: bool = False) -> None:
        super().__init__(message, code=code)
        self.unreachable = unreachable


class MalformedResponse(TransientError):
    """A body that is not the endpoint's JSON envelope (HTML page, truncated JSON)."""


class RateLimited(TransientError):
    """HTTP 429, or another "not now" (the OpenAPI's repeated ``x-timestamp``);
    ``retry_after`` is the delay asked for, if any."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, code: str = "http_429"
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class UpstreamError(TransientError):
    """The gateway reported a backend error (``-5``) or an unknown code set to be retried."""


class PermanentError(FetchError):
    """Retrying cannot change the answer."""


class InvalidRequest(PermanentError):
    """The gateway rejected the symbol or the request (HTTP 400, ``-3``, ``-7``)."""

    status = TaskStatus.INVALID


class Unsupported(PermanentError):
    """The market or category is not served (``-8``)."""

    status = TaskStatus.UNSUPPORTED


class NoData(PermanentError):
    """The security has no such data (``-10``)."""

    status = TaskStatus.NO_DATA


class Rejected(PermanentError):
    """A permanent failure with no better status: redirect, other 4xx, unknown code."""


def first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first exception in a (possibly nested) exception group."""
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf


def one_error(group: BaseExceptionGroup[BaseException]) -> HarvesterError:
    """The one named error that stands for a failed task group: its first failure.

    A task group lists its tasks' errors in the order they failed, and the first
    failure is what cancelled the others. An exception of ours is returned as
    it is; any other is a bug, returned as an InternalError chained to it.
    """
    leaf = first_leaf(group)
    return leaf if isinstance(leaf, HarvesterError) else InternalError.from_bug(leaf, "unexpected ")
