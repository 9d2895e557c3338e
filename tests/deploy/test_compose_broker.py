"""The production broker as docker-compose.yml assembles it, run by the real Mosquitto.

broker/mosquitto.conf and the conf.d files compose mounts are laid out as in the
container (with its /mosquitto folder moved to a temporary one and the ports made free),
with TLS files from openssl and a login from mosquitto_passwd, as `canteen broker init`
would make them. No Docker engine: only the configuration is the container's.
"""

from __future__ import annotations

import getpass
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from canteen.local_services import (
    GUARD_PLUGIN,
    LocalService,
    ServiceError,
    find_program,
    free_port,
)
from tests.deploy.files import COMPOSE, ROOT

pytestmark = pytest.mark.integration
PASSWORD = "test-only-hub-password"  # noqa: S105


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _make_tls(certs: Path) -> None:
    key, crt = certs / "ca.key", certs / "ca.crt"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
             "-keyout", str(key), "-out", str(crt))  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
             "-keyout", str(certs / "server.key"), "-out", str(certs / "server.csr"))  # fmt: skip
    (certs / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", str(certs / "server.csr"), "-CA", str(crt), "-CAkey", str(key),
             "-CAcreateserial", "-days", "2", "-extfile", str(certs / "san.ext"),
             "-out", str(certs / "server.crt"))  # fmt: skip


class ComposeBroker(LocalService):
    """broker/mosquitto.conf plus the conf.d files docker-compose.yml mounts."""

    name = "mosquitto"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.program = find_program("mosquitto", "mosquitto")
        self.plain_port, self.tls_port = free_port(), free_port()

    def prepare(self) -> None:
        root = self.workdir
        for folder in ("config/conf.d", "certs", "secrets", "data", "plugins"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        # the guard plugin as built for this machine stands in for the image's (Alpine) build
        if not GUARD_PLUGIN.is_file():
            raise ServiceError(f"{GUARD_PLUGIN} is missing: run `sudo scripts/setup.sh test`")
        shutil.copy(GUARD_PLUGIN, root / "plugins" / GUARD_PLUGIN.name)
        service = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]["mosquitto"]
        for volume in service["volumes"]:
            source, target = volume.split(":")[:2]
            if target.startswith("/mosquitto/config/conf.d/"):
                shutil.copy(ROOT / source, root / target.removeprefix("/mosquitto/"))
        network = root / "config/conf.d/compose-network.conf"
        # The compose network's listener, kept on loopback here.
        network.write_text(
            re.sub(
                r"^listener 1884$",
                f"listener {self.port} 127.0.0.1",
                network.read_text(),
                flags=re.MULTILINE,
            )
        )
        config = (ROOT / "broker/mosquitto.conf").read_text(encoding="utf-8")
        config = config.replace("/mosquitto/", f"{root}/")
        config = config.replace("listener 1883 127.0.0.1", f"listener {self.plain_port} 127.0.0.1")
        config = config.replace("listener 8883", f"listener {self.tls_port} 127.0.0.1")
        (root / "config/mosquitto.conf").write_text(f"{config}\nuser {getpass.getuser()}\n")
        _make_tls(root / "certs")
        passwords = root / "secrets/passwords"
        passwd = find_program("mosquitto_passwd", "mosquitto")
        subprocess.run([passwd, "-c", "-b", str(passwords), "hub", PASSWORD], check=True)
        (root / "secrets/acl").write_text("user hub\ntopic readwrite canteen/#\n")

    def command(self) -> list[str]:
        return [self.program, "-c", str(self.workdir / "config/mosquitto.conf")]

    def ready(self) -> bool:
        return _connack(self.port, None, None) is not None


def _connack(
    port: int, username: str | None, password: str | None, ca: Path | None = None
) -> mqtt.ReasonCode | None:
    """The broker's answer to CONNECT, or None when it does not answer."""
    answer: list[mqtt.ReasonCode] = []
    done = threading.Event()

    def on_connect(
        _c: mqtt.Client, _u: object, _f: object, reason: mqtt.ReasonCode, _p: object
    ) -> None:
        answer.append(reason)
        done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.on_connect = on_connect
    if username:
        client.username_pw_set(username, password)
    if ca:
        client.tls_set(ca_certs=str(ca))
    try:
        client.connect("127.0.0.1" if ca is None else "localhost", port)
    except OSError:
        return None
    client.loop_start()
    done.wait(5)
    client.disconnect()
    client.loop_stop()
    return answer[0] if answer else None


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeBroker]:
    server = ComposeBroker(tmp_path_factory.mktemp("compose-broker"))
    server.start()
    yield server
    server.stop()


def test_the_hub_logs_in_on_the_compose_network_listener(broker: ComposeBroker) -> None:
    reason = _connack(broker.port, "hub", PASSWORD)
    assert reason is not None and not reason.is_failure


def test_anonymous_and_wrong_logins_are_refused_as_the_health_check_expects(
    broker: ComposeBroker,
) -> None:
    # docker-compose.yml's health check greps mosquitto_sub's "not authorised" for this.
    for username, password in ((None, None), ("hub", "wrong")):
        reason = _connack(broker.port, username, password)
        assert reason is not None and reason.is_failure
        assert "authori" in str(reason).lower()
    assert _connack(broker.plain_port, None, None) is not None


def test_devices_reach_the_tls_listener_with_the_sites_ca(broker: ComposeBroker) -> None:
    reason = _connack(broker.tls_port, "hub", PASSWORD, ca=broker.workdir / "certs/ca.crt")
    assert reason is not None and not reason.is_failure
