"""Retention policies and rollups against the real InfluxDB 1.6.7."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from canteen.settings import InfluxSettings
from timeseries import InfluxQL
from timeseries.influx import V1LineWriter
from timeseries.retention import (
    ROLLUPS,
    RetentionLayout,
    apply_retention,
    backfill,
    show_rows,
)

pytestmark = pytest.mark.integration

DAYS = 4
START = (datetime.now(UTC) - timedelta(days=DAYS + 1)).replace(
    hour=0, minute=0, second=0, microsecond=0
)
END = START + timedelta(days=DAYS)


def _lines(seed: int = 7) -> tuple[list[str], list[tuple[int, str, dict[str, float]]]]:
    """Random readings over DAYS days; also the same as (ms, measurement+tags, fields)."""
    rng = random.Random(seed)
    lines: list[str] = []
    points: list[tuple[int, str, dict[str, float]]] = []
    start_ms = int(START.timestamp() * 1000)
    for _ in range(3000):
        ms = start_ms + rng.randrange(DAYS * 86_400_000)
        kind = rng.choice(("waste", "temperature", "occupancy"))
        if kind == "waste":
            series = f"waste,category={rng.choice(['plate', 'prep'])},device=w1,sensor=bin,site=s"
            fields: dict[str, float] = {"grams": round(rng.uniform(5, 900), 1)}
            text = f"grams={fields['grams']}"
        elif kind == "temperature":
            series = f"temperature,device=f1,sensor=fridge-{rng.randint(1, 2)},site=s"
            fields = {"celsius": round(rng.uniform(1, 9), 2)}
            text = f"celsius={fields['celsius']}"
        else:
            series = "occupancy,device=door,sensor=dining,site=s"
            fields = {k: rng.randint(0, 9) for k in ("entered", "exited", "present")}
            text = ",".join(f"{k}={v}i" for k, v in fields.items())
        lines.append(f"{series} {text} {ms}")
        points.append((ms, series, fields))
    return lines, points


def _expected(points: list[tuple[int, str, dict[str, float]]], step_ms: int) -> dict[str, dict]:
    """The rollups computed in Python: {measurement,tags@bucket: {field: value}}."""
    buckets: dict[tuple[str, int], list[tuple[int, dict[str, float]]]] = defaultdict(list)
    for ms, series, fields in points:
        buckets[(series, ms - ms % step_ms)].append((ms, fields))
    expected: dict[str, dict] = {}
    for (series, bucket), items in buckets.items():
        items.sort(key=lambda item: item[0])
        if series.startswith("waste"):
            grams = [f["grams"] for _, f in items]
            values = {"grams": sum(grams), "drops": len(grams)}
        elif series.startswith("temperature"):
            c = [f["celsius"] for _, f in items]
            values = {
                "celsius_min": min(c),
                "celsius_max": max(c),
                "celsius_mean": sum(c) / len(c),
                "samples": len(c),
            }
        else:
            values = {
                "entered": sum(f["entered"] for _, f in items),
                "exited": sum(f["exited"] for _, f in items),
                "present": items[-1][1]["present"],
                "present_max": max(f["present"] for _, f in items),
            }
        expected[f"{series}@{bucket}"] = values
    return expected


def _stored(query: InfluxQL, policy: str, suffix: str) -> dict[str, dict]:
    stored: dict[str, dict] = {}
    tag_keys = {"category", "device", "dish", "sensor", "site"}
    for source in ("waste", "temperature", "occupancy"):
        for series in query.query(f'SELECT * FROM "{policy}"."{source}_{suffix}"'):  # noqa: S608
            for row in series.rows():
                tags = ",".join(f"{k}={row[k]}" for k in sorted(tag_keys) if row.get(k))
                fields = {
                    k: v for k, v in row.items() if k not in tag_keys | {"time"} and v is not None
                }
                stored[f"{source},{tags}@{row['time']}"] = fields
    return stored


def _assert_close(stored: dict[str, dict], expected: dict[str, dict]) -> None:
    assert stored.keys() == expected.keys()
    for key, values in expected.items():
        assert stored[key] == pytest.approx(values), key


def test_apply_creates_the_policies_and_twice_changes_nothing(influxql: InfluxQL) -> None:
    changes = apply_retention(influxql, RetentionLayout(raw_days=30))
    assert changes
    policies = {row["name"]: row for row in influxql.rows("SHOW RETENTION POLICIES")}
    assert policies["autogen"]["duration"] == "720h0m0s"
    assert policies["autogen"]["default"] is True
    assert policies["rp_hourly"]["duration"] == f"{5 * 366 * 24}h0m0s"
    assert policies["rp_daily"]["duration"] == "0s"
    database = influxql.settings.database
    cqs = [
        row for row in show_rows(influxql, "SHOW CONTINUOUS QUERIES") if row["series"] == database
    ]
    assert sorted(row["name"] for row in cqs) == sorted(r.cq_name for r in ROLLUPS)

    assert apply_retention(influxql, RetentionLayout(raw_days=30)) == []
    assert {row["name"]: row for row in influxql.rows("SHOW RETENTION POLICIES")} == policies
    again = [
        row for row in show_rows(influxql, "SHOW CONTINUOUS QUERIES") if row["series"] == database
    ]
    assert again == cqs

    assert apply_retention(influxql, RetentionLayout(raw_days=90)) == [
        "changed retention policy autogen to 90d"
    ]
    policies = {row["name"]: row for row in influxql.rows("SHOW RETENTION POLICIES")}
    assert policies["autogen"]["duration"] == "2160h0m0s"


def test_continuous_query_and_backfill_share_one_select() -> None:
    for rollup in ROLLUPS:
        cq = rollup.continuous_query("canteen")
        assert f"BEGIN {rollup.select('canteen')} END" in cq
        assert rollup.backfill("canteen", START, END).startswith(
            rollup.select("canteen").split(" GROUP BY")[0]
        )


def test_layout_refuses_a_policy_shorter_than_the_rollup_window() -> None:
    with pytest.raises(ValueError, match="raw_days"):
        RetentionLayout(raw_days=1)


def test_backfilled_rollups_equal_an_independent_computation(v1_influx: InfluxSettings) -> None:
    query = InfluxQL(v1_influx)
    apply_retention(query)
    lines, points = _lines()
    writer = V1LineWriter(v1_influx)
    writer.write(lines)
    writer.close()

    written = backfill(query, START, END)

    hourly = _expected(points, 3_600_000)
    daily = _expected(points, 86_400_000)
    assert written == len(hourly) + len(daily)
    _assert_close(_stored(query, "rp_hourly", "1h"), hourly)
    _assert_close(_stored(query, "rp_daily", "1d"), daily)
    # a second backfill overwrites the same points: nothing doubles
    backfill(query, START, END)
    _assert_close(_stored(query, "rp_daily", "1d"), daily)


def test_the_command_applies_the_layout_and_says_when_nothing_changed(
    v1_influx: InfluxSettings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from canteen.cli import main

    monkeypatch.setenv("CANTEEN_INFLUX_URL", v1_influx.url)
    monkeypatch.setenv("CANTEEN_INFLUX_DB", v1_influx.database)
    assert main(["retention", "apply", "--raw-days", "60"]) == 0
    assert "created retention policy rp_daily (INF)" in capsys.readouterr().out
    assert main(["retention", "apply", "--raw-days", "60"]) == 0
    assert "nothing changed" in capsys.readouterr().out
    assert main(["retention", "apply", "--raw-days", "1"]) == 2
    assert main(["retention", "backfill", "--days", "3"]) == 0
