"""A waste station: the scale under one bin, drop detection, category and dish.

Each poll reads one weight (an HX711 load cell or a serial bench scale) into the
drop detector; each drop becomes a WasteReading. Its category is the last
category button pressed within the timeout, else the one the hub pushed for this
bin (`set_category`: the agent gives each station its own sensor's entry of the
config's `categories`, else the device's `category`), else the bin's own; its dish is,
in order, the one the hub pushed (`set_dish`), the one in the menu file, the one in
the config, or none. A device with several bins runs one station per bin, so each
bin's category stays on that bin's drops.

The menu file is JSON such as `{"dish": "braised-pork"}` (or `{"dish": null}`);
it is re-read when it changes, and a bad file keeps the previous dish.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.drivers import LogThrottle, Scale, ScaleError, utc_now
from edge.drivers.category_buttons import CategoryButtonConfig, CategoryButtons
from edge.drivers.hx711 import HX711Config, HX711Scale
from edge.drivers.serial_scale import SerialPort, SerialScale, SerialScaleConfig
from edge.waste.drop_detector import DetectorSettings, DropDetector
from protocol import Reading, WasteCategory, WasteReading, is_slug
from protocol.models import MAX_GRAMS_PER_DROP, Slug

logger = logging.getLogger(__name__)

ScaleConfig = Annotated[HX711Config | SerialScaleConfig, Field(discriminator="type")]


class DropDetectorConfig(BaseModel):
    """How the station tells a drop from noise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_drop_g: float = Field(
        20.0, gt=0, title="Smallest drop (g)", description="Smaller settled rises are drift."
    )
    tolerance_g: float = Field(
        5.0, gt=0, title="Tolerance (g)", description="A settled weight stays within this band."
    )
    settle_s: float = Field(
        2.0, gt=0, le=60, title="Settle (s)", description="How long a weight must hold."
    )
    median_window: int = Field(
        5, ge=1, le=25, title="Median window", description="Samples in the spike filter."
    )
    lifted_below_g: float = Field(
        -50.0,
        le=0,
        title="Lifted below (g)",
        description="A weight below this means the bin is off the scale (tare with the "
        "empty bin on).",
    )

    @model_validator(mode="after")
    def _check(self) -> DropDetectorConfig:
        if self.tolerance_g >= self.min_drop_g:
            raise ValueError("tolerance_g must be below min_drop_g")
        return self

    def settings(self) -> DetectorSettings:
        """The pure detector's settings."""
        return DetectorSettings(
            min_drop_g=self.min_drop_g,
            tolerance_g=self.tolerance_g,
            settle=timedelta(seconds=self.settle_s),
            median_window=self.median_window,
            lifted_below_g=self.lifted_below_g,
        )


class WasteStationConfig(BaseModel):
    """One bin on a scale, with its category buttons."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["waste_station"] = Field(
        "waste_station", title="Driver", description="Selects this driver."
    )
    sensor: Slug = Field(title="Sensor", description="Slug of the bin, e.g. bin-plate.")
    category: WasteCategory = Field(
        WasteCategory.PLATE,
        title="Category",
        description="The bin's category when no category button was pressed.",
    )
    scale: ScaleConfig = Field(title="Scale", description="An hx711 or a serial_scale.")
    buttons: list[CategoryButtonConfig] = Field(
        [], title="Category buttons", description="Buttons choosing the next drop's category."
    )
    button_timeout_s: float = Field(
        60.0, gt=0, title="Button timeout (s)", description="How long a press applies."
    )
    dish: Slug | None = Field(
        None, title="Dish", description="Dish slug when neither the hub nor a menu file says."
    )
    menu_file: Path | None = Field(
        None, title="Menu file", description='JSON file such as {"dish": "braised-pork"}.'
    )
    detector: DropDetectorConfig = Field(
        DropDetectorConfig(), title="Drop detection", description="How noise is rejected."
    )
    interval_s: float = Field(
        0.2, gt=0, le=10, title="Interval (s)", description="Seconds between weights."
    )

    @model_validator(mode="after")
    def _check(self) -> WasteStationConfig:
        pins = [b.pin for b in self.buttons]
        if isinstance(self.scale, HX711Config):
            pins += [self.scale.dout_pin, self.scale.sck_pin]
        if len(set(pins)) != len(pins):
            raise ValueError(f"the buttons and the scale need distinct pins; got {pins}")
        return self

    @property
    def name(self) -> str:
        """The source's name: the bin's sensor slug."""
        return self.sensor


def open_scale(
    config: HX711Config | SerialScaleConfig,
    *,
    pin_factory: Any = None,
    serial_port: SerialPort | None = None,
) -> Scale:
    """Build the scale a config describes."""
    if isinstance(config, HX711Config):
        return HX711Scale.from_config(config, pin_factory=pin_factory)
    return SerialScale.from_config(config, port=serial_port)


def read_menu_dish(path: Path) -> str | None:
    """Return the dish slug in a menu file; raise ValueError if the file is unusable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read menu file {path}: {err}") from err
    if not isinstance(data, dict) or "dish" not in data:
        raise ValueError(f'menu file {path}: expected an object such as {{"dish": "rice"}}')
    dish = data["dish"]
    if dish is None:
        return None
    if not isinstance(dish, str) or not is_slug(dish):
        raise ValueError(f"menu file {path}: dish must be a slug or null, got {dish!r}")
    return dish


