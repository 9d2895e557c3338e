"""A site's Mosquitto bridged to a central one: readings reach the central InfluxDB, none lost.

Two real brokers running broker/mosquitto.conf (TLS, passwords, ACLs), the site's with the
bridge config `canteen bridge add` writes, the central one with the login `canteen bridge
allow` makes; the hub's real ingest subscribed to the central broker writes to InfluxDB.
"""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from canteen.provision.bridge import BridgedAccess, add_bridge, bridge_username
from canteen.provision.reload import reload_broker
from canteen.settings import InfluxSettings, MqttSettings
from ingest.app import IngestSettings
from protocol import TemperatureReading, encode_telemetry, epoch_ms
from tests.broker.conftest import SecuredHub, secured_hub_in
from tests.broker.mqtt_probe import NOT_AUTHORIZED, Probe
from tests.conftest import RunningIngest
from tests.reliability.checker import Key, check, stored
from tests.waiting import wait_until
from timeseries import InfluxQL

pytestmark = pytest.mark.integration

SITE, DEVICE = "site-a", "cold-room"
TOPIC = f"canteen/{SITE}/{DEVICE}/telemetry"
PER_MESSAGE = 5


def _bridge_login(central: SecuredHub) -> MqttSettings:
    folder = central.files.bridge_login(SITE)
    url = read_env_url_key(folder / "bridge.env")
    return MqttSettings.from_url(url, ca_file=str(folder / "ca.crt"))


def read_env_url_key(path: Path) -> str:
    """CANTEEN_BRIDGE_URL from bridge.env."""
    line = next(li for li in path.read_text().splitlines() if li.startswith("CANTEEN_BRIDGE_URL="))
    return line.split("=", 1)[1]


class Device:
    """The site's fridge node: QoS 1 telemetry over TLS to the site broker, as its login."""

    def __init__(self, site: SecuredHub) -> None:
        self.probe = Probe(site.device_login(SITE, DEVICE), name=DEVICE)
        assert not self.probe.connect().is_failure
        self.produced: dict[Key, float] = {}
        self.start = datetime.now(UTC) - timedelta(minutes=1)
        self.seq = 0

    def send(self, count: int) -> None:
        """Publish `count` messages of PER_MESSAGE readings each; each acknowledged by the site."""
        for _ in range(count):
            self.seq += 1
            readings = []
            for i in range(PER_MESSAGE):
                n = self.seq * PER_MESSAGE + i
                ts = self.start + timedelta(milliseconds=10 * n)
                value = round(2.0 + (n % 40) / 10, 1)
                readings.append(TemperatureReading(sensor="fridge-1", ts=ts, celsius=value))
                self.produced[(SITE, DEVICE, "fridge-1", epoch_ms(ts))] = value
            payload = encode_telemetry(self.seq, datetime.now(UTC), readings)
            assert not self.probe.publish(TOPIC, payload).is_failure


def _arrived(influxql: InfluxQL, count: int) -> bool:
    return len(stored(influxql, SITE)) >= count


def test_site_readings_reach_central_influxdb_across_a_link_outage(
    tmp_path: Path, v1_influx: InfluxSettings, influxql: InfluxQL
) -> None:
    central = secured_hub_in(tmp_path / "central")
    site = secured_hub_in(tmp_path / "site")
    ingest: RunningIngest | None = None
    device: Device | None = None
    try:
        assert central.broker.tls_port is not None
        # Central side: the site's bridge login (ACL on its own topics), reloaded by SIGHUP.
        central_access = BridgedAccess(
            central.files, reload=lambda: reload_broker("pid", central.broker.pid_path)
        )
        assert central_access.allow_bridge(SITE).reload.done
        acl = central.files.acl_file.read_text()
        assert f"user {bridge_username(SITE)}\ntopic write canteen/{SITE}/+/telemetry" in acl
        login = central.files.bridge_login(SITE)

        # Site side: a device, and the bridge; Mosquitto loads bridges only at start.
        site.access.add(SITE, DEVICE, "fridge")
        add_bridge(
            site.files,
            SITE,
            f"127.0.0.1:{central.broker.tls_port}",
            login / "bridge.env",
            login / "ca.crt",
            restart_timeout=(1, 2),
        )
        conf = site.files.bridge_conf(SITE)
        assert stat.S_IMODE(conf.stat().st_mode) == 0o600
        assert "bridge_insecure false" in conf.read_text()
        site.broker.extra = f"include_dir {site.files.bridges_dir}\n"
        site.broker.restart()

        # The bridge login may not write another site's topics on the central broker.
        intruder = Probe(_bridge_login(central), name="bridge-login")
        assert not intruder.connect().is_failure
        refused = intruder.publish("canteen/site-b/cold-room/telemetry", b"{}")
        assert refused.value == NOT_AUTHORIZED
        intruder.close()

        ingest = RunningIngest(
            IngestSettings(
                mqtt=central.hub_login(),
                influx=v1_influx,
                state_dir=tmp_path / "central-hub",
                client_id="central-ingest",
            )
        ).start()
        device = Device(site)

        # Config flows down: the central hub's retained config reaches the device.
        config_topic = f"canteen/{SITE}/{DEVICE}/config"
        device.probe.subscribe(config_topic)
        hub = Probe(central.hub_login(), name="central-hub")
        assert not hub.connect().is_failure
        assert not hub.publish(config_topic, b'{"v":1}', retain=True).is_failure
        hub.close()
        wait_until(lambda: device.probe.received(config_topic), 15, message="config at the site")

        device.send(20)
        wait_until(lambda: _arrived(influxql, len(device.produced)), 20, message="first batch")

        # Cut the link: the central broker goes away while the site keeps receiving.
        central.broker.stop()
        device.send(20)
        central.broker.start()
        wait_until(lambda: _arrived(influxql, len(device.produced)), 30, message="the backlog")

        result = check("bridge outage", device.produced, stored(influxql, SITE))
        assert result.ok, result.summary()
        assert result.found == 40 * PER_MESSAGE
    finally:
        if device is not None:
            device.probe.close()
        if ingest is not None:
            ingest.stop()
        site.broker.stop()
        central.broker.stop()
