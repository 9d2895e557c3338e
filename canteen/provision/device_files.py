"""A device's bundle: its edge.yaml (no secret), edge.env (its login) and the CA.

The password goes in `edge.env`, not in the YAML: the agent refuses a login in the YAML
(edge/config.py), the YAML is meant to be read, copied and kept in version control,
and systemd's `EnvironmentFile=/etc/canteen/edge.env` (deploy/systemd) reads a 0600
root-owned file the agent's user never needs to open.
"""

from __future__ import annotations

from pathlib import Path

from canteen.provision import ProvisionError
from canteen.provision.layout import write_private
from canteen.provision.registry import DeviceKind

PI_CA_FILE = "/etc/canteen/ca.crt"
PI_STATE_DIR = "/var/lib/canteen-edge"

_SENSORS: dict[DeviceKind, str] = {
    "fridge": """\
# Replace each probe's address with one from `ls /sys/bus/w1/devices` and each pin with
# the BCM pin of the unit's door switch (firmware_config/examples/fridge-node.yaml).
sensors:
  - type: ds18b20
    sensor: fridge-1
    address: 28-000000000001
  - type: door
    sensor: fridge-1
    pin: 17
  - type: alarm
    buzzer_pin: 23
    led_pin: 24
    silence_pin: 25
    units:
      - {sensor: fridge-1, min_c: 0, max_c: 8, delay_minutes: 30}
""",
    "waste": """\
# Wire the HX711 as firmware_config/examples/waste-station.yaml says, then calibrate it
# with `canteen scale tare|calibrate`.
sensors:
  - type: waste_station
    sensor: bin-plate
    category: plate
    scale:
      type: hx711
      dout_pin: 5
      sck_pin: 6
      calibration_file: /var/lib/canteen-edge/bin-plate-scale.json
""",
    "entrance": """\
# Tune the doorway (roi, line_position, person_area) with docs/people-counter.md.
sensors:
  - type: people_counter
    sensor: dining-main
    camera: 0
    interval_s: 60
""",
}

_SIMULATED: dict[DeviceKind, str] = {
    "fridge": """\
sensors:
  - {type: simulated-cold-unit, name: fridge-1, unit: fridge}
  - {type: simulated-cold-unit, name: freezer-1, unit: freezer}
""",
    "waste": """\
sensors:
  - {type: simulated-waste-bin, name: bin-plate, category: plate}
  - {type: simulated-waste-bin, name: bin-prep, category: prep}
""",
    "entrance": """\
sensors:
  - {type: simulated-dining-room, name: dining-main}
""",
}


def broker_url(host: str, port: int, username: str | None = None, password: str = "") -> str:
    """mqtts://host:port, with the login when given (an IPv6 address in brackets)."""
    shown = f"[{host}]" if ":" in host else host
    login = f"{username}:{password}@" if username else ""
    return f"mqtts://{login}{shown}:{port}"


def render_edge_yaml(
    site: str, device: str, kind: DeviceKind, url: str, *, simulated: bool = False
) -> str:
    """The device's YAML for firmware_config/ (no login: that is in edge.env)."""
    sensors = (_SIMULATED if simulated else _SENSORS)[kind]
    return (
        f"# {kind} node {site}/{device}, written by `canteen device add`.\n"
        "# On the Pi: /etc/canteen/edge.yaml; the login is in /etc/canteen/edge.env (0600).\n"
        f"site: {site}\n"
        f"device: {device}\n"
        f"mqtt_url: {url}\n"
        f"mqtt_ca_file: {PI_CA_FILE}\n"
        f"state_dir: {PI_STATE_DIR}\n"
        f"{sensors}"
    )


def render_edge_env(login_url: str) -> str:
    """The systemd environment file with the device's login."""
    return (
        "# The broker login of this device: /etc/canteen/edge.env, mode 0600, owner root.\n"
        f"CANTEEN_MQTT_URL={login_url}\n"
    )


def read_env_url(path: Path) -> str:
    """CANTEEN_MQTT_URL from an environment file."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("CANTEEN_MQTT_URL="):
            return line.split("=", 1)[1]
    raise ProvisionError(f"{path} has no CANTEEN_MQTT_URL line: run `canteen device rotate`")


def check_edge_yaml(path: Path, env_path: Path, ca_path: Path) -> None:
    """Load the written YAML as the agent would, so a bundle that cannot run is never handed out.

    Skipped where the edge package cannot be imported (a hub without it).
    """
    try:
        from edge.config import ConfigError, load_config
    except ImportError:
        return
    env = {"CANTEEN_MQTT_URL": read_env_url(env_path), "CANTEEN_MQTT_CA": str(ca_path)}
    try:
        load_config(path, env)
    except ConfigError as err:
        raise ProvisionError(f"the generated device config is not valid: {err}") from err


def write_bundle(
    folder: Path, yaml_text: str, login_url: str, ca_pem: bytes, *, keep_yaml: bool = False
) -> None:
    """Write edge.yaml, edge.env and ca.crt into the device's folder (all 0600).

    With `keep_yaml` an existing edge.yaml is left as it is (a rotation must not undo
    the installer's edits to addresses and pins).
    """
    yaml_path = folder / "edge.yaml"
    if not (keep_yaml and yaml_path.exists()):
        write_private(yaml_path, yaml_text)
    write_private(folder / "edge.env", render_edge_env(login_url))
    write_private(folder / "ca.crt", ca_pem)
    check_edge_yaml(yaml_path, folder / "edge.env", folder / "ca.crt")
