"""Where the HACCP log's figures come from: InfluxDB (InfluxQL) and the alert store.

Two reads per log: the day figures as time buckets summed up by the server, and the last
reading before each check time. Every value from outside goes through `quote_literal`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.alert_record import Alert
from alerts.haccp import LogPeriod, ProbeReading, TemperatureSpan
from alerts.store import AlertStore
from protocol import epoch_ms
from timeseries import InfluxQL, quote_literal

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

ALERT_LOOKBACK = timedelta(days=31)
"""How long before the first day a closed excursion still shown may have begun."""
CHECKS_PER_QUERY = 50
"""Check-time statements sent in one /query request (a GET: the URL stays short)."""


def _ms(moment: datetime) -> int:
    return epoch_ms(moment)


def _moment(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def read_temperatures(
    influx: InfluxQL, site: str, period: LogPeriod, now: datetime
) -> tuple[list[TemperatureSpan], list[ProbeReading]]:
    """A site's temperature spans for the period and its last reading before each check.

    The spans are InfluxQL time buckets (min, max, sum, count) that never straddle a
    kitchen midnight (`LogPeriod.bucket_seconds`), so any zone and daylight-saving change
    gives exact days: in Asia/Shanghai three rows per unit and day, not 700 readings.
    """
    edges = period.edges()
    where = f"site = {quote_literal(site)}"
    bucket = period.bucket_seconds()
    spans = [
        TemperatureSpan(
            str(row["sensor"]),
            _moment(int(row["time"])),
            float(row["low"]),
            float(row["high"]),
            float(row["total"]),
            int(row["n"]),
        )
        for row in influx.rows(
            "SELECT min(celsius) AS low, max(celsius) AS high, sum(celsius) AS total, "  # noqa: S608
            f"count(celsius) AS n FROM temperature WHERE {where} AND time >= {_ms(edges[0])}ms "
            f"AND time < {_ms(edges[-1])}ms GROUP BY time({bucket}s), sensor fill(none)"
        )
    ]
    statements = [
        f"SELECT last(celsius) AS celsius FROM temperature WHERE {where} "  # noqa: S608
        f"AND time >= {_ms(due - period.tolerance)}ms AND time <= {_ms(due)}ms GROUP BY sensor"
        for day in period.days()
        for check in period.check_times
        if (due := period.due(day, check)) <= now
    ]
    readings = [
        ProbeReading(str(row["sensor"]), _moment(int(row["time"])), float(row["celsius"]))
        for start in range(0, len(statements), CHECKS_PER_QUERY)
        for row in influx.rows("; ".join(statements[start : start + CHECKS_PER_QUERY]))
    ]
    return spans, readings


def read_unit_alerts(store: AlertStore | None, site: str, period: LogPeriod) -> list[Alert]:
    """A site's alerts that may touch the period (none when this hub runs no alerts)."""
    if store is None:
        return []
    edges = period.edges()
    found = {a.id: a for a in store.between(site, edges[0] - ALERT_LOOKBACK, edges[-1])}
    found.update({a.id: a for a in store.live(site) if a.since < edges[-1]})
    return sorted(found.values(), key=lambda a: (a.since, a.id))
