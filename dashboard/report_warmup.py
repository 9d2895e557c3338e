"""Keep the waste reports' per-day rollups filled, so a manager's first report is fast too.

A 90-day report over many sites sums millions of points when it reads InfluxDB; once its
days are rolled up (reports/rollups.py) it reads SQLite and answers in well under a second.
So the dashboard rolls up the last `rollup_warm_days` days of every site a little after it
starts and then every hour, off the event loop: the report a manager opens finds them.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.haccp import LogPeriod
from dashboard.history import stored_sites
from dashboard.report_routes import opened
from reports.menu import MENU_FILE, MenuStore
from reports.rollups import ROLLUP_FILE, Rollups
from reports.waste_sources import waste_report
from timeseries import InfluxError

logger = logging.getLogger(__name__)

FIRST_AFTER_S = 20.0
EVERY_S = 3600.0


def warm_rollups(state: Any, days: int) -> int:
    """Roll up the last `days` kitchen days of every stored site; return how many sites."""
    settings = state.settings
    tz = settings.tz()
    today = datetime.now(UTC).astimezone(tz).date()
    sites = stored_sites(state.influx)
    if not sites:
        return 0
    menu: MenuStore = opened(state, "menu_store", MenuStore, MENU_FILE)
    kept: Rollups = opened(state, "report_rollups", Rollups, ROLLUP_FILE)
    menus = {site: menu.site_menu(site) for site in sites}
    period = LogPeriod(today - timedelta(days=days - 1), today, tz)
    waste_report(state.influx, sites, period, "day", menus, kept)
    return len(sites)


async def keep_rollups_warm(state: Any, days: int) -> None:
    """Warm the rollups soon after start, then every hour, until cancelled."""
    await asyncio.sleep(FIRST_AFTER_S)
    while True:
        try:
            sites = await asyncio.to_thread(warm_rollups, state, days)
            logger.info("report rollups up to date for %d sites (%d days)", sites, days)
        except InfluxError as err:
            logger.warning("cannot roll up the waste reports yet: %s", err)
        except Exception:  # a background task: log it and try again in an hour
            logger.exception("rolling up the waste reports failed")
        await asyncio.sleep(EVERY_S)
