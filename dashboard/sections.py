"""Turn a site's live view into the JSON the wall screen draws: a snapshot, or one section.

A snapshot carries whole curves; a section update carries only the newest curve point,
so a screen's work per update stays small however long its charts are.
"""

from __future__ import annotations

from typing import Any

from canteen.cold_units import DEFAULT_RANGES
from dashboard.live import ColdUnitView, DeviceView, Section, SiteView
from dashboard.settings import WASTE_CATEGORIES, DashboardSettings


def cold_unit(unit: ColdUnitView, *, whole_curve: bool) -> Section:
    """A cold unit's tile."""
    limits = DEFAULT_RANGES[unit.kind]
    points = sorted(unit.spark.items())
    return {
        "key": f"{unit.device}/{unit.sensor}",
        "device": unit.device,
        "sensor": unit.sensor,
        "kind": unit.kind.value,
        "celsius": unit.celsius,
        "ts_ms": unit.ts_ms or None,
        "state": limits.state(unit.celsius).value,
        "warning_c": limits.warning_c,
        "critical_c": limits.critical_c,
        "door_open": unit.door_open,
        "door_ts_ms": unit.door_ts_ms or None,
        "spark": [list(p) for p in points] if whole_curve else [list(p) for p in points[-1:]],
    }


def _curve(view: SiteView) -> list[list[int]]:
    buckets: dict[int, int] = {}
    for per_sensor in view.curve.values():
        for bucket, present in per_sensor.items():
            buckets[bucket] = buckets.get(bucket, 0) + present
    return [[bucket, present] for bucket, present in sorted(buckets.items())]


def dining(view: SiteView, settings: DashboardSettings, *, whole_curve: bool) -> Section:
    """The dining room: present now against capacity, today's entries and curve."""
    curve = _curve(view)
    latest = max((ts for ts, _ in view.present.values()), default=0)
    return {
        "present": sum(present for _, present in view.present.values()),
        "capacity": settings.dining_capacity,
        "entered": view.entered,
        "exited": view.exited,
        "ts_ms": latest or None,
        "curve": curve if whole_curve else curve[-1:],
    }


def waste(view: SiteView, settings: DashboardSettings) -> Section:
    """Today's food waste against the target, by category."""
    by_category = {name: round(view.waste_g.get(name, 0.0), 1) for name in WASTE_CATEGORIES}
    return {
        "total_g": round(sum(view.waste_g.values()), 1),
        "target_g": settings.waste_target_g,
        "by_category": by_category,
        "drops": view.drops,
    }


def device(name: str, status: DeviceView) -> Section:
    """A device's health line."""
    return {
        "device": name,
        "online": status.online,
        "seen_ms": status.seen_ms or None,
        "backlog": status.backlog,
        "clock_synced": status.clock_synced,
        "refused": status.refused,
    }


def snapshot(
    view: SiteView, settings: DashboardSettings, now_ms: int, day_start_ms: int
) -> dict[str, Any]:
    """Everything a screen needs to draw a site from scratch."""
    return {
        "site": view.site,
        "day": view.day.isoformat() if view.day else None,
        "now_ms": now_ms,
        "day_start_ms": day_start_ms,
        "timezone": settings.zone_name(),
        "stale_after_s": settings.stale_after_s,
        "sparkline_hours": settings.sparkline_hours,
        "cold": [
            cold_unit(unit, whole_curve=True)
            for _, unit in sorted(view.cold.items())
            if unit.celsius is not None
        ],
        "dining": dining(view, settings, whole_curve=True),
        "waste": waste(view, settings),
        "devices": [device(name, status) for name, status in sorted(view.devices.items())],
    }


def section(view: SiteView, key: str, settings: DashboardSettings) -> Section | None:
    """One changed section as a screen applies it, or None if it shows nothing yet."""
    if key.startswith("cold:"):
        unit = view.cold.get(key.removeprefix("cold:"))
        if unit is None or unit.celsius is None:
            return None
        return {"cold": cold_unit(unit, whole_curve=False)}
    if key == "dining":
        return {"dining": dining(view, settings, whole_curve=False)}
    if key == "waste":
        return {"waste": waste(view, settings)}
    if key.startswith("device:"):
        name = key.removeprefix("device:")
        status = view.devices.get(name)
        return None if status is None else {"device": device(name, status)}
    return None
