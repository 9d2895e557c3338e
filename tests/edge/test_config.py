"""Device configs: every shipped YAML validates; bad files get errors naming file and field."""

from __future__ import annotations

import typing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from edge.build import SOURCE_BUILDERS, BuildContext, build_sources
from edge.config import (
    SENSOR_MODELS,
    ConfigError,
    EdgeConfig,
    SensorConfig,
    load_config,
    sensor_model,
)

REPO = Path(__file__).resolve().parents[2]
DEVICE_FILES = sorted((REPO / "firmware_config").rglob("*.yaml"))
GOOD = """
site: site-a
device: cold-room
state_dir: {state}
sensors:
  - {{type: simulated-cold-unit, name: fridge-1}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edge.yaml"
    path.write_text(text)
    return path


def test_there_are_device_files_to_check() -> None:
    assert {p.name for p in DEVICE_FILES} >= {
        "fridge-node.yaml",
        "waste-station.yaml",
        "entrance-camera.yaml",
        "simulated-fridge-node.yaml",
    }


def test_every_file_in_firmware_config_is_one_this_module_validates() -> None:
    """A config file of another kind (.yml, .env, .example) would escape the check below."""
    others = [
        p.relative_to(REPO)
        for p in (REPO / "firmware_config").rglob("*")
        if p.is_file() and p.name != "README.md" and p not in DEVICE_FILES
    ]
    assert others == [], "validate these files here, or name them *.yaml"


@pytest.mark.parametrize("path", DEVICE_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_device_file_in_firmware_config_validates(path: Path) -> None:
    config = load_config(path, env={})
    assert config.sensors


def test_example_builds_its_sources(tmp_path: Path) -> None:
    config = load_config(REPO / "firmware_config/examples/simulated-fridge-node.yaml", env={})
    context = BuildContext(config.site, config.device, clock=lambda: datetime.now(UTC))
    sources = build_sources(config, context)
    assert [s.name for s in sources] == ["fridge-1", "fridge-2", "freezer-1"]


def test_every_sensor_type_has_a_model_of_its_own_tag_and_a_builder() -> None:
    assert list(SENSOR_MODELS) == list(SOURCE_BUILDERS)
    for kind in SENSOR_MODELS:
        assert typing.get_args(sensor_model(kind).model_fields["type"].annotation) == (kind,)


def test_a_sensor_entry_is_validated_by_its_own_type_s_model(tmp_path: Path) -> None:
    second = "  - {type: simulated-waste-bin, name: bin-1, category: prep}\n"
    text = GOOD.format(state=tmp_path) + second
    config = load_config(write(tmp_path, text), env={})
    assert [type(s).__name__ for s in config.sensors] == [
        "SimulatedColdUnitConfig",
        "SimulatedWasteBinConfig",
    ]
    same = EdgeConfig.model_validate(config.model_dump())
    assert same == config
    bin_config = config.sensors[1]
    assert TypeAdapter[SensorConfig](SensorConfig).validate_python(bin_config) is bin_config


def test_the_json_schema_still_lists_every_sensor_type() -> None:
    items = EdgeConfig.model_json_schema()["properties"]["sensors"]["items"]
    assert items["discriminator"]["propertyName"] == "type"
    assert set(items["discriminator"]["mapping"]) == set(SENSOR_MODELS)


def test_environment_overrides_the_broker(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.format(state=tmp_path))
    env = {"CANTEEN_MQTT_URL": "mqtts://edge:secret@hub.local:8883", "CANTEEN_MQTT_CA": "/ca.pem"}
    mqtt = load_config(path, env=env).mqtt_settings()
    assert (mqtt.host, mqtt.port, mqtt.tls, mqtt.username, mqtt.ca_file) == (
        "hub.local",
        8883,
        True,
        "edge",
        "/ca.pem",
    )
    assert mqtt.password is not None and mqtt.password.get_secret_value() == "secret"
    assert load_config(path, env={}).mqtt_settings().url() == "mqtt://127.0.0.1:1883"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("site: Site A\n", "site: 'Site A' is not a slug"),
        ("colour: red\n", "colour: Extra inputs are not permitted - remove it"),
        ("sensors: []\n", "sensors: List should have at least 1 item"),
        (
            "sensors: [{type: thermometer, name: fridge-1}]\n",
            "sensors.0: Input tag 'thermometer' found using 'type' does not match",
        ),
        ("sensors: [{name: fridge-1}]\n", "add a type: one of ds18b20, door, alarm"),
        ("status_interval_s: 0\n", "status_interval_s: Input should be greater than or equal to 1"),
        (
            "sensors: [{type: simulated-cold-unit, name: Fridge}]\n",
            "sensors.0.name: 'Fridge' is not a slug",
        ),
        ("mqtt_url: http://hub\n", "must look like mqtt://host:1883"),
        ("mqtt_ca_file: /ca.pem\n", "mqtt_ca_file is set but mqtt_url is not mqtts://"),
        (
            "sensors: [{type: simulated-cold-unit, name: a},"
            " {type: simulated-cold-unit, name: a}]\n",
            "sensor names must be unique",
        ),
    ],
)
def test_errors_name_the_file_the_field_and_the_fix(
    tmp_path: Path, text: str, expected: str
) -> None:
    base = dict(
        line.split(": ", 1) for line in GOOD.format(state=tmp_path).strip().splitlines()[:3]
    )
    key = text.split(":", 1)[0]
    lines = [f"{k}: {v}" for k, v in base.items() if k != key]
    if key != "sensors":
        lines.append("sensors: [{type: simulated-cold-unit, name: fridge-1}]")
    path = write(tmp_path, "\n".join(lines) + "\n" + text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_missing_fields_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"state_dir: Field required - add it"):
        load_config(write(tmp_path, "site: site-a\ndevice: d\nsensors: []\n"), env={})


def test_a_password_in_the_file_is_refused(tmp_path: Path) -> None:
    text = GOOD.format(state=tmp_path) + "mqtt_url: mqtt://edge:secret@hub:1883\n"
    with pytest.raises(ConfigError, match="CANTEEN_MQTT_URL") as caught:
        load_config(write(tmp_path, text), env={})
    assert "secret" not in str(caught.value)


def test_a_bad_url_in_the_environment_does_not_leak_its_password(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.format(state=tmp_path))
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={"CANTEEN_MQTT_URL": "http://edge:secret@hub"})
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("site: [unclosed\n", "not valid YAML"), ("- a list\n", "must be a mapping")],
)
def test_unreadable_files_are_named(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=expected):
        load_config(path, env={})
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml", env={})


def test_outbox_must_hold_more_than_the_in_flight_window(tmp_path: Path) -> None:
    text = GOOD.format(state=tmp_path) + "outbox_max_readings: 100\n"
    with pytest.raises(ConfigError, match="outbox_max_readings"):
        load_config(write(tmp_path, text), env={})
    assert EdgeConfig.model_json_schema()["properties"]["outbox_max_readings"]["description"]
