"""What every table, view and column of the database holds, with its unit.

An endpoint's data columns (type, unit, meaning, upstream fields) are declared
once, in ``harvester.catalog``, where the adapters read them too; this module
adds what only the database has: the row's head and provenance, the ``runs``
and ``tasks`` tables, the revisions tables and the views. The column
tables and view list (``database_doc()``, in docs/database.md) and the Datasette
metadata (``harvester datasette-metadata``) are both made from these declarations,
which the test suite holds to a freshly migrated file: a migration that adds a column
without describing it fails.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from harvester import catalog
from harvester.catalog import ROW_HEAD, TIME, Column, Endpoint


@dataclass(frozen=True)
class Relation:
    """A table or view: one line on what a row is, its columns, and for a view an example."""

    name: str
    description: str
    columns: tuple[Column, ...]
    example: tuple[str, str] | None = None  #: (what it answers, SQL) for a view
    market: str | None = None  #: the one market a per-market view holds

    def column(self, name: str) -> Column:
        """The column called ``name``; KeyError if there is none."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name!r}")


_SYMBOL = Column(
    "symbol",
    "TEXT",
    "",
    "the security in canonical form `CODE.MARKET`: "
    "`AAPL.US`, `BRK.B.US`, `700.HK` (HK code without leading zeros)",
)
_MARKET = Column("market", "TEXT", "", "`US` or `HK`")
_RUN_ID = Column("run_id", "TEXT", "", "the run that last wrote the row (`runs.run_id`)")
_FETCHED_AT = Column("fetched_at", "TEXT", TIME, "when the row was last fetched")
_FIRST_SEEN_AT = Column(
    "first_seen_at",
    "TEXT",
    TIME,
    "when the harvester first stored the row; never moved "
    "by a later fetch (rows stored before schema version 5 got their `fetched_at` then)",
)
_PROVENANCE = ("run_id", "fetched_at", "first_seen_at")


def _one_of(names: Iterable[str]) -> str:
    """``a``, ``b`` or ``c``, as code."""
    *rest, last = (f"`{name}`" for name in names)
    return f"{', '.join(rest)} or {last}" if rest else last


def _endpoint_table(endpoint: Endpoint, description: str) -> Relation:
    """An endpoint's table: the row's head, the catalog's columns, then who wrote it when."""
    head = {"symbol": _SYMBOL, "market": _MARKET, "trade_date": endpoint.date}
    return Relation(
        endpoint.name,
        description,
        (
            *(head[name] for name in ROW_HEAD),
            *endpoint.columns,
            _RUN_ID,
            _FETCHED_AT,
            _FIRST_SEEN_AT,
        ),
    )


SHORT_TRADES = _endpoint_table(
    catalog.SHORT_TRADES,
    "Daily short selling: one row per symbol and trading day (primary key `symbol, "
    "trade_date`; fetching a day again updates its row). US rows hold volumes in shares "
    "(FINRA/NASDAQ files, refreshed about every two weeks upstream), HK rows turnover in "
    "HKD (HKEX, every trading day).",
)
SHORT_INTEREST = _endpoint_table(
    catalog.SHORT_INTEREST,
    "Short interest reports: one row per symbol and report date (primary key `symbol, "
    "trade_date`, upserted like `short_trades`). US: the twice-monthly short interest "
    "reports; HK: outstanding short positions, about weekly.",
)
SHORT_POSITIONS = _endpoint_table(
    catalog.SHORT_POSITIONS,
    "Short positions as the vendor's OpenAPI serves them (API.md section 5; schema version "
    "6): one row per symbol and data date (primary key `symbol, trade_date`, upserted like "
    "`short_trades`). US rows hold shares short and days to cover, HK rows the positions' "
    "amount in HKD. Not `short_interest`'s figures, though some names match: its own fields, "
    "units and dates. Only the OpenAPI dialect serves them; a file swept through the quote "
    "gateway alone has this table empty.",
)
#: The data tables, one per catalog endpoint, in the catalog's order.
DATA_TABLES: tuple[Relation, ...] = (SHORT_TRADES, SHORT_INTEREST, SHORT_POSITIONS)

_ROW_KINDS = (
    ("rows_new", "whose symbol and trading day no stored row had"),
    (
        "rows_revised",
        "that changed a stored row's data (its old values kept in the table's `_revisions`)",
    ),
    (
        "rows_unchanged",
        "that rewrote a stored row with the data it held (a value that did not parse comes "
        "as NULL and changes nothing)",
    ),
)


