"""The menu store's waste stations: what the hub last pushed to each, bin by bin, in SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from canteen.sqlite_schema import migrate
from protocol import WasteCategory
from reports.menu import MIGRATIONS, MenuStore
from reports.menu_checks import MenuError
from reports.menu_forms import bin_choice
from reports.stations import Bin, Station


def test_a_menu_file_of_the_first_schema_gains_bins_and_keeps_its_dishes(tmp_path: Path) -> None:
    path = tmp_path / "menu.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, "menu_schema", MIGRATIONS[:1], "menu")
    db.execute("INSERT INTO dishes VALUES ('a', 'rice', '米饭', 'Rice', 4.0, 0, 0)")
    db.close()
    store = MenuStore(path)
    assert store.schema_version == len(MIGRATIONS) == 3
    assert [d.slug for d in store.dishes("a")] == ["rice"]
    assert store.stations("a") == {}
    assert store.station("a", "bin-1") == Station("bin-1")  # never pushed to: nothing set
    store.close()


def test_a_device_wide_category_of_schema_2_stays_the_devices_default(tmp_path: Path) -> None:
    path = tmp_path / "menu.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, "menu_schema", MIGRATIONS[:2], "menu")
    db.execute("INSERT INTO bins VALUES ('a', 'station-1', 'spoilage', 'rice')")
    db.execute("INSERT INTO bins VALUES ('a', 'station-2', NULL, 'congee')")
    db.close()
    store = MenuStore(path)
    assert store.stations("a") == {
        "station-1": Station("station-1", "rice", WasteCategory.SPOILAGE),
        "station-2": Station("station-2", "congee"),
    }
    # set one bin: the default still covers the device's other bins until it is cleared
    store.put_station("a", store.station("a", "station-1").with_bin("bin-plate", None))
    assert store.station("a", "station-1") == Station(
        "station-1", "rice", WasteCategory.SPOILAGE, (Bin("bin-plate"),)
    )
    store.close()


def test_each_bin_of_a_station_keeps_its_own_category(tmp_path: Path) -> None:
    store = MenuStore(tmp_path / "menu.sqlite3")
    two = (
        Station("station-1", "rice")
        .with_bin("bin-prep", WasteCategory.PREP)
        .with_bin("bin-plate", WasteCategory.OVERPRODUCTION)
    )
    store.put_station("a", two)
    store.put_station("a", Station("station-2", None, None, (Bin("bin-plate"),)))
    store.put_station("b", Station("station-1").with_bin("bin-plate", WasteCategory.SPOILAGE))
    store.close()
    store = MenuStore(tmp_path / "menu.sqlite3")
    kept = store.stations("a")
    assert kept["station-1"].bins == (  # by sensor
        Bin("bin-plate", WasteCategory.OVERPRODUCTION), Bin("bin-prep", WasteCategory.PREP)
    )  # fmt: skip
    assert kept["station-1"].dish == "rice" and kept["station-2"] == Station(
        "station-2", bins=(Bin("bin-plate"),)
    )
    assert store.station("b", "station-1").categories == {"bin-plate": WasteCategory.SPOILAGE}
    cleared = kept["station-1"].with_bin("bin-plate", None)  # cleared, still listed
    store.put_station("a", cleared)
    assert store.station("a", "station-1") == cleared
    assert cleared.categories == {"bin-prep": WasteCategory.PREP}  # the other bin keeps its own


def test_a_station_lists_the_bins_seen_beside_those_kept() -> None:
    kept = Station("station-1").with_bin("bin-prep", WasteCategory.PREP)
    listed = kept.with_bins(["bin-plate", "bin-prep"])
    assert listed.bins == (Bin("bin-plate"), Bin("bin-prep", WasteCategory.PREP))


@pytest.mark.parametrize(
    ("kept", "error"),
    [
        (Station("Bin 1"), "device: 'Bin 1' is not a slug"),
        (Station("bin-1", "Rice!"), "dish"),
        (Station("bin-1", bins=(Bin("Plate Bin"),)), "sensor: 'Plate Bin' is not a slug"),
    ],
)
def test_the_store_refuses_a_station_that_is_not_a_slug(
    tmp_path: Path, kept: Station, error: str
) -> None:
    store = MenuStore(tmp_path / "menu.sqlite3")
    with pytest.raises(MenuError, match=error):
        store.put_station("a", kept)
    assert store.stations("a") == {}


def test_the_bins_form_names_a_station_a_bin_and_a_category_or_none() -> None:
    prep = WasteCategory.PREP
    fields = {"device": " station-1 ", "sensor": " bin-1 ", "category": "prep"}
    assert bin_choice(fields) == ("station-1", "bin-1", prep)
    assert bin_choice({"device": "s", "sensor": "b", "category": ""}) == ("s", "b", None)
    assert bin_choice({"device": "s", "sensor": "b"}) == ("s", "b", None)
    assert bin_choice({"device": "s", "category": "prep"}) == ("s", None, prep)  # the default
    with pytest.raises(MenuError, match="category: 'compost' is not one of plate, prep"):
        bin_choice({"device": "s", "sensor": "b", "category": "compost"})
    with pytest.raises(MenuError, match="device: '' is not a slug"):
        bin_choice({"sensor": "b", "category": "prep"})
    with pytest.raises(MenuError, match="sensor: 'Bin 1' is not a slug"):
        bin_choice({"device": "s", "sensor": "Bin 1", "category": "prep"})
