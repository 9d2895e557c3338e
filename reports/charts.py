"""Charts drawn on the server as SVG geometry: pure numbers in, rectangles and lines out.

The pages need no script: the templates place these shapes in an `<svg>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 900.0, 240.0
LABEL_W = 150.0
ROW_H = 26.0


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its box, its label and its value as text."""

    x: float
    y: float
    w: float
    h: float
    label: str
    text: str


@dataclass(frozen=True, slots=True)
class Chart:
    """Bars, an optional line (second scale) and the scale's top values."""

    bars: tuple[Bar, ...]
    line: str
    top: float
    line_top: float
    width: float
    height: float


def kg(grams: float) -> str:
    """Grams as kilograms with one decimal."""
    return f"{grams / 1000:.1f} kg"


def _scale_top(values: Sequence[float]) -> float:
    top = max(values, default=0.0)
    return top * 1.1 if top > 0 else 1.0


def columns(
    values: Sequence[tuple[str, float]],
    line: Sequence[float | None] = (),
    unit: str = "kg",
    divide: float = 1000.0,
) -> Chart:
    """Vertical bars over time (grams shown in kg), and a polyline of a second figure."""
    top = _scale_top([v for _, v in values])
    step = WIDTH / max(1, len(values))
    bars = tuple(
        Bar(
            round(i * step + step * 0.1, 1),
            round(HEIGHT - v / top * HEIGHT, 1),
            round(step * 0.8, 1),
            round(v / top * HEIGHT, 1),
            label,
            f"{v / divide:.1f} {unit}",
        )
        for i, (label, v) in enumerate(values)
    )
    known = [v for v in line if v is not None]
    line_top = _scale_top(known)
    points = " ".join(
        f"{round(i * step + step / 2, 1)},{round(HEIGHT - v / line_top * HEIGHT, 1)}"
        for i, v in enumerate(line)
        if v is not None
    )
    return Chart(bars, points, top, line_top, WIDTH, HEIGHT)


def rows(values: Sequence[tuple[str, float]], texts: Sequence[str], width: float = WIDTH) -> Chart:
    """Horizontal bars, one row each, labels on the left."""
    top = _scale_top([v for _, v in values])
    span = width - LABEL_W - 90
    bars = tuple(
        Bar(LABEL_W, i * ROW_H + 3, round(max(0.0, v) / top * span, 1), ROW_H - 6, label, text)
        for i, ((label, v), text) in enumerate(zip(values, texts, strict=True))
    )
    return Chart(bars, "", top, 0.0, width, max(ROW_H, ROW_H * len(values)))
