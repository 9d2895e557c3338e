"""Collects the people counter's accuracy as the tests see it, and prints it at the end."""

from __future__ import annotations

from collections.abc import Callable

import pytest

_lines: list[str] = []


@pytest.fixture
def report_accuracy() -> Callable[[str], None]:
    """Add a line to the people counter's accuracy summary."""
    return _lines.append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the people counter counted against the truth."""
    if _lines:
        terminalreporter.section("people counter accuracy")
        for line in _lines:
            terminalreporter.write_line(line)
