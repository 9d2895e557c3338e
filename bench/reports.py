"""Time the 90-day x 20-site waste report against a private InfluxDB 1.6.7.

Generates the history (waste drops in the meal windows and between them, entrance counts
every minute from 06:00 to 20:00, kitchen time Asia/Shanghai), writes it in bulk through
`/write`, then runs the district report (`reports.waste_sources.waste_report`, the code
behind `/reports/district/waste`) several times and prints the median. With `--write`
the figures replace the "Reports" section of docs/benchmarks.md.

With `--spans 1,30,365` it loads as many days as the longest span and times the same report
for the last N days, for each span, on every path; `--write` then replaces the "Report time
by span" section.
"""

from __future__ import annotations

import argparse
import os
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
COUNTED = range(360, 1200)
"""The minutes of the day with an entrance count (06:00-20:00)."""
SECTION = "## Reports (`python bench/reports.py`)"
SPAN_SECTION = "## Report time by span (`python bench/reports.py --spans`)"
NOTE = (
    "Reading raw sums for 90 days is seconds on InfluxDB 1.6.7 whatever the query shape (it "
    "scans every point), so reports keep each site's kitchen days summed up in the hub's SQLite "
    "(`reports/rollups.py`): the first report of a range pays once, later ones read SQLite (SQL "
    "sums per slice, priced there) and InfluxDB only for the days not final yet (the last 3), "
    "at most every 2 minutes."
)