def _rows_of_kind(name: str, meaning: str) -> Column:
    """One of the run's counts of rows by what they did (schema version 8)."""
    return Column(
        name,
        "INTEGER",
        "rows",
        f"of `rows_written`, those {meaning}; since schema version 8, NULL for a run that "
        "wrote rows before it (they were not told apart)",
    )


RUNS = Relation(
    "runs",
    "One row per sweep run: when it ran, how it ended, and what it counted.",
    (
        Column(
            "run_id",
            "TEXT",
            "",
            "the run's id, sortable: its start time and a random "
            "suffix, e.g. `20261121T093000Z-3fa9c1`",
        ),
        Column("started_at", "TEXT", TIME, "when the run started"),
        Column(
            "finished_at",
            "TEXT",
            TIME,
            "when it last ended (completed or interrupted); NULL while `running`",
        ),
        Column(
            "status",
            "TEXT",
            "",
            "`running`, `completed` (every task final, maybe some "
            "`failed`) or `interrupted` (left for `--resume`)",
        ),
        Column("symbols_file", "TEXT", "", "the symbols file the run's universe was read from"),
        Column("symbols", "INTEGER", "symbols", "distinct valid symbols in the run's universe"),
        Column(
            "duplicates", "INTEGER", "lines", "lines naming a symbol already listed, in any style"
        ),
        Column("malformed_lines", "INTEGER", "lines", "lines that are not a symbol, skipped"),
        Column(
            "requests",
            "INTEGER",
            "requests",
            "HTTP requests sent, retries included, "
            "added by each sweep that closed the run's books (one killed outright adds none)",
        ),
        Column(
            "rows_written",
            "INTEGER",
            "rows",
            "data rows received and upserted, whatever they did to the file: "
            "`rows_new + rows_revised + rows_unchanged` from schema version 8 on",
        ),
        Column(
            "warnings",
            "INTEGER",
            "values or records",
            "values that did not parse and records dropped (see `tasks.warnings`)",
        ),
        Column("resumes", "INTEGER", "times", "how often `--resume` took the run up again"),
        Column(
            "stop_reason",
            "TEXT",
            "",
            "why an `interrupted` run stopped (a signal, an "
            "outage, refused credentials, too old to resume); NULL otherwise; since "
            "schema version 2",
        ),
        Column(
            "kind",
            "TEXT",
            "",
            "`sweep`, or `backfill` (`harvester backfill`: each task paged back to a day); "
            "`--resume` takes up only a run of its own kind; since schema version 6",
        ),
        Column(
            "refused",
            "INTEGER",
            "requests",
            "of `requests`, those the upstream refused for the pace (HTTP 429); the pace "
            "was cut on them; since schema version 7",
        ),
        *(_rows_of_kind(name, meaning) for name, meaning in _ROW_KINDS),
        Column(
            "served_day",
            "TEXT",
            "YYYY-MM-DD",
            "the simulated gateway's served day, for a sweep run with `--simulate`; NULL "
            "against any other upstream (and for runs before schema version 8)",
        ),
    ),
)

REQUESTS_BY_DAY = Relation(
    "requests_by_day",
    "Requests sent to the upstream per UTC day of sending (primary key `day`), for the "
    "daily quota; since schema version 8, which filled it from the runs before it, each "
    "run's `requests` on the UTC day it started.",
    (
        Column("day", "TEXT", "YYYY-MM-DD, UTC", "the UTC day the requests were sent"),
        Column(
            "requests",
            "INTEGER",
            "requests",
            "requests sent to the upstream that day, by every run together",
        ),
    ),
)

