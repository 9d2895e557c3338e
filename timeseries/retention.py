"""Keep raw readings for a while and hourly and daily rollups for years (InfluxDB 1.x).

Layout: the database's default policy `autogen` holds the raw readings (the ingest writes
there, the dashboard reads there) and gets a finite duration (default 90 days);
`rp_hourly` (default 5 years) and `rp_daily` (kept for ever) hold rollups that continuous
queries fill: `waste_1h`/`waste_1d` (sum and count of grams), `temperature_1h`/`_1d`
(min, max, mean, count of celsius) and `occupancy_1h`/`_1d` (sums of entered and exited,
last and peak present). Every rollup is ONE `SELECT ... INTO` text: the continuous query
wraps it, and a backfill runs it over a time range (readings replayed from an edge backlog
older than the continuous query's window, or data older than the rollups), so both always
agree. `apply_retention` is idempotent: a second run changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from timeseries.influx import InfluxQL, quote_ident

logger = logging.getLogger(__name__)

RAW_POLICY = "autogen"
HOURLY_POLICY = "rp_hourly"
DAILY_POLICY = "rp_daily"
HOURLY_RESAMPLE = "RESAMPLE EVERY 30m FOR 6h"
DAILY_RESAMPLE = "RESAMPLE EVERY 1h FOR 2d"


@dataclass(frozen=True, slots=True)
class RetentionLayout:
    """How long each policy keeps its data, in days (0 = for ever)."""

    raw_days: int = 90
    hourly_days: int = 5 * 366
    daily_days: int = 0

    def __post_init__(self) -> None:
        for name in ("raw_days", "hourly_days", "daily_days"):
            value = getattr(self, name)
            if value != 0 and value < 2:
                raise ValueError(f"{name} must be 0 (for ever) or at least 2 days, not {value}")


@dataclass(frozen=True, slots=True)
class Rollup:
    """One aggregate of one raw measurement at one resolution."""

    source: str
    aggregates: str
    resolution: str  # "1h" or "1d"

    @property
    def policy(self) -> str:
        """The retention policy the rollup lands in."""
        return HOURLY_POLICY if self.resolution == "1h" else DAILY_POLICY

    @property
    def target(self) -> str:
        """The rollup's measurement name, e.g. `waste_1d`."""
        return f"{self.source}_{self.resolution}"

    @property
    def cq_name(self) -> str:
        """The continuous query's name."""
        return f"cq_{self.target}"

    def select(self, database: str, where: str = "") -> str:
        """The one `SELECT ... INTO` text behind both the continuous query and a backfill."""
        db = quote_ident(database)
        into = f"{db}.{quote_ident(self.policy)}.{quote_ident(self.target)}"
        source = f"{db}.{quote_ident(RAW_POLICY)}.{quote_ident(self.source)}"
        condition = f" WHERE {where}" if where else ""
        return (  # InfluxQL, not SQL: identifiers quoted, no user text
            f"SELECT {self.aggregates} INTO {into} FROM {source}{condition}"  # noqa: S608
            f" GROUP BY time({self.resolution}), *"
        )

    def continuous_query(self, database: str) -> str:
        """`CREATE CONTINUOUS QUERY` around the select."""
        resample = HOURLY_RESAMPLE if self.resolution == "1h" else DAILY_RESAMPLE
        return (
            f"CREATE CONTINUOUS QUERY {quote_ident(self.cq_name)} ON {quote_ident(database)}"
            f" {resample} BEGIN {self.select(database)} END"
        )

    def backfill(self, database: str, start: datetime, end: datetime) -> str:
        """The select over `[start, end)`, as a one-off statement."""
        where = f"time >= '{_rfc3339(start)}' AND time < '{_rfc3339(end)}'"
        return self.select(database, where)


_AGGREGATES = {
    "waste": "sum(grams) AS grams, count(grams) AS drops",
    "temperature": (
        "min(celsius) AS celsius_min, max(celsius) AS celsius_max, "
        "mean(celsius) AS celsius_mean, count(celsius) AS samples"
    ),
    "occupancy": (
        "sum(entered) AS entered, sum(exited) AS exited, "
        "last(present) AS present, max(present) AS present_max"
    ),
}
ROLLUPS = tuple(
    Rollup(source, aggregates, resolution)
    for source, aggregates in _AGGREGATES.items()
    for resolution in ("1h", "1d")
)
"""Every rollup: a new one is one row in `_AGGREGATES`."""


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("backfill times must be timezone-aware")
    return moment.isoformat().replace("+00:00", "Z")


