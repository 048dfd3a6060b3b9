"""The gateway's endpoints as plain facts: name, path, ``count``, and the columns of their tables.

These facts sit below every reader. ``config`` takes the ``[endpoints.NAME]``
defaults and the ``count`` check from here; each adapter in
``harvester/upstream/endpoints/`` names its entry and derives its columns and
the upstream fields that fill them from it; ``store/columns.py`` builds the
tables' descriptions (docs/database.md, Datasette) from the same columns. They cannot live
in the adapters' package (``config`` would import it back: a cycle) nor in the
store's (the adapters must not import the store). Adding an endpoint is one
entry here, one adapter module and one migration; the test suite holds the four
together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

DATE = "date, `YYYY-MM-DD`"
TIME = "ISO 8601 UTC time, e.g. `2026-05-20T02:00:11.000Z`"
SHARES = "shares"
PRICE = "price, in the currency the stock trades in (upstream does not name it)"

#: The head of every data row and of every data table, before the endpoint's own columns:
#: an adapter's rows are ``(symbol, market, trade_date, *Endpoint.columns)``.
ROW_HEAD = ("symbol", "market", "trade_date")

#: The upstream dialects (``[gateway] api``): the quote gateway of API.md sections 1-4, and
#: the vendor's own OpenAPI of section 5 (signed requests, paths per market, unix seconds).
GATEWAY, OPENAPI = "gateway", "openapi"
APIS = (GATEWAY, OPENAPI)


@dataclass(frozen=True, slots=True)
class Dialect:
    """What a dialect brings by default: its root URL and the account's limits.

    ``rate`` and ``concurrency`` are the account's documented limits, over every
    endpoint together (0: none documented); ``env_prefixes`` name the variables its
    official SDK reads (``<PREFIX>HTTP_URL``, ``<PREFIX>APP_KEY`` ...), newest first.
    """

    name: str
    url: str
    rate: float = 0.0
    concurrency: int = 0
    env_prefixes: tuple[str, ...] = ()


DIALECTS = {
    GATEWAY: Dialect(GATEWAY, "http://127.0.0.1:8787"),
    # The vendor's "Rate Limit" page: 10 calls a second and 5 at once per account, all
    # quote endpoints together; the SDK's default host.
    OPENAPI: Dialect(
        OPENAPI, "https://openapi.longbridge.com", 10.0, 5, ("LONGBRIDGE_", "LONGPORT_")
    ),
}


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its SQL type, unit, meaning, and the upstream field each market fills it from.

    ``us`` and ``hk`` name the field of that market's records the value comes
    from; ``None`` where that market leaves the column NULL; ``""`` for a column
    that does not come from an upstream field (the run's own bookkeeping).
    """

    name: str
    type: str  #: the SQL type the schema declares: ``TEXT``, ``INTEGER`` or ``REAL``
    unit: str
    meaning: str
    us: str | None = ""
    hk: str | None = ""

    def source(self, market: str) -> str | None:
        """The upstream field ``market``'s (``US`` or ``HK``) value comes from; None: NULL."""
        return self.us if market == "US" else self.hk

    def fills(self, market: str) -> bool:
        """Whether rows of ``market`` can hold a value here."""
        return self.source(market) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """One data set: name (its table's too), where each dialect serves it, ``count``, columns.

    ``path`` is the gateway dialect's path template (``{symbol}`` in it), ``openapi``
    the OpenAPI's (``{market}``: ``us`` or ``hk``) and ``openapi_count`` the name of
    its query parameter for the count; None where that dialect does not serve it.
    """

    name: str
    path: str | None
    openapi: str | None = None
    openapi_count: str = "count"
    count: int
    count_range: tuple[int, int]  # records per request the upstream API documents, inclusive
    #: business days after a trading date by which each market's record of it is published at
    #: the latest (API.md: US short trades "about every two weeks", HK every trading day);
    #: a market whose newest stored day is older than that is stale (``harvester check``)
    stale_after_us: int
    stale_after_hk: int
    date: Column  #: ``trade_date``: the day a record stands for, and where it is read from
    columns: tuple[Column, ...]  #: the data columns, in table (and row) order


