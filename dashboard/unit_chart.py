"""A cold unit's last hours as a small SVG chart for the phone page (drawn on the server).

Pure drawing from rows, plus one InfluxQL read. Drawing on the server keeps the phone
page free of scripts: it shows on any phone, even one with JavaScript off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from timeseries import InfluxQL, quote_literal

WIDTH, HEIGHT = 320.0, 120.0
BUCKET_S = 60


@dataclass(frozen=True, slots=True)
class Chart:
    """What the template draws: a polyline, limit lines and the axis labels."""

    points: str
    limits: tuple[tuple[float, float], ...]
    """(y, celsius) of each limit line."""
    low_c: float
    high_c: float
    empty: bool


def draw(
    rows: list[tuple[int, float]], start_ms: int, end_ms: int, limits: tuple[float, ...]
) -> Chart:
    """Scale (epoch ms, °C) rows into the chart's box, with the limits kept in view."""
    values = [c for _, c in rows]
    low = min([*values, *limits]) - 1.0
    high = max([*values, *limits]) + 1.0
    span_ms = max(1, end_ms - start_ms)

    def y(celsius: float) -> float:
        return round(HEIGHT - (celsius - low) / (high - low) * HEIGHT, 1)

    points = " ".join(
        f"{round((ts - start_ms) / span_ms * WIDTH, 1)},{y(c)}"
        for ts, c in rows
        if start_ms <= ts <= end_ms
    )
    return Chart(points, tuple((y(c), c) for c in limits), low, high, not rows)


def recent_temperatures(
    influx: InfluxQL, site: str, device: str, sensor: str, end: datetime, hours: float
) -> list[tuple[int, float]]:
    """A probe's per-minute mean temperature over the last hours, oldest first."""
    start_ms = int((end - timedelta(hours=hours)).timestamp() * 1000)
    where = (
        f"site = {quote_literal(site)} AND device = {quote_literal(device)} AND "
        f"sensor = {quote_literal(sensor)} AND time >= {start_ms}ms"
    )
    rows = influx.rows(
        f"SELECT mean(celsius) FROM temperature WHERE {where} GROUP BY time({BUCKET_S}s) fill(none)"
    )
    return [(int(row["time"]), float(row["mean"])) for row in rows if row["mean"] is not None]
