"""One setting: its declaration as a dataclass field, and the record that checks its values.

``config`` declares every setting with ``setting(...)`` and reads the records off
the dataclasses with ``settings_of``; ``settings_doc`` writes the docs from them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, get_type_hints

from harvester.catalog import Endpoint

Check = Callable[[Any], str | None]


def setting(
    default: Any = MISSING,
    *,
    doc: str,
    bounds: tuple[float, float] | None = None,
    check: Check | None = None,
    shape: str = "",
    shown: str = "",
    per_endpoint: bool = False,
) -> Any:
    """A dataclass field that is a setting.

    ``doc`` is its help, ``bounds`` its inclusive range or ``check`` its rule, ``shape``
    says in the docs what the check accepts and ``shown`` stands in the docs for a
    default that differs per endpoint. A ``per_endpoint`` setting has no default of
    its own: it takes ``Endpoint.<key>`` and, if there is one, ``Endpoint.<key>_range``.
    """
    metadata = {
        "doc": doc,
        "bounds": bounds,
        "check": check,
        "shape": shape,
        "shown": shown,
        "per_endpoint": per_endpoint,
    }
    if default is MISSING:
        return field(metadata=metadata)
    return field(default=default, metadata=metadata)


_USERINFO = re.compile(r"(?<=://)[^/?#]*@")


def _shown(value: Any) -> str:
    """The value for an error message, with any ``user:password@`` in a URL masked."""
    return repr(_USERINFO.sub("***@", value) if isinstance(value, str) else value)


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting of one section, read off its dataclass field (and endpoint, if any)."""

    key: str
    type: type
    default: Any
    doc: str
    bounds: tuple[float, float] | None = None
    check: Check | None = None
    shape: str = ""
    shown: str = ""
    per_endpoint: bool = False
    documented: bool = False  #: its range is the upstream API's (``Endpoint.<key>_range``)

    @property
    def rule(self) -> str:
        """The values accepted, for the docs: ``low..high``, a shape or nothing."""
        return f"{self.bounds[0]}..{self.bounds[1]}" if self.bounds else self.shape

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value``, with the value itself; None if nothing."""
        if self.bounds is not None:
            low, high = self.bounds
            # NaN compares false and infinities fall outside; math.isfinite would overflow
            # on a huge int from the environment.
            if not low <= value <= high:
                if self.documented:  # worded as the upstream API documents its range
                    return f"{value} is outside {low}..{high}"
                return f"must be between {low} and {high} (got {_shown(value)})"
        problem = self.check(value) if self.check else None
        return f"{problem} (got {_shown(value)})" if problem else None


def settings_of(cls: type, endpoint: Endpoint | None = None) -> tuple[Setting, ...]:
    """The settings declared by ``cls``'s fields; ``endpoint`` fills the per-endpoint ones."""
    types = get_type_hints(cls)
    found = []
    for spec in fields(cls):
        if "doc" not in spec.metadata:
            continue  # EndpointConfig.name: the section's name, not a setting
        meta = dict(spec.metadata)
        default, bounds = spec.default, meta.pop("bounds")
        if meta["per_endpoint"]:
            default = getattr(endpoint, spec.name)
            if default is None:
                continue  # e.g. no gateway ``path`` for a data set only the OpenAPI serves
            documented = getattr(endpoint, f"{spec.name}_range", None)
            meta["documented"] = documented is not None
            bounds = documented or bounds
        found.append(Setting(spec.name, types[spec.name], default, bounds=bounds, **meta))
    return tuple(found)
