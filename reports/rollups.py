"""The hub's own rollups: each site's kitchen day summed up once, kept in SQLite.

Summing raw drops and entrance counts for every report is what makes a long range slow
(90 days x 20 sites is millions of points: seconds in InfluxDB 1.6). So a report asks
InfluxDB only for the days it has no final rollup of, sums them per day (by category and
dish; by meal: grams and diners) and keeps that here. A day is final once it was summed
`LATE` after its end: until then it is summed again by a report once its sums are older
than `REFRESH`, so readings an edge outbox delivers late (after a network cut) still
count. Changing a site's meal windows makes its rollups stale (they remember the windows
they were cut by). The file is a cache: delete it and the next report rebuilds it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path

from reports.kitchen import OTHER, MealWindow, SiteMenu, meal_of
from reports.waste import BucketSum, Group, WasteSlice, WasteSum

ROLLUP_FILE = "report_rollups.sqlite3"
LATE = timedelta(days=3)
REFRESH = timedelta(minutes=2)
"""A day not final yet is summed again when its sums are older than this."""
SCHEMA = """
CREATE TABLE IF NOT EXISTS rollup_days (
    site TEXT NOT NULL, day TEXT NOT NULL, windows TEXT NOT NULL, final INTEGER NOT NULL,
    summed_at TEXT NOT NULL, PRIMARY KEY (site, day)
);
CREATE TABLE IF NOT EXISTS rollup_waste (
    site TEXT NOT NULL, day TEXT NOT NULL, category TEXT NOT NULL, dish TEXT NOT NULL,
    grams REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS rollup_waste_days ON rollup_waste (site, day);
CREATE TABLE IF NOT EXISTS rollup_meals (
    site TEXT NOT NULL, day TEXT NOT NULL, meal TEXT NOT NULL, grams REAL NOT NULL,
    diners REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS rollup_meals_days ON rollup_meals (site, day);
CREATE TEMP TABLE IF NOT EXISTS dish_prices (site TEXT, dish TEXT, price REAL);
CREATE TEMP TABLE IF NOT EXISTS category_prices (site TEXT, category TEXT, price REAL);
"""
GROUP_SQL = {
    "day": "day",
    "week": "date(day, '-6 days', 'weekday 1')",
    "month": "substr(day, 1, 8) || '01'",
}
PRICED = """
CREATE TEMP TABLE priced AS
SELECT {group} AS g, r.site, r.category, r.dish, r.grams, coalesce(d.price, c.price) AS price
FROM rollup_waste r
LEFT JOIN temp.dish_prices d ON d.site = r.site AND d.dish = r.dish AND r.dish != ''
LEFT JOIN temp.category_prices c ON c.site = r.site AND c.category = r.category
WHERE r.site IN ({marks}) AND r.day BETWEEN ? AND ?
"""
SUMS = (
    "sum(grams), coalesce(sum(grams * price / 1000.0), 0.0), "
    "sum(CASE WHEN price IS NULL THEN grams ELSE 0.0 END), 0.0"
)
SLICES = """
SELECT 'series', g, {SUMS} FROM temp.priced GROUP BY g
UNION ALL SELECT 'category', category, {SUMS} FROM temp.priced GROUP BY category
UNION ALL SELECT 'site', site, {SUMS} FROM temp.priced GROUP BY site
UNION ALL SELECT 'dish', dish, {SUMS} FROM temp.priced WHERE dish != '' GROUP BY dish
""".replace("{SUMS}", SUMS)
MEAL_SLICES = """
WITH m AS (
    SELECT {group} AS g, site, meal, grams, diners FROM rollup_meals
    WHERE site IN ({marks}) AND day BETWEEN ? AND ?
)
SELECT 'series', g, 0.0, 0.0, 0.0, sum(diners) FROM m GROUP BY g
UNION ALL SELECT 'site', site, 0.0, 0.0, 0.0, sum(diners) FROM m GROUP BY site
UNION ALL SELECT 'meal', meal, sum(grams), 0.0, 0.0, sum(diners) FROM m GROUP BY meal
"""


def fingerprint(windows: Iterable[MealWindow]) -> str:
    """The meal windows a rollup was cut by, as text."""
    return ",".join(f"{w.meal}={w.start:%H:%M}-{w.end:%H:%M}" for w in windows)


def stale_runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Runs of consecutive days, as (first, last)."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _day_sums(
    menus: dict[str, tuple[MealWindow, ...]],
    buckets: tuple[list[WasteSum], list[BucketSum], list[BucketSum]],
    tz: tzinfo,
) -> tuple[dict[tuple[str, date, str, str], float], dict[tuple[str, date, str], list[float]]]:
    """Buckets added up per (site, day, category, dish) and per (site, day, meal)."""
    waste: dict[tuple[str, date, str, str], float] = defaultdict(float)
    meals: dict[tuple[str, date, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for row in buckets[0]:
        waste[(row.site, row.start.astimezone(tz).date(), row.category, row.dish)] += row.grams
    for index, rows in ((0, buckets[1]), (1, buckets[2])):
        for bucket in rows:
            local = bucket.start.astimezone(tz)
            meal = meal_of(menus[bucket.site], local.time()) if bucket.site in menus else OTHER
            meals[(bucket.site, local.date(), meal)][index] += bucket.value
    return waste, meals


class Rollups:
    """Per-site, per-kitchen-day sums of waste and diners; safe to share between threads."""

    def __init__(self, path: Path, refresh: timedelta = REFRESH) -> None:
        self.refresh = refresh
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.RLock()

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def stale_days(self, site: str, days: list[date], windows: str, now: datetime) -> list[date]:
        """The days with no rollup cut by these windows that is final or fresh."""
        rows = self._db.execute(
            "SELECT day FROM rollup_days WHERE site = ? AND day BETWEEN ? AND ? AND windows = ? "
            "AND (final = 1 OR summed_at > ?)",
            (site, days[0].isoformat(), days[-1].isoformat(), windows,
             (now - self.refresh).isoformat()),
        )  # fmt: skip
        done = {date.fromisoformat(r[0]) for r in rows}
        return [day for day in days if day not in done]

    def store(
        self,
        days: dict[str, list[date]],
        menus: dict[str, tuple[MealWindow, ...]],
        buckets: tuple[list[WasteSum], list[BucketSum], list[BucketSum]],
        tz: tzinfo,
        now: datetime,
    ) -> None:
        """Keep the sums of each site's days (a day with no data is kept as empty)."""
        waste, meals = _day_sums(menus, buckets, tz)
        wanted = {(site, day) for site, site_days in days.items() for day in site_days}
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            for site, day in sorted(wanted):
                final = now >= datetime.combine(day + timedelta(days=1), time(), tz) + LATE
                key = (site, day.isoformat())
                self._db.execute("DELETE FROM rollup_waste WHERE site = ? AND day = ?", key)
                self._db.execute("DELETE FROM rollup_meals WHERE site = ? AND day = ?", key)
                self._db.execute(
                    "INSERT OR REPLACE INTO rollup_days VALUES (?, ?, ?, ?, ?)",
                    (*key, fingerprint(menus[site]), final, now.isoformat()),
                )
            self._db.executemany(
                "INSERT INTO rollup_waste VALUES (?, ?, ?, ?, ?)",
                [
                    (s, d.isoformat(), c, dish, g)
                    for (s, d, c, dish), g in waste.items()
                    if (s, d) in wanted
                ],
            )
            self._db.executemany(
                "INSERT INTO rollup_meals VALUES (?, ?, ?, ?, ?)",
                [
                    (s, d.isoformat(), m, g, n)
                    for (s, d, m), (g, n) in meals.items()
                    if (s, d) in wanted
                ],
            )
            self._db.execute("COMMIT")

    def _prices(self, menus: Mapping[str, SiteMenu]) -> None:
        self._db.execute("DELETE FROM temp.dish_prices")
        self._db.execute("DELETE FROM temp.category_prices")
        self._db.executemany(
            "INSERT INTO temp.dish_prices VALUES (?, ?, ?)",
            [
                (site, d.slug, d.cost_per_kg)
                for site, menu in menus.items()
                for d in menu.dishes.values()
                if d.cost_per_kg is not None
            ],
        )
        self._db.executemany(
            "INSERT INTO temp.category_prices VALUES (?, ?, ?)",
            [(site, c, cost) for site, m in menus.items() for c, cost in m.category_costs.items()],
        )

    def slices(
        self, sites: list[str], first: date, last: date, group: Group, menus: Mapping[str, SiteMenu]
    ) -> list[WasteSlice]:
        """The days' waste (priced) and diners, added up by SQLite per slice of the report."""
        marks = ",".join("?" * len(sites))
        span = (*sites, first.isoformat(), last.isoformat())
        with self._lock:
            self._prices(menus)
            self._db.execute("DROP TABLE IF EXISTS temp.priced")
            self._db.execute(PRICED.format(group=GROUP_SQL[group], marks=marks), span)
            rows = self._db.execute(SLICES).fetchall()
            meals = MEAL_SLICES.format(group=GROUP_SQL[group], marks=marks)
            rows += self._db.execute(meals, span).fetchall()
            self._db.execute("DROP TABLE temp.priced")
        return [WasteSlice(*row) for row in rows]