def _duration(days: int) -> str:
    return "INF" if days == 0 else f"{days}d"


def _shard_duration(days: int) -> str:
    """InfluxDB's advice: 1 day shards up to 6 months, 1 week up to years, then more."""
    if days == 0:
        return "52w"
    return "1d" if days <= 183 else "7d"


def _as_hours(duration: str) -> str:
    """A policy duration as SHOW RETENTION POLICIES prints it (90d -> 2160h0m0s)."""
    if duration == "INF":
        return "0s"
    if duration.endswith("w"):
        return f"{int(duration[:-1]) * 7 * 24}h0m0s"
    return f"{int(duration[:-1]) * 24}h0m0s"


def show_rows(query: InfluxQL, statement: str) -> list[dict[str, Any]]:
    """Run a SHOW statement; each row also names its series (the database, for CQs)."""
    return [
        {"series": series.name, **row} for series in query.query(statement) for row in series.rows()
    ]


def policy_statements(database: str, layout: RetentionLayout) -> list[tuple[str, str, str]]:
    """(policy, duration, statement to create it) for the three policies."""
    db = quote_ident(database)
    wanted = [
        (RAW_POLICY, layout.raw_days, " DEFAULT"),
        (HOURLY_POLICY, layout.hourly_days, ""),
        (DAILY_POLICY, layout.daily_days, ""),
    ]
    return [
        (
            name,
            _duration(days),
            f"CREATE RETENTION POLICY {quote_ident(name)} ON {db} DURATION {_duration(days)}"
            f" REPLICATION 1 SHARD DURATION {_shard_duration(days)}{default}",
        )
        for name, days, default in wanted
    ]


def _apply_policies(query: InfluxQL, layout: RetentionLayout) -> list[str]:
    database = query.settings.database
    existing = {row["name"]: row for row in query.rows("SHOW RETENTION POLICIES")}
    changes = []
    for name, duration, create in policy_statements(database, layout):
        row = existing.get(name)
        if row is None:
            query.query(create)
            changes.append(f"created retention policy {name} ({duration})")
            continue
        default_ok = row["default"] == (name == RAW_POLICY)
        if row["duration"] == _as_hours(duration) and default_ok:
            continue
        query.query(create.replace("CREATE", "ALTER", 1).replace(" REPLICATION 1", ""))
        changes.append(f"changed retention policy {name} to {duration}")
    return changes


def _apply_continuous_queries(query: InfluxQL) -> list[str]:
    database = query.settings.database
    existing = {
        row["name"]: row["query"]
        for row in show_rows(query, "SHOW CONTINUOUS QUERIES")
        if row["series"] == database
    }
    changes = []
    for rollup in ROLLUPS:
        wanted = rollup.continuous_query(database)
        current = existing.get(rollup.cq_name)
        if current is not None and _same_query(current, wanted):
            continue
        if current is not None:  # a continuous query cannot be altered: replace it
            query.query(f"DROP CONTINUOUS QUERY {quote_ident(rollup.cq_name)} ON {database}")
        query.query(wanted)
        changes.append(f"{'replaced' if current else 'created'} continuous query {rollup.cq_name}")
    return changes


def _same_query(stored: str, wanted: str) -> bool:
    """Whether the server's text of a continuous query is ours (it drops some quotes)."""
    return stored.replace('"', "") == wanted.replace('"', "")


def apply_retention(query: InfluxQL, layout: RetentionLayout | None = None) -> list[str]:
    """Create or correct the policies and continuous queries; return what changed."""
    layout = layout or RetentionLayout()
    query.create_database()
    changes = _apply_policies(query, layout) + _apply_continuous_queries(query)
    for change in changes:
        logger.info("%s on %s", change, query.settings.database)
    return changes


def backfill(query: InfluxQL, start: datetime, end: datetime) -> int:
    """Compute every rollup over `[start, end)` from the raw data; return points written."""
    written = 0
    for rollup in ROLLUPS:
        for row in query.rows(rollup.backfill(query.settings.database, start, end)):
            written += int(row.get("written", 0))
    return written
