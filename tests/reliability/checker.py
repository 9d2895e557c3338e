"""A Jepsen-style checker: what the edge agents produced against what InfluxDB holds.

A reading is identified by (site, device, sensor, ts in epoch ms), as InfluxDB stores it
(series + timestamp). Comparing the produced set with the stored one, every difference
gets one class, as Jepsen's queue checker does:
- lost: produced, not in InfluxDB, and not rejected by the hub;
- rejected: produced, not in InfluxDB, but in the hub's dead-letter store (e.g. a `ts`
  more than 5 minutes ahead of the hub's clock): refused on purpose, with a reason;
- unkept: produced by the sensor in the agent's very last poll before a SIGKILL and
  never written to the outbox (the outbox's promise starts at its commit);
- duplicated: stored under the same series and timestamp but with another value (one
  delivery overwrote another's); re-delivery of the same value is harmless and counted
  nowhere, since InfluxDB keeps one point per series and timestamp;
- unexpected: in InfluxDB for the scenario's site, never produced (extra points or
  extra series, in any of the four telemetry measurements).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from protocol import epoch_ms, parse_ts
from timeseries import InfluxQL, quote_literal

Key = tuple[str, str, str, int]
"""(site, device, sensor, ts in epoch milliseconds)."""

TELEMETRY = ("temperature", "door", "waste", "occupancy")
RESULTS: list[Result] = []
"""Every scenario's result in this test session, for the terminal summary."""


@dataclass
class Result:
    """One scenario's accounting; `ok` when nothing was lost, duplicated or unexpected."""

    scenario: str
    produced: int
    found: int
    lost: set[Key] = field(default_factory=set)
    duplicated: set[Key] = field(default_factory=set)
    unexpected: set[Key] = field(default_factory=set)
    rejected: set[Key] = field(default_factory=set)
    unkept: set[Key] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing lost, duplicated or unexpected."""
        return not (self.lost or self.duplicated or self.unexpected)

    def summary(self) -> str:
        """A one-line account, with a few examples of each difference."""
        parts = [f"{self.scenario}: produced {self.produced}, found {self.found}"]
        for name in ("lost", "duplicated", "unexpected", "rejected", "unkept"):
            keys: set[Key] = getattr(self, name)
            if keys:
                parts.append(f"{name} {len(keys)} (e.g. {sorted(keys)[:3]})")
        return "; ".join(parts + self.notes)


def stored(influxql: InfluxQL, site: str) -> dict[Key, list[float | None]]:
    """Every telemetry point of a site, by key; temperature's value is its `celsius`."""
    found: dict[Key, list[float | None]] = {}
    for measurement in TELEMETRY:
        series = influxql.query(
            f'SELECT * FROM "{measurement}" WHERE "site" = {quote_literal(site)}'  # noqa: S608 (InfluxQL, quoted)
            ' GROUP BY "device", "sensor"'
        )
        for one in series:
            device, sensor = one.tags.get("device", ""), one.tags.get("sensor", "")
            for row in one.rows():
                value = row.get("celsius") if measurement == "temperature" else None
                key = (site, device, sensor, int(row["time"]))
                found.setdefault(key, []).append(value)
    return found


def dead_lettered(hub_db: Path) -> set[Key]:
    """The readings the hub's dead-letter store holds (reading-level rejections)."""
    if not hub_db.exists():
        return set()
    db = sqlite3.connect(hub_db)
    try:
        rows = db.execute(
            "SELECT topic, payload FROM dead_letters WHERE reading_index IS NOT NULL"
        ).fetchall()
    finally:
        db.close()
    keys: set[Key] = set()
    for topic, payload in rows:
        _, site, device, _ = topic.split("/")
        raw = json.loads(payload)
        keys.add((site, device, raw["sensor"], epoch_ms(parse_ts(raw["ts"]))))
    return keys


def check(
    scenario: str,
    produced: Mapping[Key, float],
    found: Mapping[Key, list[float | None]],
    rejected: Iterable[Key] = (),
    unkept: Iterable[Key] = (),
) -> Result:
    """Classify every difference between the produced readings and the stored points."""
    rejected_set, unkept_set = set(rejected), set(unkept)
    missing = set(produced) - set(found)
    result = Result(scenario, len(produced), len(set(produced) & set(found)))
    result.rejected = missing & rejected_set
    result.unkept = (missing - rejected_set) & unkept_set
    result.lost = missing - rejected_set - unkept_set
    result.unexpected = set(found) - set(produced)
    result.duplicated = {
        key
        for key, values in found.items()
        if key in produced and (len(values) > 1 or values[0] != produced[key])
    }
    RESULTS.append(result)
    return result


COLUMNS = (
    "scenario",
    "produced",
    "found",
    "lost",
    "duplicated",
    "unexpected",
    "rejected",
    "unkept",
)


def table(results: Iterable[Result]) -> str:
    """The results as a Markdown table."""
    rows = [list(COLUMNS)]
    for r in results:
        counts = (r.lost, r.duplicated, r.unexpected, r.rejected, r.unkept)
        rows.append([r.scenario, str(r.produced), str(r.found), *(str(len(c)) for c in counts)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