class MenuFile:
    """The current dish from a file that is re-read only when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self.dish: str | None = None

    def current(self) -> str | None:
        """Return the dish, re-reading the file if it changed; keep the last good one."""
        try:
            stat = self.path.stat()
        except OSError:
            return self.dish
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self.dish = read_menu_dish(self.path)
            except ValueError as err:
                logger.warning("%s; keeping dish %s", err, self.dish)
        return self.dish


class WasteStation:
    """Reading source for one bin: a WasteReading per drop of waste."""

    def __init__(
        self,
        config: WasteStationConfig,
        *,
        scale: Scale | None = None,
        pin_factory: Any = None,
        serial_port: SerialPort | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.name = config.sensor
        self.interval_s = config.interval_s
        self._config = config
        self.scale = scale or open_scale(
            config.scale, pin_factory=pin_factory, serial_port=serial_port
        )
        self.buttons: CategoryButtons | None = None
        if config.buttons:
            try:
                self.buttons = CategoryButtons(
                    config.buttons,
                    timeout_s=config.button_timeout_s,
                    pin_factory=pin_factory,
                    clock=clock,
                )
            except Exception:
                self.scale.close()
                raise
        self.detector = DropDetector(config.detector.settings())
        self._menu = MenuFile(config.menu_file) if config.menu_file else None
        self._pushed_dish: str | None = None
        self._pushed_category: WasteCategory | None = None
        self._throttle = LogThrottle(timedelta(minutes=10))
        self.scale_errors = 0

    def set_dish(self, dish: str | None) -> None:
        """Set the dish being served (pushed by the hub); None falls back to menu/config."""
        if dish is not None and not is_slug(dish):
            raise ValueError(f"dish must be a slug, got {dish!r}")
        self._pushed_dish = dish

    def set_category(self, category: WasteCategory | str | None) -> None:
        """Set the bin's category (pushed by the hub); None falls back to the config's."""
        try:
            self._pushed_category = None if category is None else WasteCategory(category)
        except ValueError as err:
            known = ", ".join(c.value for c in WasteCategory)
            raise ValueError(f"category must be one of {known}, got {category!r}") from err

    @property
    def category(self) -> WasteCategory:
        """The category of the next drop when no button is pressed."""
        return self._pushed_category or self._config.category

    @property
    def dish(self) -> str | None:
        """The dish the next drop is attributed to."""
        if self._pushed_dish is not None:
            return self._pushed_dish
        menu_dish = self._menu.current() if self._menu is not None else None
        return menu_dish if menu_dish is not None else self._config.dish

    def poll(self, now: datetime) -> list[Reading]:
        """Read one weight; return a reading if it completes a drop."""
        try:
            sample = self.scale.read()
        except ScaleError as err:
            self.scale_errors += 1
            self._throttle.warn(logger, now, "scale of %s: %s", self.name, err)
            return []
        if sample is None:
            return []
        drop = self.detector.feed(now, sample.grams, stable=sample.stable)
        if drop is None:
            return []
        if drop.grams > MAX_GRAMS_PER_DROP:
            logger.warning(
                "bin %s: %.0f g in one drop is not waste; ignored", self.name, drop.grams
            )
            return []
        pressed = self.buttons.category_for(drop.at) if self.buttons is not None else None
        return [
            WasteReading(
                sensor=self.name,
                ts=drop.at,
                grams=drop.grams,
                category=pressed or self.category,
                dish=self.dish,
            )
        ]

    def close(self) -> None:
        """Release the scale and the buttons."""
        if self.buttons is not None:
            self.buttons.close()
        self.scale.close()