SHORT_TRADES = Endpoint(
    name="short_trades",
    path="/v1/quote/{symbol}/short-selling/short-trades",
    openapi="/v1/quote/short-trades/{market}",
    openapi_count="page_size",
    count=20,
    count_range=(1, 100),
    # US: a batch every other week, its last day two business days before it appears;
    # HK: the same evening, a day more for a holiday.
    stale_after_us=12,
    stale_after_hk=2,
    date=Column(
        "trade_date",
        "TEXT",
        DATE,
        "the trading day: the record's instant taken as a date in the exchange's own time "
        "zone (New York, Hong Kong)",
        "timestamp",
        "timestamp",
    ),
    columns=(
        Column(
            "nasdaq_short_volume",
            "INTEGER",
            SHARES,
            "NASDAQ short-sale volume of the day",
            "nus_amount",
            None,
        ),
        Column(
            "nyse_short_volume",
            "INTEGER",
            SHARES,
            "NYSE short-sale volume of the day",
            "ny_amount",
            None,
        ),
        Column("total_volume", "INTEGER", SHARES, "total volume of the day", "total_amount", None),
        Column("short_turnover", "REAL", "HKD", "short-sale turnover of the day", None, "amount"),
        Column(
            "short_balance",
            "REAL",
            "not documented upstream; values such as `1318056100.00` look like an amount "
            "of HKD, but that is unconfirmed",
            "short position balance, as upstream sends it",
            None,
            "balance",
        ),
        Column("total_turnover", "REAL", "HKD", "total turnover of the day", None, "total_amount"),
        Column(
            "short_ratio",
            "REAL",
            "fraction, 0 to 1 (0.3643 is 36.43%)",
            "short volume / total volume (US); short turnover / total turnover (HK)",
            "rate",
            "rate",
        ),
        Column("close", "REAL", PRICE, "closing price of the day", "close", "close"),
    ),
)
SHORT_INTEREST = Endpoint(
    name="short_interest",
    path="/v1/quote/{symbol}/short-selling/short-interest",
    count=30,
    count_range=(1, 90),
    # US: the 15th and the month's end, published seven business days later; HK: each
    # Friday's positions the next Friday.
    stale_after_us=18,
    stale_after_hk=10,
    date=Column(
        "trade_date",
        "TEXT",
        DATE,
        "the report (data) date its figures stand for; not a trading day's figures",
        "timestamp_str",
        "timestamp_str",
    ),
    columns=(
        Column(
            "short_shares",
            "INTEGER",
            SHARES,
            "shares sold short and not yet covered",
            "shares_short",
            "aggregated_short",
        ),
        Column(
            "short_percent",
            "REAL",
            "percent, 0 to 100, as upstream sends it (0.59 is 0.59%, not 59%)",
            "short interest as a percentage (US: of a base upstream does not state; "
            "HK: of the float)",
            "short_percent",
            "aggregated_short_ratio",
        ),
        Column(
            "avg_daily_short_volume",
            "INTEGER",
            SHARES,
            "average daily short volume",
            "avg_daily_short_volume",
            "avg_daily_short_volume",
        ),
        Column(
            "avg_daily_share_volume",
            "INTEGER",
            SHARES,
            "average daily volume, all trades",
            "avg_daily_share_volume",
            None,
        ),
        Column(
            "days_to_cover",
            "REAL",
            "days",
            "days to cover, as upstream computes it",
            "days_to_cover",
            None,
        ),
        Column("avg_cost", "REAL", PRICE, "average cost of the short positions", None, "avg_cost"),
        Column(
            "close_price", "REAL", PRICE, "close on the report date", "close_price", "close_price"
        ),
        Column(
            "last_close_price",
            "REAL",
            PRICE,
            "the previous trading day's close",
            "last_close_price",
            "last_close_price",
        ),
    ),
)
SHORT_POSITIONS = Endpoint(
    name="short_positions",
    path=None,
    openapi="/v1/quote/short-positions/{market}",
    count=20,
    count_range=(1, 100),
    stale_after_us=18,  # the same reports as short_interest
    stale_after_hk=10,
    date=Column(
        "trade_date",
        "TEXT",
        DATE,
        "the day the figures stand for: the record's unix-second time taken as a date in "
        "the exchange's own time zone",
        "timestamp",
        "timestamp",
    ),
    columns=(
        Column(
            "short_shares",
            "INTEGER",
            SHARES,
            "shares sold short and not yet covered (US short interest)",
            "current_shares_short",
            None,
        ),
        Column(
            "avg_daily_share_volume",
            "INTEGER",
            SHARES,
            "average daily volume, all trades",
            "avg_daily_share_volume",
            None,
        ),
        Column(
            "days_to_cover",
            "REAL",
            "days",
            "days to cover, as upstream computes it",
            "days_to_cover",
            None,
        ),
        Column(
            "short_amount",
            "REAL",
            "HKD",
            "value of the reported short positions (the SDK: short amount, HKD)",
            None,
            "amount",
        ),
        Column(
            "short_balance",
            "REAL",
            'not documented upstream (the SDK says only "short position balance")',
            "short position balance, as upstream sends it",
            None,
            "balance",
        ),
        Column(
            "cost",
            "REAL",
            'not documented upstream (the SDK: "cost / closing price")',
            "cost figure of the short positions, as upstream sends it",
            None,
            "cost",
        ),
        Column(
            "short_ratio",
            "REAL",
            "as upstream sends it; the vendor does not say whether a fraction or a percent",
            'short position ratio (the SDK: "short ratio")',
            "rate",
            "rate",
        ),
        Column("close", "REAL", PRICE, "closing price on the data date", "close", "close"),
    ),
)
ENDPOINTS = (SHORT_TRADES, SHORT_INTEREST, SHORT_POSITIONS)


def served_by(api: str) -> tuple[Endpoint, ...]:
    """The data sets the dialect ``api`` serves, in catalog order."""
    return tuple(
        endpoint
        for endpoint in ENDPOINTS
        if (endpoint.path if api == GATEWAY else endpoint.openapi) is not None
    )


def published_by(reference: date, stale_after: int) -> date:
    """The newest trading date whose record is out on ``reference``, by ``Endpoint.stale_after_*``.

    A record of day D is out at the latest ``stale_after`` business days (weekdays) after D,
    so a weekend counts as the Friday before it: with 2, Wednesday's record is out by
    Friday, and Thursday's only by Monday.
    """
    day = reference
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    for _ in range(stale_after):
        day -= timedelta(days=1)
        while day.weekday() >= 5:
            day -= timedelta(days=1)
    return day
