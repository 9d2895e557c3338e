"""How fast a three-year daily waste trend is on the daily rollups, against raw readings.

A private InfluxDB 1.6.7 gets `canteen retention apply`'s layout, three years of daily
waste rollup rows written directly (one row per bin, category and day, as the continuous
query leaves them), and a smaller sample of raw drops (`--raw-days`, `--drops` a day). The
same trend query (grams per day) runs on both; the raw figure for three years is measured on
the sample and scaled by days, since a raw policy keeps 90 days and no more anyway.
`--write` replaces the "Long ranges" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from canteen.local_services import LocalInfluxDB  # noqa: E402
from canteen.settings import InfluxSettings  # noqa: E402
from timeseries import InfluxQL  # noqa: E402
from timeseries.influx import V1LineWriter  # noqa: E402
from timeseries.retention import RetentionLayout, apply_retention  # noqa: E402

SECTION = "## Long ranges (`python bench/rollups.py`)"
YEARS_DAYS = 3 * 365 + 1
BINS = ("bin-plate", "bin-prep", "bin-spoil", "bin-over")
CATEGORIES = ("plate", "prep", "spoilage", "overproduction")
TREND = (
    "SELECT sum(grams) FROM {source} WHERE time >= '{start}' AND time < '{end}' GROUP BY time(1d)"
)


def _write(settings: InfluxSettings, lines: list[str]) -> None:
    writer = V1LineWriter(settings)
    for at in range(0, len(lines), 5000):
        writer.write(lines[at : at + 5000])
    writer.close()


def _daily_rows(today: datetime, rng: random.Random) -> list[str]:
    lines = []
    for day in range(YEARS_DAYS):
        ms = int((today - timedelta(days=day)).timestamp() * 1000)
        for sensor, category in zip(BINS, CATEGORIES, strict=True):
            grams = round(rng.uniform(2000, 30000), 1)
            drops = rng.randint(20, 200)
            lines.append(
                f"waste_1d,category={category},device=scale-1,sensor={sensor},site=site-a"
                f" grams={grams},drops={drops} {ms}"
            )
    return lines


def _raw_rows(today: datetime, days: int, drops: int, rng: random.Random) -> list[str]:
    lines = []
    start = int((today - timedelta(days=days)).timestamp() * 1000)
    for _ in range(days * drops):
        ms = start + rng.randrange(days * 86_400_000)
        index = rng.randrange(4)
        lines.append(
            f"waste,category={CATEGORIES[index]},device=scale-1,dish=rice,sensor={BINS[index]},"
            f"site=site-a grams={round(rng.uniform(5, 900), 1)} {ms}"
        )
    return lines


def _time(query: InfluxQL, statement: str, runs: int) -> tuple[float, int]:
    times = []
    rows = 0
    for _ in range(runs):
        began = time.perf_counter()
        rows = len(query.rows(statement))
        times.append(time.perf_counter() - began)
    return statistics.median(times), rows


def run(raw_days: int, drops: int, runs: int) -> str:
    """Run the benchmark; return its Markdown section body."""
    rng = random.Random(1)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end = (today + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    with tempfile.TemporaryDirectory() as folder:
        server = LocalInfluxDB(Path(folder))
        server.start()
        try:
            settings = InfluxSettings(url=server.url, database="canteen")
            query = InfluxQL(settings)
            # raw kept long enough for the sample; the rollup policies as in production
            apply_retention(query, RetentionLayout(raw_days=max(90, raw_days + 2)))
            _write(
                settings.model_copy(update={"retention_policy": "rp_daily"}),
                _daily_rows(today, rng),
            )
            raw = _raw_rows(today, raw_days, drops, rng)
            _write(settings, raw)
            years_start = (
                (today - timedelta(days=YEARS_DAYS - 1)).isoformat().replace("+00:00", "Z")
            )
            sample_start = (today - timedelta(days=raw_days)).isoformat().replace("+00:00", "Z")
            rollup_3y, rows_3y = _time(
                query,
                TREND.format(source='"rp_daily"."waste_1d"', start=years_start, end=end),
                runs,
            )
            rollup_s, _ = _time(
                query,
                TREND.format(source='"rp_daily"."waste_1d"', start=sample_start, end=end),
                runs,
            )
            raw_s, _ = _time(
                query, TREND.format(source='"autogen"."waste"', start=sample_start, end=end), runs
            )
            query.close()
        finally:
            server.stop()
    raw_3y = raw_s * YEARS_DAYS / raw_days
    return (
        f"`python bench/rollups.py --raw-days {raw_days} --drops {drops}` on the machine "
        "above (shared, so figures move between runs). InfluxDB 1.6.7, one site, 4 bins: "
        f"{YEARS_DAYS * 4:,} daily rollup rows "
        f"(`rp_daily.waste_1d`, 3 years) and a raw sample of {len(raw):,} drops "
        f"({raw_days} days at {drops} a day). Query: grams per day, `GROUP BY time(1d)`; "
        f"median of {runs} runs.\n\n"
        "| query | span | rows scanned | ms |\n|---|---|---|---|\n"
        f"| daily rollups | 3 years ({rows_3y} days) | {YEARS_DAYS * 4:,} "
        f"| {rollup_3y * 1000:.1f} |\n"
        f"| daily rollups | {raw_days} days | {(raw_days + 1) * 4:,} | {rollup_s * 1000:.1f} |\n"
        f"| raw drops | {raw_days} days | {len(raw):,} | {raw_s * 1000:.1f} |\n"
        f"| raw drops, scaled | 3 years | {YEARS_DAYS * drops:,} | {raw_3y * 1000:.0f} (est.) |\n\n"
        f"- Same span ({raw_days} days): rollups **{raw_s / rollup_s:.0f}x** faster than raw.\n"
        f"- Three-year trend: rollups {rollup_3y * 1000:.0f} ms against an estimated "
        f"{raw_3y * 1000:.0f} ms on raw drops, **{raw_3y / rollup_3y:.0f}x**; raw is kept "
        "90 days by default, so beyond that the rollups are the only source anyway.\n"
    )


def record(result: str) -> None:
    """Replace this benchmark's section of docs/benchmarks.md."""
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text(encoding="utf-8")
    before, found, after = text.partition(SECTION)
    rest = after[after.find("\n## ") :] if found and "\n## " in after else ""
    body = f"{SECTION}\n\n{datetime.now(UTC).date()}, {result}"
    path.write_text((before.rstrip() + "\n\n" + body + rest).rstrip() + "\n", encoding="utf-8")


def main() -> int:
    """Parse the options, run, print (and with --write record) the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw-days", type=int, default=90, help="days of raw drops")
    parser.add_argument("--drops", type=int, default=800, help="raw waste drops a day")
    parser.add_argument("--runs", type=int, default=7, help="runs per query")
    parser.add_argument("--write", action="store_true", help="record in docs/benchmarks.md")
    args = parser.parse_args()
    result = run(args.raw_days, args.drops, args.runs)
    print(result)
    if args.write:
        record(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
