"""The upsert statement of one endpoint's table, built from its columns and narrowed per market."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from harvester.catalog import Endpoint
from harvester.model import SUPPORTED_MARKETS

Picker = Callable[[tuple[Any, ...]], tuple[Any, ...]]  # picks a row's stored values


@dataclass(frozen=True, slots=True)
class TableSpec:
    """Where one endpoint's rows go: its table and its data columns, in row order.

    ``markets`` names, per market, the data columns its records can fill; the
    others are always NULL for that market's symbols, so they are left out of
    its upserts rather than bound as NULL row after row.
    """

    endpoint: str
    table: str
    columns: tuple[str, ...]
    markets: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def upsert_sql(self, columns: Sequence[str] | None = None) -> str:
        """The upsert for a row ``(symbol, market, trade_date, *columns, run_id, fetched_at)``.

        A new row's ``first_seen_at`` is its ``fetched_at``; an update never moves it.

        ``columns`` defaults to all the data columns.
        """
        data = self.columns if columns is None else tuple(columns)
        names = ("symbol", "market", "trade_date", *data, "run_id", "fetched_at")
        # A value that did not parse arrives as NULL: it never erases a stored value.
        updates = ", ".join(
            f"{name} = COALESCE(excluded.{name}, {name})"
            if name in data
            else f"{name} = excluded.{name}"
            for name in names
            if name not in ("symbol", "trade_date")
        )
        # first_seen_at takes fetched_at's value (the same numbered parameter) on insert,
        # and no update moves it.
        values = [f"?{i}" for i in range(1, len(names) + 1)]
        # Table and column names come from the adapters' code, never from input.
        return (
            f"INSERT INTO {self.table} ({', '.join(names)}, first_seen_at) "
            f"VALUES ({', '.join(values)}, {values[-1]}) "
            f"ON CONFLICT (symbol, trade_date) DO UPDATE SET {updates}"
        )

    def narrowing(self, market: str) -> tuple[str, Picker]:
        """The upsert for ``market``'s rows, and what picks their values out of a full row."""
        kept = dict(self.markets).get(market, self.columns)
        positions = [0, 1, 2, *(3 + self.columns.index(name) for name in kept)]
        return self.upsert_sql(kept), itemgetter(*positions)


def table_spec(endpoint: Endpoint) -> TableSpec:
    """Where ``endpoint``'s rows go, from its catalog entry: its table, what each market fills."""
    return TableSpec(
        endpoint.name,
        endpoint.name,
        tuple(column.name for column in endpoint.columns),
        tuple(
            (market, tuple(column.name for column in endpoint.columns if column.fills(market)))
            for market in SUPPORTED_MARKETS
        ),
    )
