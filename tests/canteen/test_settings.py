"""Settings from CANTEEN_* variables and the hub YAML file, and their error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from canteen.hub_config import dashboard_settings, ingest_settings
from canteen.settings import MqttSettings, SettingsError, influx_from_env, mqtt_from_env


def test_mqtt_url_with_credentials_and_tls() -> None:
    settings = MqttSettings.from_url("mqtts://hub%40site:p%3Ass@broker.local:8884")
    assert (settings.host, settings.port, settings.tls) == ("broker.local", 8884, True)
    assert settings.username == "hub@site"
    assert settings.password is not None and settings.password.get_secret_value() == "p:ss"
    assert "p:ss" not in settings.url() and "p:ss" not in repr(settings)


def test_mqtt_url_defaults_the_port_by_scheme() -> None:
    assert MqttSettings.from_url("mqtt://h").port == 1883
    assert MqttSettings.from_url("mqtts://h").port == 8883


@pytest.mark.parametrize("url", ["http://h:1883", "h:1883", "mqtt://h:notaport"])
def test_a_bad_mqtt_url_names_the_variable_and_the_fix(url: str) -> None:
    with pytest.raises(SettingsError, match="CANTEEN_MQTT_URL"):
        MqttSettings.from_url(url)


def test_influx_settings_from_the_environment() -> None:
    env = {
        "CANTEEN_INFLUX_URL": "http://db:8086",
        "CANTEEN_INFLUX_DB": "kitchen",
        "CANTEEN_INFLUX_TOKEN": "secret-token",
        "CANTEEN_INFLUX_API": "v2",
    }
    settings = influx_from_env(env)
    assert (settings.url, settings.database, settings.api) == ("http://db:8086", "kitchen", "v2")
    assert settings.token is not None and settings.token.get_secret_value() == "secret-token"
    with pytest.raises(SettingsError, match="InfluxDB"):
        influx_from_env({"CANTEEN_INFLUX_API": "v9"})


def test_environment_wins_over_the_hub_file(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(
        "mqtt_url: mqtt://file-host:1883\ninflux: {url: 'http://file-db:8086', database: a}\n"
        "ingest: {batch_lines: 77}\n"
    )
    env = {"CANTEEN_MQTT_URL": "mqtt://env-host:1884", "CANTEEN_INFLUX_DB": "b"}
    settings = ingest_settings(config, env=env)
    assert (settings.mqtt.host, settings.mqtt.port) == ("env-host", 1884)
    assert (settings.influx.url, settings.influx.database) == ("http://file-db:8086", "b")
    assert settings.batch_lines == 77
    assert mqtt_from_env({}).port == 1883


def test_a_bad_hub_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text("mqtt_urll: mqtt://typo\n")
    with pytest.raises(SettingsError, match=r"hub\.yaml.*mqtt_urll"):
        ingest_settings(config, env={})


def test_the_example_hub_file_is_valid_and_the_environment_picks_site_and_language() -> None:
    example = Path(__file__).resolve().parents[2] / "hub.example.yaml"
    settings = dashboard_settings(
        example, port=9000, env={"CANTEEN_SITE": "site-z", "CANTEEN_LANG": "zh-CN"}
    )
    assert (settings.default_site, settings.language, settings.port) == ("site-z", "zh-CN", 9000)
    assert settings.cold_units["bain-marie-1"] == "hot-holding"
    assert ingest_settings(example, env={}).influx.database == "canteen"


@pytest.mark.parametrize(
    ("line", "named"),
    [("  language: fr", "language"), ("  timezone: Mars/Base", "timezone")],
)
def test_bad_dashboard_settings_name_the_field(tmp_path: Path, line: str, named: str) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(f"dashboard:\n{line}\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=named):
        dashboard_settings(path, env={})
