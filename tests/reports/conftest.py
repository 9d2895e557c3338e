"""The dashboard fixtures (real uvicorn, Chromium) for the report pages' tests."""

from tests.dashboard.conftest import chromium, start_dashboard

__all__ = ["chromium", "start_dashboard"]
