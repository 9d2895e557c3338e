"""The simulated sensor types' config models: a cold unit, a waste bin, a dining room.

They are validated like a driver's config (`edge.config.SENSOR_MODELS` names them) and
are used only by the demo and the tests.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.config import Slug


class _SimulatedSensor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Slug = Field(
        title="Sensor name",
        description="The sensor's slug in every reading, unique on this device (e.g. fridge-1).",
    )


class SimulatedColdUnitConfig(_SimulatedSensor):
    """A simulated fridge or freezer: temperature probe plus door switch, same name."""

    type: Literal["simulated-cold-unit"] = Field(title="Sensor type", description="Simulated.")
    unit: Literal["fridge", "freezer"] = Field(
        "fridge", title="Unit", description="A fridge holds near 3 °C, a freezer near -18 °C."
    )
    interval_s: float = Field(
        30.0,
        ge=0.01,
        le=3600,
        title="Temperature interval (s)",
        description="Seconds of kitchen time between temperature readings.",
    )
    door_report_s: float = Field(
        300.0,
        ge=0.01,
        le=3600,
        title="Door report interval (s)",
        description="The door is reported on every change and at least this often.",
    )


class SimulatedWasteBinConfig(_SimulatedSensor):
    """A simulated bin on the waste station's scale."""

    type: Literal["simulated-waste-bin"] = Field(title="Sensor type", description="Simulated.")
    category: Literal["plate", "prep"] = Field(
        title="Bin",
        description="plate: diners' leftovers after meals; prep: kitchen trimmings before "
        "meals, with occasional spoilage and overproduction drops.",
    )
    interval_s: float = Field(
        5.0,
        ge=0.01,
        le=3600,
        title="Poll interval (s)",
        description="Seconds of kitchen time between looks at the scale.",
    )


class SimulatedDiningRoomConfig(_SimulatedSensor):
    """A simulated people counter at the dining-room door."""

    type: Literal["simulated-dining-room"] = Field(title="Sensor type", description="Simulated.")
    interval_s: float = Field(
        60.0,
        ge=0.01,
        le=3600,
        title="Count interval (s)",
        description="Seconds of kitchen time between occupancy readings.",
    )
    diners: tuple[int, int, int] = Field(
        (120, 250, 150),
        title="Diners per meal",
        description="People eating in at breakfast, lunch and dinner.",
    )
