"""The hub's menu in SQLite (`menu.sqlite3`): dishes, costs, meal windows, targets, weather, bins.

The schema is versioned like alerts/store.py: `MIGRATIONS` are applied in order, once
each, inside a transaction. Every value is checked on the way in by reports/menu_checks.py
(`MenuError` says which and why), so a report never meets a negative cost or a meal that
ends before it starts.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import date, time
from pathlib import Path

from canteen.sqlite_schema import migrate, schema_version
from protocol import WasteCategory
from reports.kitchen import Dish, MealWindow, SiteMenu, WasteTarget, default_windows
from reports.menu_checks import (
    check_category_cost,
    check_dish,
    check_outdoor_temperatures,
    check_station,
    check_target,
    check_windows,
)
from reports.stations import Bin, Station

MENU_FILE = "menu.sqlite3"

MIGRATIONS = (
    """
    CREATE TABLE dishes (
        site TEXT NOT NULL, slug TEXT NOT NULL,
        name_zh TEXT NOT NULL, name_en TEXT NOT NULL,
        cost_per_kg REAL, hot INTEGER NOT NULL DEFAULT 0, soup INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (site, slug)
    );
    CREATE TABLE category_costs (
        site TEXT NOT NULL, category TEXT NOT NULL, cost_per_kg REAL NOT NULL,
        PRIMARY KEY (site, category)
    );
    CREATE TABLE meal_windows (
        site TEXT NOT NULL, meal TEXT NOT NULL, start TEXT NOT NULL, "end" TEXT NOT NULL,
        PRIMARY KEY (site, meal)
    );
    CREATE TABLE targets (
        site TEXT PRIMARY KEY, grams_per_diner REAL, reduction_pct REAL,
        baseline_first TEXT, baseline_last TEXT
    );
    CREATE TABLE outdoor_temperatures (
        site TEXT NOT NULL, day TEXT NOT NULL, celsius REAL NOT NULL, PRIMARY KEY (site, day)
    );
    """,
    """
    CREATE TABLE bins (
        site TEXT NOT NULL, device TEXT NOT NULL, category TEXT, dish TEXT,
        PRIMARY KEY (site, device)
    );
    """,
    # Categories per bin (sensor). What was pushed to a device moves to `stations`; a
    # category set for a whole device before stays there as the device's default, still
    # pushed as the config's `category`: its bins keep it until each is set or it is cleared.
    """
    CREATE TABLE stations (
        site TEXT NOT NULL, device TEXT NOT NULL, dish TEXT, category TEXT,
        PRIMARY KEY (site, device)
    );
    INSERT INTO stations (site, device, dish, category)
        SELECT site, device, dish, category FROM bins;
    DROP TABLE bins;
    CREATE TABLE bins (
        site TEXT NOT NULL, device TEXT NOT NULL, sensor TEXT NOT NULL, category TEXT,
        PRIMARY KEY (site, device, sensor)
    );
    """,
)


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _category(text: str | None) -> WasteCategory | None:
    return WasteCategory(text) if text else None


def _category_value(category: WasteCategory | None) -> str | None:
    return WasteCategory(category).value if category else None


class MenuStore:
    """The menu tables of the hub's SQLite file; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.RLock()
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            migrate(self._db, "menu_schema", MIGRATIONS, "menu")

    @property
    def schema_version(self) -> int:
        """The migration the database is at."""
        return schema_version(self._db, "menu_schema")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _run(self, statement: str, values: tuple[object, ...]) -> None:
        with self._lock:
            self._db.execute(statement, values)

    def dishes(self, site: str) -> list[Dish]:
        """A site's dishes, by slug."""
        rows = self._db.execute(
            "SELECT slug, name_zh, name_en, cost_per_kg, hot, soup FROM dishes WHERE site = ? "
            "ORDER BY slug",
            (site,),
        ).fetchall()
        return [Dish(r[0], r[1], r[2], r[3], bool(r[4]), bool(r[5])) for r in rows]

    def put_dish(self, site: str, dish: Dish) -> None:
        """Add a dish, or change the one with its slug."""
        d = check_dish(dish)
        self._run(
            "INSERT OR REPLACE INTO dishes VALUES (?, ?, ?, ?, ?, ?, ?)",
            (site, d.slug, d.name_zh.strip(), d.name_en.strip(), d.cost_per_kg, d.hot, d.soup),
        )

    def remove_dish(self, site: str, slug: str) -> None:
        """Take a dish off the menu (its past waste stays, shown by slug)."""
        self._run("DELETE FROM dishes WHERE site = ? AND slug = ?", (site, slug))

    def category_costs(self, site: str) -> dict[str, float]:
        """Cost per kg by waste category: the price of a drop with no priced dish."""
        rows = self._db.execute(
            "SELECT category, cost_per_kg FROM category_costs WHERE site = ?", (site,)
        )
        return {str(r[0]): float(r[1]) for r in rows}

    def set_category_cost(self, site: str, category: str, cost_per_kg: float | None) -> None:
        """Price a category per kg (None: no price)."""
        if check_category_cost(category, cost_per_kg) is None:
            self._run(
                "DELETE FROM category_costs WHERE site = ? AND category = ?", (site, category)
            )
            return
        self._run(
            "INSERT OR REPLACE INTO category_costs VALUES (?, ?, ?)", (site, category, cost_per_kg)
        )

    def meal_windows(self, site: str) -> tuple[MealWindow, ...]:
        """The site's meal windows; the defaults for any meal not set."""
        rows = self._db.execute(
            'SELECT meal, start, "end" FROM meal_windows WHERE site = ?', (site,)
        ).fetchall()
        stored = {
            r[0]: MealWindow(r[0], time.fromisoformat(r[1]), time.fromisoformat(r[2])) for r in rows
        }
        return tuple(
            sorted((stored.get(w.meal, w) for w in default_windows()), key=lambda w: w.start)
        )

    def set_meal_windows(self, site: str, windows: tuple[MealWindow, ...]) -> None:
        """Replace the site's meal windows (checked together: no overlap)."""
        checked = check_windows(windows)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM meal_windows WHERE site = ?", (site,))
            self._db.executemany(
                "INSERT INTO meal_windows VALUES (?, ?, ?, ?)",
                [
                    (site, w.meal, w.start.isoformat("minutes"), w.end.isoformat("minutes"))
                    for w in checked
                ],
            )
            self._db.execute("COMMIT")

    def target(self, site: str) -> WasteTarget:
        """The site's waste target (none set: an empty one)."""
        row = self._db.execute(
            "SELECT grams_per_diner, reduction_pct, baseline_first, baseline_last FROM targets "
            "WHERE site = ?",
            (site,),
        ).fetchone()
        if row is None:
            return WasteTarget()
        return WasteTarget(row[0], row[1], _day(row[2]), _day(row[3]))

    def set_target(self, site: str, target: WasteTarget) -> None:
        """Set the site's waste target."""
        t = check_target(target)
        first, last = (d.isoformat() if d else None for d in (t.baseline_first, t.baseline_last))
        self._run(
            "INSERT OR REPLACE INTO targets VALUES (?, ?, ?, ?, ?)",
            (site, t.grams_per_diner, t.reduction_pct, first, last),
        )

    def outdoor_temperatures(self, site: str, first: date, last: date) -> dict[date, float]:
        """Outdoor temperatures entered by staff, by kitchen day, both ends included."""
        rows = self._db.execute(
            "SELECT day, celsius FROM outdoor_temperatures WHERE site = ? AND day BETWEEN ? AND ?",
            (site, first.isoformat(), last.isoformat()),
        )
        return {date.fromisoformat(r[0]): float(r[1]) for r in rows}

    def set_outdoor_temperatures(self, site: str, temperatures: dict[date, float | None]) -> None:
        """Record (or, with None, forget) the outdoor temperature of days, past or forecast."""
        check_outdoor_temperatures(temperatures)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            for day, celsius in temperatures.items():
                self._db.execute(
                    "DELETE FROM outdoor_temperatures WHERE site = ? AND day = ?",
                    (site, day.isoformat()),
                )
                if celsius is not None:
                    self._db.execute(
                        "INSERT INTO outdoor_temperatures VALUES (?, ?, ?)",
                        (site, day.isoformat(), celsius),
                    )
            self._db.execute("COMMIT")

    def stations(self, site: str) -> dict[str, Station]:
        """The site's waste stations the hub has pushed a config to, by device."""
        with self._lock:
            rows = self._db.execute(
                "SELECT device, dish, category FROM stations WHERE site = ? ORDER BY device",
                (site,),
            ).fetchall()
            bins = self._db.execute(
                "SELECT device, sensor, category FROM bins WHERE site = ? ORDER BY sensor",
                (site,),
            ).fetchall()
        by_device: dict[str, list[Bin]] = {}
        for device, sensor, category in bins:
            by_device.setdefault(device, []).append(Bin(sensor, _category(category)))
        return {
            r[0]: Station(r[0], r[1], _category(r[2]), tuple(by_device.get(r[0], ()))) for r in rows
        }

    def station(self, site: str, device: str) -> Station:
        """One waste station of the site (never pushed to: nothing set)."""
        return self.stations(site).get(device, Station(device))

    def put_station(self, site: str, kept: Station) -> None:
        """Keep what the hub pushed to a station: its dish and every bin's category."""
        check_station(kept)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR REPLACE INTO stations VALUES (?, ?, ?, ?)",
                (site, kept.device, kept.dish, _category_value(kept.category)),
            )
            self._db.execute("DELETE FROM bins WHERE site = ? AND device = ?", (site, kept.device))
            self._db.executemany(
                "INSERT INTO bins VALUES (?, ?, ?, ?)",
                [(site, kept.device, b.sensor, _category_value(b.category)) for b in kept.bins],
            )
            self._db.execute("COMMIT")

    def site_menu(self, site: str) -> SiteMenu:
        """Everything the reports need of a site."""
        dishes = {d.slug: d for d in self.dishes(site)}
        return SiteMenu(
            site, dishes, self.category_costs(site), self.meal_windows(site), self.target(site)
        )
