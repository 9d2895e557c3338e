"""A production-like hub broker: `canteen broker init`'s files and broker/mosquitto.conf."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from canteen.local_services import LocalMosquitto, ServiceError
from canteen.provision.access import BrokerAccess
from canteen.provision.device_files import read_env_url
from canteen.provision.layout import BrokerFiles
from canteen.provision.mosquitto_conf import BrokerSecrets
from canteen.provision.reload import reload_broker
from canteen.settings import MqttSettings
from tests.broker.mqtt_probe import connack_of
from tests.waiting import wait_until


@dataclass
class SecuredHub:
    """The broker, its provisioning, and the logins the tests use."""

    broker: LocalMosquitto
    access: BrokerAccess
    files: BrokerFiles

    def hub_login(self) -> MqttSettings:
        """The hub user on the loopback plain listener (from hub.env)."""
        return MqttSettings.from_url(read_env_url(self.files.hub_env))

    def device_login(self, site: str, device: str) -> MqttSettings:
        """A device's login from its bundle, over TLS verified with the bundle's CA."""
        bundle = self.files.bundle(site, device)
        return MqttSettings.from_url(
            read_env_url(bundle / "edge.env"), ca_file=str(bundle / "ca.crt")
        )

    def wait_login(self, settings: MqttSettings, accepted: bool) -> None:
        """Wait for a reload to take effect: the login is accepted (or refused)."""
        wait_until(
            lambda: connack_of(settings).is_failure != accepted,
            message=f"{settings.username} to be {'accepted' if accepted else 'refused'}",
        )


def secured_hub_in(folder: Path) -> SecuredHub:
    """Set a hub up with `BrokerAccess.init` and start broker/mosquitto.conf on it."""
    files = BrokerFiles(folder / "broker-state")
    secrets = BrokerSecrets(
        cafile=files.ca_cert,
        certfile=files.server_cert,
        keyfile=files.server_key,
        password_file=files.password_file,
        acl_file=files.acl_file,
    )
    broker = LocalMosquitto(folder / "mosquitto", secrets=secrets)
    assert broker.tls_port is not None
    access = BrokerAccess(files, reload=lambda: reload_broker("pid", broker.pid_path))
    access.init(["127.0.0.1", "localhost"], broker.tls_port, local_port=broker.port)
    try:
        broker.start()
    except ServiceError as err:
        pytest.fail(f"{err}\n(the test command `sudo scripts/test.sh` installs it)")
    return SecuredHub(broker, access, files)


@pytest.fixture
def secured_hub(tmp_path: Path) -> Iterator[SecuredHub]:
    """A fresh production-like broker for one test."""
    hub = secured_hub_in(tmp_path)
    yield hub
    hub.broker.stop()