TASKS = Relation(
    "tasks",
    "One row per run, symbol and endpoint (primary key `run_id, symbol, endpoint`): how "
    "fetching it ended.",
    (
        Column("run_id", "TEXT", "", "the run (`runs.run_id`)"),
        _SYMBOL,
        Column(
            "endpoint",
            "TEXT",
            "",
            "the data set fetched, whose table took the rows: "
            + _one_of(endpoint.name for endpoint in catalog.ENDPOINTS),
        ),
        Column(
            "status",
            "TEXT",
            "",
            "`pending`, `ok`, `no_data`, `unsupported`, `invalid`, "
            "`failed`; or, asked nothing by a nightly sweep (schema version 4), `unchanged` "
            "(its pair's probes found nothing new) or `skipped` (a dead symbol until its "
            "recheck date)",
        ),
        Column("attempts", "INTEGER", "requests", "requests sent for this task, over all resumes"),
        Column("rows", "INTEGER", "rows", "rows its last answer held"),
        Column(
            "warnings",
            "INTEGER",
            "values or records",
            "values of its answer that did not parse (stored as NULL) and records dropped",
        ),
        Column(
            "error_code",
            "TEXT",
            "",
            "why it did not end `ok`: the upstream code (`-7`, "
            "`-10`) or a reason (`http_502`, `timeout`, `connection_error`, "
            "`malformed_body`, `body_too_large`); NULL when `ok`",
        ),
        Column("error_message", "TEXT", "", "the upstream message or our own, token redacted"),
        Column("updated_at", "TEXT", TIME, "when the task's row last changed"),
    ),
)


def _data(table: Relation) -> tuple[Column, ...]:
    return tuple(c for c in table.columns if c.name not in (*ROW_HEAD, *_PROVENANCE))


def _revisions(table: Relation) -> Relation:
    """A table's revisions (schema version 5): every set of values a fetch replaced."""
    return Relation(
        f"{table.name}_revisions",
        f"Values of `{table.name}` that a later fetch replaced (a restatement upstream), one "
        "row per replaced set, kept by a trigger in the same transaction; a fetch that "
        "brings the same values adds nothing.",
        (
            *table.columns[: len(ROW_HEAD)],
            *_data(table),
            Column("run_id", "TEXT", "", "the run that had last fetched these values"),
            Column("fetched_at", "TEXT", TIME, "when these values were last fetched"),
            Column("superseded_at", "TEXT", TIME, "when a fetch replaced them"),
            Column("superseded_by", "TEXT", "", "the run whose fetch replaced them"),
        ),
    )


TABLES: tuple[Relation, ...] = (
    *DATA_TABLES,
    RUNS,
    TASKS,
    REQUESTS_BY_DAY,
    *map(_revisions, DATA_TABLES),
)


def _side_by_side() -> dict[str, dict[str, str]]:
    """Each endpoint's data columns and the names they take beside the other endpoints'.

    An endpoint that shares a column name with one before it in the catalog (short_positions'
    ``short_ratio``, ``close``, ``short_shares``...: other fields, other meanings) has all
    its columns named with its own prefix, ``positions_short_ratio``; the others keep theirs.
    """
    taken: set[str] = set()
    names = {}
    for endpoint in catalog.ENDPOINTS:
        own = [column.name for column in endpoint.columns]
        prefix = f"{endpoint.name.removeprefix('short_')}_" if taken & set(own) else ""
        names[endpoint.name] = {name: prefix + name for name in own}
        taken.update(own)
    return names


#: Where several endpoints' data columns sit side by side (``snapshot``, ``show --endpoint
#: all`` as CSV or JSON): ``{endpoint: {column: the name it takes there}}``.
SIDE_BY_SIDE = _side_by_side()


def _latest(table: Relation, example: tuple[str, str]) -> Relation:
    return Relation(
        f"latest_{table.name}",
        f"The newest row of each symbol in `{table.name}` (its latest `trade_date`), every column.",
        table.columns,
        example,
    )


def _market(table: Relation, market: str, example: tuple[str, str]) -> Relation:
    """A per-market view: that market's rows, only the columns it fills, no ``market``."""
    columns = tuple(
        c for c in table.columns if c.name not in ("market", "first_seen_at") and c.fills(market)
    )
    return Relation(
        f"{market.lower()}_{table.name}",
        f"The {market} rows of `{table.name}`, with only the columns {market} "
        "fills, so integer columns load as integers in pandas.",
        columns,
        example,
        market,
    )


