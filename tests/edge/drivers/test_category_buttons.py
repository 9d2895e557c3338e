"""Category buttons: the pure selector, and the buttons on mock pins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from edge.drivers.category_buttons import CategoryButtonConfig, CategoryButtons, CategorySelector
from protocol import WasteCategory

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PREP, SPOILAGE = WasteCategory.PREP, WasteCategory.SPOILAGE


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_press_applies_to_the_next_drop_once() -> None:
    selector = CategorySelector(timedelta(seconds=60))
    assert selector.take(at(0)) is None
    selector.press(PREP, at(10))
    assert selector.take(at(30)) is PREP
    assert selector.take(at(40)) is None


def test_a_press_expires() -> None:
    selector = CategorySelector(timedelta(seconds=60))
    selector.press(PREP, at(0))
    assert selector.take(at(61)) is None
    assert selector.take(at(62)) is None


def test_the_last_press_wins() -> None:
    selector = CategorySelector(timedelta(seconds=60))
    selector.press(PREP, at(0))
    selector.press(SPOILAGE, at(5))
    assert selector.take(at(10)) is SPOILAGE


def test_a_press_after_the_drop_waits_for_the_next() -> None:
    selector = CategorySelector(timedelta(seconds=60))
    selector.press(PREP, at(20))
    assert selector.take(at(10)) is None
    assert selector.take(at(25)) is PREP


def test_buttons_on_mock_pins(mock_factory: Any) -> None:
    now = [at(0)]
    buttons = CategoryButtons(
        [
            CategoryButtonConfig(pin=5, category=PREP),
            CategoryButtonConfig(pin=6, category=SPOILAGE),
        ],
        timeout_s=60,
        pin_factory=mock_factory,
        clock=lambda: now[0],
    )
    pin = mock_factory.pin(6)
    pin.drive_low()  # pressed: the button shorts the pulled-up pin to ground
    pin.drive_high()
    now[0] = at(20)
    assert buttons.category_for(at(20)) is SPOILAGE
    assert buttons.category_for(at(40)) is None
    buttons.close()


def test_config_refuses_unknown_categories() -> None:
    with pytest.raises(ValidationError, match="category"):
        CategoryButtonConfig.model_validate({"pin": 5, "category": "compost"})
