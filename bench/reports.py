"""Time the 90-day x 20-site waste report against a private InfluxDB 1.6.7.

Generates the history (waste drops in the meal windows and between them, entrance counts
every minute from 06:00 to 20:00, kitchen time Asia/Shanghai), writes it in bulk through
`/write`, then runs the district report (`reports.waste_sources.waste_report`, the code
behind `/reports/district/waste`) several times and prints the median. With `--write`
the figures replace the "Reports" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts.haccp import LogPeriod  # noqa: E402
from canteen.local_services import LocalInfluxDB  # noqa: E402
from canteen.settings import InfluxSettings  # noqa: E402
from reports.kitchen import SiteMenu  # noqa: E402
from reports.rollups import LATE, REFRESH, Rollups  # noqa: E402
from reports.waste_sources import waste_report  # noqa: E402
from timeseries import InfluxQL, V1LineWriter  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
CATEGORIES = ("plate", "prep", "spoilage", "overproduction")
DISHES = tuple(f"dish-{n}" for n in range(12))
SPANS = ((390, 540), (630, 810), (990, 1140), (840, 960))
SECTION = "## Reports (`python bench/reports.py`)"
NOTE = (
    "Reading raw sums for 90 days is seconds on InfluxDB 1.6.7 whatever the query shape (it "
    "scans every point), so reports keep each site's kitchen days summed up in the hub's SQLite "
    "(`reports/rollups.py`): the first report of a range pays once, later ones read SQLite (SQL "
    "sums per slice, priced there) and InfluxDB only for the days not final yet (the last 3), "
    "at most every 2 minutes."
)


def history(sites: int, days: int, drops: int, last: date) -> list[str]:
    """Line protocol for the whole history."""
    rng = random.Random(5)
    lines: list[str] = []
    for n in range(days):
        midnight = datetime.combine(last - timedelta(days=n), datetime.min.time(), TZ)
        base = int(midnight.astimezone(UTC).timestamp() * 1000)
        for s in range(sites):
            site = f"site-{s:02d}"
            for k in range(drops):
                low, high = SPANS[k % len(SPANS)]
                ms = base + int(rng.uniform(low, high) * 60_000) + k
                category = rng.choice(CATEGORIES)
                dish = f",dish={rng.choice(DISHES)}" if category != "prep" else ""
                lines.append(
                    f"waste,site={site},device=scale-1,sensor=bin-{category},category={category}"
                    f"{dish} grams={rng.uniform(20, 900):.1f} {ms}"
                )
            lines.extend(
                f"occupancy,site={site},device=door-1,sensor=dining-main "
                f"entered={rng.randint(0, 6)}i,exited=0i,present=0i {base + minute * 60_000}"
                for minute in range(360, 1200)
            )
    return lines


def measure(
    influx: InfluxQL, sites: int, days: int, last: date, runs: int, rollups: Rollups | None
) -> list[float]:
    """Seconds per district report over the whole range."""
    names = [f"site-{s:02d}" for s in range(sites)]
    menus = {name: SiteMenu(name) for name in names}
    period = LogPeriod(last - timedelta(days=days - 1), last, TZ)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        report = waste_report(influx, names, period, "day", menus, rollups)
        times.append(time.perf_counter() - started)
    assert len(report.series) == days and report.total.grams > 0
    return times


def load(settings: InfluxSettings, lines: list[str]) -> float:
    """Write the history in bulk; return the seconds it took."""
    started = time.perf_counter()
    writer = V1LineWriter(settings)
    for start in range(0, len(lines), 20_000):
        writer.write(lines[start : start + 20_000])
    writer.close()
    return time.perf_counter() - started


def main() -> int:
    """Generate, load, measure, print (and with --write record) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("--sites", 20), ("--days", 90), ("--drops", 150), ("--runs", 5)):
        parser.add_argument(name, type=int, default=default)
    parser.add_argument("--write", action="store_true", help="record in docs/benchmarks.md")
    args = parser.parse_args()
    last = datetime.now(TZ).date() - timedelta(days=1)
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as workdir:
        server = LocalInfluxDB(Path(workdir) / "influxdb", die_with_parent=True)
        server.start()
        try:
            settings = InfluxSettings(url=server.url, database="canteen", timeout_s=120)
            influx = InfluxQL(settings)
            influx.create_database()
            lines = history(args.sites, args.days, args.drops, last)
            load_s = load(settings, lines)
            direct = measure(influx, args.sites, args.days, last, args.runs, None)
            rollups = Rollups(Path(workdir) / "rollups.sqlite3", refresh=timedelta(0))
            cold = measure(influx, args.sites, args.days, last, 1, rollups)
            warm = measure(influx, args.sites, args.days, last, args.runs, rollups)
            rollups.refresh = REFRESH
            fresh = measure(influx, args.sites, args.days, last, args.runs, rollups)
            settled = last - LATE - timedelta(days=1)
            cached = measure(influx, args.sites, args.days, settled, args.runs, rollups)
        finally:
            server.stop()
    waste = args.sites * args.days * args.drops
    result = "\n".join(
        [
            f"{args.sites} sites x {args.days} days, kitchen time Asia/Shanghai: {waste:,} waste "
            f"drops and {len(lines) - waste:,} entrance counts (one a minute, 06:00-20:00), "
            f"loaded in {load_s:.1f} s. The district report (by day, category, dish, meal, "
            f"diners, cost), {args.runs} runs each:",
            "",
            "| path | median ms | min ms | max ms |",
            "|---|---|---|---|",
            _row("InfluxQL sums over raw points, every day", direct),
            _row("rollups, first report (sums every day, keeps them)", cold),
            _row("rollups, next reports, the last 3 days re-summed in InfluxDB", warm),
            _row("rollups, next reports within REFRESH (2 min) of the last", fresh),
            _row("rollups, 90 days that are all final (no InfluxDB read)", cached),
        ]
    )
    result += "\n\n" + NOTE
    print(result)
    if args.write:
        record(result)
    return 0


def _row(name: str, times: list[float]) -> str:
    ms = [t * 1000 for t in times]
    return f"| {name} | {statistics.median(ms):.0f} | {min(ms):.0f} | {max(ms):.0f} |"


def record(result: str) -> None:
    """Replace this benchmark's section of docs/benchmarks.md."""
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text(encoding="utf-8")
    before, found, after = text.partition(SECTION)
    rest = after[after.find("\n## ") :] if found and "\n## " in after else ""
    body = f"{SECTION}\n\n{datetime.now(TZ).date()}, {result}\n"
    path.write_text((before.rstrip() + "\n\n" + body + rest).rstrip() + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
