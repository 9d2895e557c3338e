"""What the hub last pushed to each waste station: its dish and each bin's category.

Pure values; reports/menu.py keeps them in SQLite (`stations` and `bins`), and the menu
page and the config push (dashboard/menu_routes.py) read and change them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from protocol import WasteCategory


@dataclass(frozen=True, slots=True)
class Bin:
    """One bin of a waste station (its sensor) and the category pushed to it (None: its own)."""

    sensor: str
    category: WasteCategory | None = None


@dataclass(frozen=True, slots=True)
class Station:
    """What the hub last pushed to a site's waste station: its dish and its bins' categories.

    `category` is the device's default for its bins not set one by one: only kept from
    before categories were per bin (schema 3), cleared on the menu page like a bin's.
    """

    device: str
    dish: str | None = None
    category: WasteCategory | None = None
    bins: tuple[Bin, ...] = ()

    @property
    def categories(self) -> dict[str, WasteCategory]:
        """The category of each bin that has one, by sensor."""
        return {b.sensor: b.category for b in self.bins if b.category is not None}

    def with_bin(self, sensor: str, category: WasteCategory | None) -> Station:
        """The station with one bin's category set (None: cleared; the bin stays listed)."""
        others = [b for b in self.bins if b.sensor != sensor]
        bins = sorted([*others, Bin(sensor, category)], key=lambda b: b.sensor)
        return replace(self, bins=tuple(bins))

    def with_bins(self, sensors: Iterable[str]) -> Station:
        """The station with these bins listed too (those not kept yet: nothing set)."""
        kept = {b.sensor for b in self.bins}
        extra = [Bin(sensor) for sensor in sensors if sensor not in kept]
        return replace(self, bins=tuple(sorted([*self.bins, *extra], key=lambda b: b.sensor)))
