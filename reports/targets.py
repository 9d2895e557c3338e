"""Progress of a waste report: the change against a baseline period, and the site's target.

Pure. The change is in % of the baseline (negative: less waste); per diner, so a busier
month is not blamed for feeding more people. A reduction target becomes a goal in grams
per diner: the baseline's, less the reduction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from reports.waste import WasteReport


@dataclass(frozen=True, slots=True)
class Progress:
    """The period against a baseline period, and against the site's target."""

    baseline_first: date
    baseline_last: date
    baseline_grams: float
    baseline_grams_per_diner: float | None
    grams_change_pct: float | None
    per_diner_change_pct: float | None
    target_grams_per_diner: float | None
    """The goal in g/diner: set directly, or the baseline less the target reduction."""
    target_met: bool | None


def _change(now: float | None, before: float | None) -> float | None:
    return (now - before) / before * 100 if now is not None and before else None


def progress(
    report: WasteReport,
    baseline: WasteReport,
    grams_per_diner: float | None = None,
    reduction_pct: float | None = None,
) -> Progress:
    """Compare a report with the same figures over a baseline period (% change)."""
    now_gpd = report.total.grams_per_diner
    before_gpd = baseline.total.grams_per_diner
    goal = grams_per_diner
    if goal is None and reduction_pct is not None and before_gpd is not None:
        goal = before_gpd * (1 - reduction_pct / 100)
    met = None if goal is None or now_gpd is None else now_gpd <= goal
    return Progress(
        baseline.period.first,
        baseline.period.last,
        baseline.total.grams,
        before_gpd,
        _change(report.total.grams, baseline.total.grams),
        _change(now_gpd, before_gpd),
        goal,
        met,
    )
