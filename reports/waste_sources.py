"""Where the waste report's figures come from: InfluxQL sums per time bucket.

Three statements per report, each summed up by InfluxDB itself so a 90-day report over
20 sites moves a few thousand rows, not every drop: grams per kitchen-day bucket by
site, category and dish; grams per meal-aligned bucket by site; diners (`entered`) per
meal-aligned bucket by site. They run side by side. Every value from outside goes
through `quote_literal`; sites are slugs checked by the routes before they get here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from alerts.haccp import LogPeriod
from protocol import epoch_ms
from reports.kitchen import SiteMenu
from reports.rollups import Rollups, fingerprint, stale_runs
from reports.waste import BucketSum, Group, WasteReport, WasteSlice, WasteSum, build_report
from reports.waste import meal_bucket_seconds as meal_bucket
from timeseries import InfluxQL, quote_literal

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _moment(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def site_clause(sites: Iterable[str]) -> str:
    """`site = 'a'`, or `(site = 'a' OR site = 'b' ...)` for several sites."""
    parts = [f"site = {quote_literal(site)}" for site in sorted(set(sites))]
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def _where(sites: Iterable[str], period: LogPeriod) -> str:
    edges = period.edges()
    return (
        f"{site_clause(sites)} AND time >= {epoch_ms(edges[0])}ms "
        f"AND time < {epoch_ms(edges[-1])}ms"
    )


def _statements(sites: list[str], period: LogPeriod, meal_s: int) -> tuple[str, str, str]:
    where = _where(sites, period)
    day_s = period.bucket_seconds()
    return (
        f"SELECT sum(grams) FROM waste WHERE {where} "  # noqa: S608
        f"GROUP BY time({day_s}s), site, category, dish fill(none)",
        f"SELECT sum(grams) FROM waste WHERE {where} "  # noqa: S608
        f"GROUP BY time({meal_s}s), site fill(none)",
        f"SELECT sum(entered) FROM occupancy WHERE {where} "  # noqa: S608
        f"GROUP BY time({meal_s}s), site fill(none)",
    )


def read_waste(influx: InfluxQL, statement: str) -> list[WasteSum]:
    """Rows of the grams-by-site-category-dish statement."""
    return [
        WasteSum(
            s.tags.get("site", ""),
            _moment(int(ms)),
            s.tags.get("category", ""),
            s.tags.get("dish", ""),
            float(grams),
        )
        for s in influx.query(statement)
        for ms, grams in s.values
        if grams is not None
    ]


def read_buckets(influx: InfluxQL, statement: str) -> list[BucketSum]:
    """Rows of a per-site bucket statement."""
    return [
        BucketSum(s.tags.get("site", ""), _moment(int(ms)), float(value))
        for s in influx.query(statement)
        for ms, value in s.values
        if value is not None
    ]


Buckets = tuple[list[WasteSum], list[BucketSum], list[BucketSum]]


def read_buckets_of(
    influx: InfluxQL, sites: list[str], period: LogPeriod, menus: Mapping[str, SiteMenu]
) -> Buckets:
    """The three statements' rows for some sites and days, read side by side."""
    windows = [w for site in sites for w in (menus.get(site) or SiteMenu(site)).windows]
    by_dish, by_meal, diners = _statements(sites, period, meal_bucket(period, windows))
    with ThreadPoolExecutor(max_workers=3) as pool:
        waste = pool.submit(read_waste, influx, by_dish)
        meal_waste = pool.submit(read_buckets, influx, by_meal)
        entered = pool.submit(read_buckets, influx, diners)
        return waste.result(), meal_waste.result(), entered.result()


def _rolled_up(
    influx: InfluxQL, sites: list[str], period: LogPeriod, group: Group,
    menus: Mapping[str, SiteMenu], rollups: Rollups,
) -> list[WasteSlice]:  # fmt: skip
    windows = {site: (menus.get(site) or SiteMenu(site)).windows for site in sites}
    days, now = period.days(), datetime.now(UTC)
    stale = {s: rollups.stale_days(s, days, fingerprint(windows[s]), now) for s in sites}
    for first, last in stale_runs(day for site_days in stale.values() for day in site_days):
        needed = [s for s in sites if any(first <= d <= last for d in stale[s])]
        run = LogPeriod(first, last, period.tz)
        read = read_buckets_of(influx, needed, run, menus)
        run_days = {s: [d for d in stale[s] if first <= d <= last] for s in needed}
        rollups.store(run_days, windows, read, period.tz, now)
    return rollups.slices(sites, period.first, period.last, group, menus)


def waste_report(
    influx: InfluxQL,
    sites: list[str],
    period: LogPeriod,
    group: Group,
    menus: Mapping[str, SiteMenu],
    rollups: Rollups | None = None,
) -> WasteReport:
    """Read the sums for some sites and days and make their report.

    With `rollups`, days already summed up are read from there, and only the others
    from InfluxDB (then kept); without, every day comes from InfluxDB.
    """
    if rollups is None:
        return build_report(
            sites, period, group, *read_buckets_of(influx, sites, period, menus), menus
        )
    slices = _rolled_up(influx, sites, period, group, menus, rollups)
    return build_report(sites, period, group, [], [], [], menus, slices)


def dish_drops(influx: InfluxQL, site: str, period: LogPeriod, meal_s: int) -> list[WasteSum]:
    """How many drops named each dish, per meal-aligned bucket (`grams` holds the count)."""
    statement = (
        f"SELECT count(grams) FROM waste WHERE {_where([site], period)} "  # noqa: S608
        f"GROUP BY time({meal_s}s), dish fill(none)"
    )
    return [row for row in read_waste(influx, statement) if row.dish]


def diner_buckets(influx: InfluxQL, site: str, period: LogPeriod, meal_s: int) -> list[BucketSum]:
    """A site's diners per meal-aligned bucket."""
    return read_buckets(influx, _statements([site], period, meal_s)[2])
