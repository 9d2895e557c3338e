"""Fixtures for the edge tests: a fresh gpiozero MockFactory per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory


@pytest.fixture
def mock_factory() -> Iterator[Any]:
    """A MockFactory of its own, passed to devices as `pin_factory` (never made global)."""
    factory = MockFactory()
    yield factory
    factory.reset()
