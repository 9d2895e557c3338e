"""The dashboard fixtures (real uvicorn) for the report pages' tests; Chromium is the root's."""

from tests.dashboard.conftest import start_dashboard

__all__ = ["start_dashboard"]
