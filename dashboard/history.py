"""Read a site's recent history from InfluxDB (InfluxQL) into the live view at start-up.

So a screen opened after a restart shows the last hours' curves, today's waste and
entries at once, instead of starting from nothing. The queries run on every InfluxDB
version (1.x natively, 2.x through its v1-compatible endpoint).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from dashboard.live import SPARK_BUCKET_MS, LiveState
from timeseries import InfluxQL, quote_literal

logger = logging.getLogger(__name__)

LATEST_WITHIN = "7d"
"""How far back a unit's or device's last value is looked for."""


def load_site(
    influx: InfluxQL, state: LiveState, site: str, now: datetime, spark_hours: float
) -> int:
    """Merge a site's stored history into `state`; return the number of rows read."""
    where = f"site = {quote_literal(site)}"
    since_midnight = f"{where} AND time >= {state.day_start_ms(now)}ms"
    spark_since = int((now - timedelta(hours=spark_hours)).timestamp() * 1000)
    rows = 0
    for row in influx.rows(
        f"SELECT mean(celsius) FROM temperature WHERE {where} AND time >= {spark_since}ms "
        f"GROUP BY time({SPARK_BUCKET_MS // 1000}s), device, sensor fill(none)"
    ):
        state.spark_point(site, row["device"], row["sensor"], row["time"], row["mean"])
        rows += 1
    for row in influx.rows(
        f"SELECT last(celsius) FROM temperature WHERE {where} AND time > now() - "
        f"{LATEST_WITHIN} GROUP BY device, sensor"
    ):
        state.temperature(site, row["device"], row["sensor"], row["time"], row["last"])
        rows += 1
    for row in influx.rows(
        f"SELECT last(open) FROM door WHERE {where} AND time > now() - {LATEST_WITHIN} "
        "GROUP BY device, sensor"
    ):
        state.door(site, row["device"], row["sensor"], row["time"], bool(row["last"]))
        rows += 1
    for row in influx.rows(
        f"SELECT grams FROM waste WHERE {since_midnight} GROUP BY device, sensor, category"
    ):
        state.waste(site, row["device"], row["sensor"], row["time"], row["category"], row["grams"])
        rows += 1
    for row in influx.rows(
        f"SELECT entered, exited, present FROM occupancy WHERE {since_midnight} "
        "GROUP BY device, sensor"
    ):
        counts = (int(row["entered"]), int(row["exited"]), int(row["present"]))
        state.occupancy(site, row["device"], row["sensor"], row["time"], counts)
        rows += 1
    rows += _load_devices(influx, state, site)
    logger.info("read %d rows of %s's history", rows, site)
    return rows


def _load_devices(influx: InfluxQL, state: LiveState, site: str) -> int:
    from protocol import Status

    rows = 0
    for row in influx.rows(
        f"SELECT last(online) AS online FROM device_status WHERE site = {quote_literal(site)} "
        f"AND time > now() - {LATEST_WITHIN} GROUP BY device"
    ):
        status = Status(v=1, online=bool(row["online"]))
        state.apply_status(site, row["device"], status, row["time"])
        rows += 1
    return rows


def stored_sites(influx: InfluxQL) -> list[str]:
    """Every site with data in the database."""
    return sorted(
        {row["value"] for row in influx.rows('SHOW TAG VALUES WITH KEY = "site"') if row["value"]}
    )
