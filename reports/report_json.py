"""The waste report and the forecast as JSON (the API) and CSV (spreadsheets)."""

from __future__ import annotations

import csv
import io
from typing import Any

from reports.forecast_sources import SiteForecast
from reports.targets import Progress
from reports.waste import Figures, WasteReport


def figures_json(f: Figures) -> dict[str, Any]:
    """A slice's figures."""
    return {
        "grams": round(f.grams, 3),
        "diners": f.diners,
        "grams_per_diner": None if f.grams_per_diner is None else round(f.grams_per_diner, 3),
        "cost": round(f.cost, 4),
        "unpriced_grams": round(f.unpriced_grams, 3),
    }


def progress_json(p: Progress | None) -> dict[str, Any] | None:
    """The change against the baseline, and the target."""
    if p is None:
        return None
    return {
        "baseline_start": p.baseline_first.isoformat(),
        "baseline_end": p.baseline_last.isoformat(),
        "baseline_grams": round(p.baseline_grams, 3),
        "baseline_grams_per_diner": p.baseline_grams_per_diner,
        "grams_change_pct": p.grams_change_pct,
        "grams_per_diner_change_pct": p.per_diner_change_pct,
        "target_grams_per_diner": p.target_grams_per_diner,
        "target_met": p.target_met,
    }


def report_json(report: WasteReport, progress: Progress | None) -> dict[str, Any]:
    """Every figure of a waste report."""
    return {
        "sites": list(report.sites),
        "start": report.period.first.isoformat(),
        "end": report.period.last.isoformat(),
        "group": report.group,
        "total": figures_json(report.total),
        "series": [{"start": d.isoformat(), **figures_json(f)} for d, f in report.series],
        "by_category": {k: figures_json(f) for k, f in report.by_category.items()},
        "by_meal": {k: figures_json(f) for k, f in report.by_meal.items()},
        "by_site": {k: figures_json(f) for k, f in report.by_site.items()},
        "dishes": [
            {"dish": d.dish, "grams": round(d.grams, 3), "cost": round(d.cost, 4), "share": d.share}
            for d in report.dishes
        ],
        "progress": progress_json(progress),
    }


def report_csv(report: WasteReport) -> str:
    """One row per period of the series, then per category, meal and dish."""
    out = io.StringIO()
    table = csv.writer(out, lineterminator="\r\n")
    table.writerow(
        ["section", "key", "grams", "diners", "grams_per_diner", "cost", "unpriced_grams"]
    )

    def row(section: str, key: str, f: Figures) -> None:
        gpd = "" if f.grams_per_diner is None else f"{f.grams_per_diner:.2f}"
        table.writerow([section, key, f"{f.grams:.1f}", f"{f.diners:g}", gpd, f"{f.cost:.2f}",
                        f"{f.unpriced_grams:.1f}"])  # fmt: skip

    row("total", "all", report.total)
    for day, f in report.series:
        row(report.group, day.isoformat(), f)
    for section, slices in (("category", report.by_category), ("meal", report.by_meal),
                            ("site", report.by_site)):  # fmt: skip
        for key, f in slices.items():
            row(section, key, f)
    for d in report.dishes:
        table.writerow(["dish", d.dish, f"{d.grams:.1f}", "", "", f"{d.cost:.2f}", ""])
    return out.getvalue()


def forecast_csv(found: SiteForecast) -> str:
    """The forecast's meals, then the portions that follow, then the backtest's errors."""
    out = io.StringIO()
    table = csv.writer(out, lineterminator="\r\n")
    table.writerow(["section", "date", "meal", "dish", "value", "outdoor_c", "detail"])
    for r in found.meals:
        table.writerow(
            ["diners", r.day, r.meal, "", _number(r.diners), _number(r.celsius),
             f"temperature adjustment {r.adjustment:+.1f}"]
        )  # fmt: skip
    for p in found.portions:
        table.writerow(
            ["portions", p.day, p.meal, p.dish, f"{p.portions:.1f}", "",
             f"share {p.share:.3f}, cold factor {p.cold_factor:.2f}"]
        )  # fmt: skip
    bt = found.backtest
    for name, errors in (("forecast", bt.model), ("seasonal_naive", bt.naive)):
        table.writerow(
            ["backtest", f"{bt.first}..{bt.last}", "", name, _number(errors.mae), "",
             f"MAPE {_number(errors.mape)} %, {errors.count} meals"]
        )  # fmt: skip
    return out.getvalue()


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def forecast_json(found: SiteForecast) -> dict[str, Any]:
    """The forecast next to its backtest errors."""
    bt = found.backtest
    return {
        "site": found.site,
        "start": found.first.isoformat(),
        "meals": [
            {
                "date": r.day.isoformat(),
                "meal": r.meal,
                "diners": r.diners,
                "outdoor_c": r.celsius,
                "temperature_adjustment": r.adjustment,
            }
            for r in found.meals
        ],
        "backtest": {
            "start": bt.first.isoformat(),
            "end": bt.last.isoformat(),
            "forecast": {"mae": bt.model.mae, "mape_pct": bt.model.mape, "n": bt.model.count},
            "seasonal_naive": {"mae": bt.naive.mae, "mape_pct": bt.naive.mape, "n": bt.naive.count},
        },
        "portions": [
            {
                "date": p.day.isoformat(),
                "meal": p.meal,
                "dish": p.dish,
                "share": p.share,
                "portions": p.portions,
                "cold_factor": p.cold_factor,
            }
            for p in found.portions
        ],
        "portion_share_source": "waste drops tagged with the dish (a proxy: no servings counted)",
    }