def _snapshot() -> Relation:
    trades, interest = SHORT_TRADES.column, SHORT_INTEREST.column
    data_trades = (
        "short_ratio",
        "nasdaq_short_volume",
        "nyse_short_volume",
        "total_volume",
        "short_turnover",
        "short_balance",
        "total_turnover",
        "close",
    )
    data_interest = (
        "short_shares",
        "short_percent",
        "avg_daily_short_volume",
        "avg_daily_share_volume",
        "days_to_cover",
        "avg_cost",
        "close_price",
        "last_close_price",
    )
    positions = SHORT_POSITIONS.column
    columns = (
        _SYMBOL,
        _MARKET,
        replace(
            trades("trade_date"),
            name="short_trades_date",
            meaning="the trading day of "
            "this row's `short_trades` figures (the symbol's newest); NULL if it has none",
        ),
        *map(trades, data_trades),
        replace(
            interest("trade_date"),
            name="short_interest_date",
            meaning="the report date "
            "of this row's `short_interest` figures (the symbol's newest); NULL if none",
        ),
        *map(interest, data_interest),
        replace(
            positions("trade_date"),
            name="short_positions_date",
            meaning="the date of this row's `short_positions` figures (the symbol's newest); "
            "NULL if none; since schema version 6",
        ),
        *(
            replace(column, name=SIDE_BY_SIDE[SHORT_POSITIONS.name][column.name])
            for column in catalog.SHORT_POSITIONS.columns
        ),
    )
    return Relation(
        "snapshot",
        "One row per symbol: its newest daily short figures beside "
        "its newest short interest report and (schema version 6) its newest short "
        "positions, each with its own date; the short positions' columns are named "
        "`positions_...` (`positions_short_ratio` is not `short_ratio`).",
        columns,
        (
            "Every symbol's latest short interest beside its latest short ratio",
            "SELECT symbol, short_interest_date, short_shares, short_percent, "
            "days_to_cover,\n       short_trades_date, short_ratio\n"
            "FROM snapshot\nORDER BY symbol;",
        ),
    )


_RUN_PROBLEMS = Relation(
    "run_problems",
    "The tasks of the latest run that did not end `ok` or `unchanged`, with why.",
    tuple(
        TASKS.column(name)
        for name in (
            "run_id",
            "symbol",
            "endpoint",
            "status",
            "attempts",
            "error_code",
            "error_message",
            "updated_at",
        )
    ),
    (
        "Which symbols failed or had no data in the latest run, and why",
        "SELECT symbol, endpoint, status, attempts, error_code, error_message\n"
        "FROM run_problems\nORDER BY status, symbol, endpoint;",
    ),
)


def _versions(table: Relation, example: tuple[str, str]) -> Relation:
    """A table's versions view (schema version 5): each set of values and when it held."""
    return Relation(
        f"{table.name}_versions",
        f"Every set of values each row of `{table.name}` has had, current or replaced, "
        "with when it held: the values known at a moment T are the rows with "
        "`valid_from <= T` and `valid_to` NULL or after T.",
        (
            *table.columns[: len(ROW_HEAD)],
            *_data(table),
            _FIRST_SEEN_AT,
            Column("valid_from", "TEXT", TIME, "when the harvester first stored these values"),
            Column("valid_to", "TEXT", TIME, "when a fetch replaced them; NULL while current"),
        ),
        example,
    )


