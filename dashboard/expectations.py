"""What the wall screen holds today against: the expected dining-room curve and diners.

The expected curve is the mean, bucket by bucket, of the people present on the same weekday
over the last four weeks (only the weeks with a count in that bucket); the expected diners
are the demand forecast's sum over today's meals (reports/forecast.py), the figure the
kitchen cooked for. Both are read at most every half hour per site, off the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from dashboard.live import CURVE_BUCKET_MS
from reports.forecast_sources import site_forecast
from reports.menu import MenuStore
from timeseries import InfluxQL, quote_literal

logger = logging.getLogger(__name__)

EXPECT_WEEKS = 4
REFRESH_S = 1800.0


@dataclass(frozen=True, slots=True)
class Expectation:
    """A site's expected curve today (offset from midnight in ms, people) and diners."""

    curve: tuple[tuple[int, int], ...] = ()
    diners: int | None = None


def expected_curve(days: Sequence[dict[int, int]]) -> tuple[tuple[int, int], ...]:
    """Average past days' present-by-bucket curves (offsets from their midnight)."""
    buckets: dict[int, list[int]] = {}
    for day in days:
        for offset, present in day.items():
            buckets.setdefault(offset, []).append(present)
    return tuple(
        (offset, round(sum(values) / len(values))) for offset, values in sorted(buckets.items())
    )


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz)


def _past_day(influx: InfluxQL, site: str, start: datetime) -> dict[int, int]:
    """One day's people present per curve bucket, summed over the site's counters."""
    start_ms = int(start.timestamp() * 1000)
    end_ms = int((start + timedelta(days=1)).timestamp() * 1000)
    rows = influx.rows(
        f"SELECT last(present) FROM occupancy WHERE site = {quote_literal(site)} "  # noqa: S608
        f"AND time >= {start_ms}ms AND time < {end_ms}ms "
        f"GROUP BY time({CURVE_BUCKET_MS // 1000}s), sensor fill(none)"
    )
    day: dict[int, int] = {}
    for row in rows:
        if row["last"] is not None:
            offset = int(row["time"]) - start_ms
            day[offset] = day.get(offset, 0) + int(row["last"])
    return day


def read_expectation(
    influx: InfluxQL, menu: MenuStore, site: str, now: datetime, tz: tzinfo
) -> Expectation:
    """Read a site's expected curve for today and the forecast of today's diners."""
    today = now.astimezone(tz).date()
    days = [
        _past_day(influx, site, _midnight(today - timedelta(weeks=weeks), tz))
        for weeks in range(1, EXPECT_WEEKS + 1)
    ]
    meals = [m for m in site_forecast(influx, menu, site, today, tz).meals if m.day == today]
    known = [m.diners for m in meals if m.diners is not None]
    return Expectation(expected_curve([d for d in days if d]), round(sum(known)) if known else None)