SPAN_NOTE = (
    "Each cell is median (min-max) ms. A first report starts each run on an empty rollup "
    "file; a next report finds the span rolled up and either re-sums the days not final yet "
    "(`REFRESH` due) or reads SQLite only (within `REFRESH`). A report page asks for two "
    "reports, the span and the baseline before it.\n\n"
    "Raw sums grow in step with the points scanned (from about a month on; a day is mostly the "
    "three queries' fixed cost), and a first report on rollups costs the same, since it sums "
    "every day once. Later reports bend at 3 days (`LATE`): up to there every day of the span "
    "is not final, so they cost what raw costs plus keeping the sums; past it InfluxDB reads "
    "only those 3 days, a fixed cost, and what grows is SQLite adding up the kept rows (one "
    "per site, day, category and dish), which is linear too but far cheaper per day, so at a "
    "year it is most of the answer even when the last 3 days are re-summed."
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
                for minute in COUNTED
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


def by_path(influx: InfluxQL, args: argparse.Namespace, last: date, workdir: Path) -> str:
    """The report over the whole range on each path, as a table."""
    direct = measure(influx, args.sites, args.days, last, args.runs, None)
    rollups = Rollups(workdir / "rollups.sqlite3", refresh=timedelta(0))
    cold = measure(influx, args.sites, args.days, last, 1, rollups)
    warm = measure(influx, args.sites, args.days, last, args.runs, rollups)
    rollups.refresh = REFRESH
    fresh = measure(influx, args.sites, args.days, last, args.runs, rollups)
    settled = last - LATE - timedelta(days=1)
    cached = measure(influx, args.sites, args.days, settled, args.runs, rollups)
    return "\n".join(
        [
            f" The district report (by day, category, dish, meal, diners, cost), {args.runs} "
            "runs each:",
            "",
            "| path | median ms | min ms | max ms |",
            "|---|---|---|---|",
            _row("InfluxQL sums over raw points, every day", direct),
            _row("rollups, first report (sums every day, keeps them)", cold),
            _row("rollups, next reports, the last 3 days re-summed in InfluxDB", warm),
            _row("rollups, next reports within REFRESH (2 min) of the last", fresh),
            _row("rollups, 90 days that are all final (no InfluxDB read)", cached),
            "",
            NOTE,
        ]
    )


def by_span(
    influx: InfluxQL, args: argparse.Namespace, spans: list[int], last: date, workdir: Path
) -> str:
    """The report for the last N days, for each span and path, as a table."""
    paths: dict[str, list[str]] = {
        "InfluxQL sums over raw points": [],
        "rollups, first report": [],
        "rollups, next reports, last 3 days re-summed": [],
        "rollups, next reports within REFRESH (2 min)": [],
    }
    runs = args.runs
    for span in spans:
        direct = measure(influx, args.sites, span, last, runs, None)
        cold: list[float] = []
        for n in range(runs):
            rollups = Rollups(workdir / f"rollups-{span}-{n}.sqlite3", refresh=timedelta(0))
            cold += measure(influx, args.sites, span, last, 1, rollups)
        warm = measure(influx, args.sites, span, last, runs, rollups)
        rollups.refresh = REFRESH
        fresh = measure(influx, args.sites, span, last, runs, rollups)
        for cell, times in zip(paths.values(), (direct, cold, warm, fresh), strict=True):
            cell.append(_cell(times))
    points = [f"{args.sites * span * (args.drops + len(COUNTED)):,}" for span in spans]
    header = " | ".join(f"{span} day{'s' if span > 1 else ''}" for span in spans)
    return "\n".join(
        [
            f" The district report (by day) for the last {', '.join(map(str, spans))} days, "
            f"{runs} runs of each:",
            "",
            f"| path | {header} |",
            "|---|" + "---|" * len(spans),
            f"| raw points in the span | {' | '.join(points)} |",
            *(f"| {name} | {' | '.join(cell)} |" for name, cell in paths.items()),
            "",
            SPAN_NOTE,
        ]
    )


def main() -> int:
    """Generate, load, measure, print (and with --write record) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("--sites", 20), ("--days", 90), ("--drops", 150), ("--runs", 5)):
        parser.add_argument(name, type=int, default=default)
    parser.add_argument("--spans", help="comma-separated days, e.g. 1,30,365: time each")
    parser.add_argument("--write", action="store_true", help="record in docs/benchmarks.md")
    args = parser.parse_args()
    spans = sorted({int(span) for span in args.spans.split(",")}) if args.spans else []
    args.days = max(spans, default=args.days)
    last = datetime.now(TZ).date() - timedelta(days=1)
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as workdir:
        server = LocalInfluxDB(Path(workdir) / "influxdb", die_with_parent=True)
        server.start()
        try:
            settings = InfluxSettings(url=server.url, database="canteen", timeout_s=120)
            influx = InfluxQL(settings)
            influx.create_database()
            lines = history(args.sites, args.days, args.drops, last)
            load_s = load(settings, lines)
            if spans:
                table = by_span(influx, args, spans, last, Path(workdir))
            else:
                table = by_path(influx, args, last, Path(workdir))
        finally:
            server.stop()
    waste = args.sites * args.days * args.drops
    result = (
        f"{args.sites} sites x {args.days} days, kitchen time Asia/Shanghai: {waste:,} waste "
        f"drops and {len(lines) - waste:,} entrance counts (one a minute, 06:00-20:00), "
        f"loaded in {load_s:.1f} s."
    )
    if spans:
        command = " ".join(a for a in sys.argv[1:] if a != "--write")
        result = (
            f"`python bench/reports.py {command}` on the machine above (2 vCPUs, shared), load "
            f"average (1 min) {before:.1f} before and {os.getloadavg()[0]:.1f} after, "
            f"{args.drops} waste drops a site a day: {result}"
        )
    print(result + table)
    if args.write:
        record(SPAN_SECTION if spans else SECTION, result + table)
    return 0


def _row(name: str, times: list[float]) -> str:
    ms = [t * 1000 for t in times]
    return f"| {name} | {statistics.median(ms):.0f} | {min(ms):.0f} | {max(ms):.0f} |"


def _cell(times: list[float]) -> str:
    ms = [t * 1000 for t in times]
    return f"{statistics.median(ms):.0f} ({min(ms):.0f}-{max(ms):.0f})"


def record(section: str, result: str) -> None:
    """Replace one of this benchmark's sections of docs/benchmarks.md."""
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text(encoding="utf-8")
    before, found, after = text.partition(section)
    rest = after[after.find("\n## ") :] if found and "\n## " in after else ""
    body = f"{section}\n\n{datetime.now(TZ).date()}, {result}\n"
    path.write_text((before.rstrip() + "\n\n" + body + rest).rstrip() + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