VIEWS: tuple[Relation, ...] = (
    _latest(
        SHORT_TRADES,
        (
            "The 10 US symbols with the highest short ratio on their latest day",
            "SELECT symbol, trade_date, short_ratio, total_volume\nFROM latest_short_trades\n"
            "WHERE market = 'US'\nORDER BY short_ratio DESC, symbol\nLIMIT 10;",
        ),
    ),
    _latest(
        SHORT_INTEREST,
        (
            "The HK stocks with the largest short position (percent of float) in their latest "
            "report",
            "SELECT symbol, trade_date, short_shares, short_percent\nFROM latest_short_interest\n"
            "WHERE market = 'HK'\nORDER BY short_percent DESC\nLIMIT 10;",
        ),
    ),
    _latest(
        SHORT_POSITIONS,
        (
            "The 10 HK stocks with the largest short positions (HKD) in their latest figures",
            "SELECT symbol, trade_date, short_amount, short_ratio\nFROM latest_short_positions\n"
            "WHERE market = 'HK'\nORDER BY short_amount DESC, symbol\nLIMIT 10;",
        ),
    ),
    _snapshot(),
    _RUN_PROBLEMS,
    _market(
        SHORT_TRADES,
        "US",
        (
            "One US symbol's last 20 trading days",
            "SELECT * FROM us_short_trades WHERE symbol = 'AAPL.US' "
            "ORDER BY trade_date DESC LIMIT 20;",
        ),
    ),
    _market(
        SHORT_TRADES,
        "HK",
        (
            "HK short turnover by day, all symbols together, in HKD",
            "SELECT trade_date, SUM(short_turnover) AS short_turnover, "
            "SUM(total_turnover) AS total_turnover\nFROM hk_short_trades\n"
            "GROUP BY trade_date\nORDER BY trade_date DESC\nLIMIT 5;",
        ),
    ),
    _market(
        SHORT_INTEREST,
        "US",
        (
            "AAPL.US's last six short interest reports (about three months)",
            "SELECT symbol, trade_date, short_shares, short_percent, days_to_cover\n"
            "FROM us_short_interest\nWHERE symbol = 'AAPL.US'\nORDER BY trade_date DESC\n"
            "LIMIT 6;",
        ),
    ),
    _market(
        SHORT_INTEREST,
        "HK",
        (
            "700.HK's short position report by report",
            "SELECT trade_date, short_shares, short_percent, avg_cost\nFROM hk_short_interest\n"
            "WHERE symbol = '700.HK'\nORDER BY trade_date;",
        ),
    ),
    _market(
        SHORT_POSITIONS,
        "US",
        (
            "AAPL.US's short positions, newest first, with days to cover",
            "SELECT trade_date, short_shares, days_to_cover, short_ratio\n"
            "FROM us_short_positions\nWHERE symbol = 'AAPL.US'\nORDER BY trade_date DESC\n"
            "LIMIT 6;",
        ),
    ),
    _market(
        SHORT_POSITIONS,
        "HK",
        (
            "HK short positions by date, all symbols together, in HKD",
            "SELECT trade_date, SUM(short_amount) AS short_amount, COUNT(*) AS symbols\n"
            "FROM hk_short_positions\nGROUP BY trade_date\nORDER BY trade_date DESC\nLIMIT 5;",
        ),
    ),
    _versions(
        SHORT_TRADES,
        (
            "700.HK's last 5 days as they were known when the first run finished (a backtest's "
            "view: no value stored or restated later shows)",
            "SELECT trade_date, short_ratio, close, valid_from\nFROM short_trades_versions\n"
            "WHERE symbol = '700.HK'\n"
            "  AND valid_from <= (SELECT MIN(finished_at) FROM runs)\n"
            "  AND (valid_to IS NULL OR valid_to > (SELECT MIN(finished_at) FROM runs))\n"
            "ORDER BY trade_date DESC\nLIMIT 5;",
        ),
    ),
    _versions(
        SHORT_INTEREST,
        (
            "Every value 700.HK's short position has had, current and replaced (restated)",
            "SELECT trade_date, short_shares, valid_from, valid_to\n"
            "FROM short_interest_versions\nWHERE symbol = '700.HK'\n"
            "ORDER BY trade_date DESC, valid_from\nLIMIT 6;",
        ),
    ),
    _versions(
        SHORT_POSITIONS,
        (
            "Every value 700.HK's short positions have had, current and replaced (restated)",
            "SELECT trade_date, short_amount, short_ratio, valid_from, valid_to\n"
            "FROM short_positions_versions\nWHERE symbol = '700.HK'\n"
            "ORDER BY trade_date DESC, valid_from\nLIMIT 6;",
        ),
    ),
)

RELATIONS: dict[str, Relation] = {r.name: r for r in (*TABLES, *VIEWS)}


# Descriptions ------------------------------------------------------------------------------


def plain(text: str) -> str:
    """Markdown's code marks dropped, for readers that show text as it is (Datasette)."""
    return text.replace("`", "")


def describe(relation: str, column: str) -> str:
    """One column's description as plain text: meaning, unit, and its upstream fields."""
    owner = RELATIONS[relation]
    spec = owner.column(column)
    parts = [spec.meaning[0].upper() + spec.meaning[1:] + "."]
    if spec.unit:
        parts.append(f"Unit: {spec.unit}.")
    markets = (owner.market,) if owner.market else ("US", "HK")
    sources = [f"{market} {spec.source(market)}" for market in markets if spec.source(market)]
    if sources:
        empty = [market for market in markets if not spec.fills(market)]
        parts.append(
            "From upstream: "
            + ", ".join(sources)
            + "".join(f"; NULL for {market}" for market in empty)
            + "."
        )
    return plain(" ".join(parts))
