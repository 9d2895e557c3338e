"""The menu store's bins: what the hub last pushed to each waste station, kept in SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from canteen.sqlite_schema import migrate
from protocol import WasteCategory
from reports.menu import MIGRATIONS, Bin, MenuError, MenuStore
from reports.menu_forms import bin_choice


def test_a_menu_file_of_the_first_schema_gains_bins_and_keeps_its_dishes(tmp_path: Path) -> None:
    path = tmp_path / "menu.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, "menu_schema", MIGRATIONS[:1], "menu")
    db.execute("INSERT INTO dishes VALUES ('a', 'rice', '米饭', 'Rice', 4.0, 0, 0)")
    db.close()
    store = MenuStore(path)
    assert store.schema_version == len(MIGRATIONS) == 2
    assert [d.slug for d in store.dishes("a")] == ["rice"]
    assert store.bins("a") == {}
    assert store.bin("a", "bin-1") == Bin("bin-1")  # never pushed to: nothing set
    store.close()


def test_a_bin_keeps_its_category_and_dish_per_site(tmp_path: Path) -> None:
    store = MenuStore(tmp_path / "menu.sqlite3")
    store.put_bin("a", Bin("bin-2", WasteCategory.SPOILAGE, "rice"))
    store.put_bin("a", Bin("bin-1", None, "congee"))
    store.put_bin("b", Bin("bin-1", WasteCategory.PREP))
    store.close()
    store = MenuStore(tmp_path / "menu.sqlite3")
    assert store.bins("a") == {
        "bin-1": Bin("bin-1", None, "congee"),
        "bin-2": Bin("bin-2", WasteCategory.SPOILAGE, "rice"),
    }
    assert store.bin("b", "bin-1").category is WasteCategory.PREP
    store.put_bin("a", Bin("bin-2"))  # cleared, still listed
    assert store.bins("a")["bin-2"] == Bin("bin-2")


@pytest.mark.parametrize(
    ("kept", "error"),
    [(Bin("Bin 1"), "device: 'Bin 1' is not a slug"), (Bin("bin-1", None, "Rice!"), "dish")],
)
def test_the_store_refuses_a_bin_that_is_not_a_slug(tmp_path: Path, kept: Bin, error: str) -> None:
    store = MenuStore(tmp_path / "menu.sqlite3")
    with pytest.raises(MenuError, match=error):
        store.put_bin("a", kept)
    assert store.bins("a") == {}


def test_the_bins_form_names_a_station_and_a_category_or_none() -> None:
    assert bin_choice({"device": " bin-1 ", "category": "prep"}) == ("bin-1", WasteCategory.PREP)
    assert bin_choice({"device": "bin-1", "category": ""}) == ("bin-1", None)
    assert bin_choice({"device": "bin-1"}) == ("bin-1", None)
    with pytest.raises(MenuError, match="category: 'compost' is not one of plate, prep"):
        bin_choice({"device": "bin-1", "category": "compost"})
    with pytest.raises(MenuError, match="device: '' is not a slug"):
        bin_choice({"category": "prep"})
