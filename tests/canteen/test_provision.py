"""`canteen broker init` and `canteen device ...`: the files they write and their errors.

No broker runs here (tests/broker/ proves the files against a real Mosquitto); the
password file is written by the real `mosquitto_passwd`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from canteen.cli import main
from canteen.provision import ProvisionError
from canteen.provision.access import BrokerAccess
from canteen.provision.acl import render_acl
from canteen.provision.device_files import read_env_url
from canteen.provision.layout import BrokerFiles
from canteen.provision.mosquitto_conf import Placement, listeners, localise
from canteen.provision.registry import KINDS, DeviceEntry, Registry, utc_now
from canteen.provision.reload import ReloadResult, reload_broker
from canteen.settings import MqttSettings
from edge.config import load_config

REPO = Path(__file__).resolve().parents[2]
NO_RELOAD = ReloadResult(False, "not reloaded in this test")


@pytest.fixture
def access(tmp_path: Path) -> BrokerAccess:
    """A hub set up in a temporary state folder."""
    broker = BrokerAccess(BrokerFiles(tmp_path / "state"), reload=lambda: NO_RELOAD)
    broker.init(["hub.local", "192.168.1.10"], 8883)
    return broker


def _acl_users(files: BrokerFiles) -> list[str]:
    lines = files.acl_file.read_text().splitlines()
    return [line.split()[1] for line in lines if line.startswith("user ")]


def test_init_makes_a_ca_and_a_server_certificate_for_every_name(access: BrokerAccess) -> None:
    files = access.files
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    server.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.ca
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["hub.local"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["192.168.1.10"]
    assert files.password_file.read_text().startswith("hub:$7$")
    assert _acl_users(files) == ["hub"]
    hub = MqttSettings.from_url(read_env_url(files.hub_env))
    assert (hub.username, hub.host, hub.port) == ("hub", "127.0.0.1", 1883)


def test_every_secret_is_readable_by_its_owner_only(access: BrokerAccess) -> None:
    access.add("site-a", "cold-room", "fridge")
    for path in access.files.root.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path} is {mode:o}"
    assert not access.files.root.is_relative_to(REPO)


def test_init_again_keeps_the_ca_and_logins_and_reissues_for_new_names(
    access: BrokerAccess,
) -> None:
    files = access.files
    ca, passwords, server = (
        p.read_bytes() for p in (files.ca_cert, files.password_file, files.server_cert)
    )
    access.init(["hub.local", "192.168.1.10"], 8883)
    assert files.server_cert.read_bytes() == server
    access.init(["hub.local", "192.168.1.20"], 8883)
    assert files.ca_cert.read_bytes() == ca and files.password_file.read_bytes() == passwords
    assert files.server_cert.read_bytes() != server


def test_add_writes_the_login_the_acl_and_a_bundle_the_agent_loads(access: BrokerAccess) -> None:
    access.add("site-a", "cold-room", "fridge")
    files = access.files
    acl = files.acl_file.read_text()
    assert (
        "user canteen-site-a-cold-room\n"
        "topic write canteen/site-a/cold-room/telemetry\n"
        "topic write canteen/site-a/cold-room/status\n"
        "topic read canteen/site-a/cold-room/config\n"
    ) in acl
    assert "user hub\ntopic read canteen/#\ntopic write canteen/+/+/config\n" in acl
    assert "canteen-site-a-cold-room" in files.password_file.read_text()
    bundle = files.bundle("site-a", "cold-room")
    login = MqttSettings.from_url(read_env_url(bundle / "edge.env"))
    assert login.username == "canteen-site-a-cold-room" and login.tls
    assert (login.host, login.port) == ("hub.local", 8883)
    password = login.password.get_secret_value() if login.password else ""
    assert len(password) >= 43
    yaml_text = (bundle / "edge.yaml").read_text()
    assert password not in yaml_text and "canteen-site-a-cold-room" not in yaml_text
    assert (bundle / "ca.crt").read_bytes() == files.ca_cert.read_bytes()


@pytest.mark.parametrize("simulated", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_bundle_is_a_valid_device_config(
    access: BrokerAccess, kind: str, simulated: bool
) -> None:
    access.add("site-a", f"{kind}-node", kind, simulated=simulated)  # type: ignore[arg-type]
    bundle = access.files.bundle("site-a", f"{kind}-node")
    env = {"CANTEEN_MQTT_URL": read_env_url(bundle / "edge.env")}
    config = load_config(bundle / "edge.yaml", env)
    assert (config.site, config.device) == ("site-a", f"{kind}-node")
    assert config.mqtt_settings().username == f"canteen-site-a-{kind}-node"
    assert str(config.mqtt_ca_file) == "/etc/canteen/ca.crt"
    assert all(s.type.startswith("simulated") == simulated for s in config.sensors)


def test_passwords_are_different_for_every_device_and_every_rotation(
    access: BrokerAccess,
) -> None:
    access.add("site-a", "one", "fridge")
    access.add("site-a", "two", "fridge")
    env = access.files.bundle("site-a", "one") / "edge.env"
    first = read_env_url(env)
    other = read_env_url(access.files.bundle("site-a", "two") / "edge.env")
    access.rotate("site-a", "one")
    assert len({first, other, read_env_url(env)}) == 3


def test_rotate_keeps_the_installers_edits_to_the_yaml(access: BrokerAccess) -> None:
    access.add("site-a", "cold-room", "fridge")
    yaml_path = access.files.bundle("site-a", "cold-room") / "edge.yaml"
    edited = yaml_path.read_text().replace("28-000000000001", "28-0316a2795eff")
    yaml_path.write_text(edited)
    before = access.files.password_file.read_text()
    access.rotate("site-a", "cold-room")
    assert yaml_path.read_text() == edited
    assert access.files.password_file.read_text() != before
    entry = access.devices()[0]
    assert entry.rotated is not None and entry.active


def test_revoke_removes_login_acl_and_bundle_and_the_list_shows_it(
    access: BrokerAccess, capsys: pytest.CaptureFixture[str]
) -> None:
    access.add("site-a", "cold-room", "fridge")
    access.add("site-a", "entrance", "entrance")
    access.revoke("site-a", "cold-room")
    files = access.files
    assert "canteen-site-a-cold-room" not in files.password_file.read_text()
    assert _acl_users(files) == ["hub", "canteen-site-a-entrance"]
    assert not files.bundle("site-a", "cold-room").exists()
    assert main(["device", "list", "--state-dir", str(files.root)]) == 0
    listing = capsys.readouterr().out
    assert "cold-room" in listing and "revoked" in listing and "entrance" in listing
    access.add("site-a", "cold-room", "fridge")  # a revoked device may come back
    assert "canteen-site-a-cold-room" in _acl_users(files)


def test_mistakes_are_refused_with_the_fix(access: BrokerAccess, tmp_path: Path) -> None:
    access.add("site-a", "cold-room", "fridge")
    with pytest.raises(ProvisionError, match="canteen device rotate site-a cold-room"):
        access.add("site-a", "cold-room", "fridge")
    with pytest.raises(ProvisionError, match="canteen device add site-a nobody"):
        access.rotate("site-a", "nobody")
    with pytest.raises(ProvisionError, match="not a slug"):
        access.add("Site A", "cold-room", "fridge")
    access.add("a-b", "c", "fridge")
    with pytest.raises(ProvisionError, match="canteen-a-b-c, which a-b/c already uses"):
        access.add("a", "b-c", "fridge")
    access.revoke("site-a", "cold-room")
    with pytest.raises(ProvisionError, match="was revoked: add it again"):
        access.revoke("site-a", "cold-room")
    blank = BrokerAccess(BrokerFiles(tmp_path / "blank"), reload=lambda: NO_RELOAD)
    with pytest.raises(ProvisionError, match="canteen broker init"):
        blank.add("site-a", "cold-room", "fridge")


def test_the_acl_lists_active_devices_only() -> None:
    entries = [
        DeviceEntry(site="s", device=d, kind="waste", username=f"canteen-s-{d}", created=utc_now())
        for d in ("b", "a")
    ]
    entries[0].revoked = utc_now()
    acl = render_acl(Registry(hostnames=["hub"], devices=entries))
    assert "user canteen-s-a\n" in acl and "canteen-s-b" not in acl


def test_reload_signals_only_a_mosquitto_named_in_the_pid_file(tmp_path: Path) -> None:
    pid_file = tmp_path / "mosquitto.pid"
    pid_file.write_text(f"{os.getpid()}\n")  # pytest itself: must not get a SIGHUP
    result = reload_broker("pid", pid_file)
    assert not result.done and "NOT reloaded" in result.message
    assert "systemctl reload mosquitto" in result.message
    assert not reload_broker("none", pid_file).done
    missing = reload_broker("pid", tmp_path / "absent.pid")
    assert not missing.done and str(tmp_path / "absent.pid") in missing.message


def test_the_command_line_sets_up_a_hub_and_says_when_it_cannot_reload(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "state")
    common = ["--state-dir", state, "--reload", "pid", "--pid-file", str(tmp_path / "no.pid")]
    assert main(["broker", "init", "--hostname", "hub.local", *common]) == 0
    assert "new private CA" in capsys.readouterr().out
    assert main(["device", "add", "site-a", "cold-room", "--kind", "fridge", *common]) == 2
    captured = capsys.readouterr()
    assert "added fridge node site-a/cold-room" in captured.out
    assert "the broker was NOT reloaded" in captured.err
    assert (
        main(["device", "rotate", "site-a", "cold-room", "--state-dir", state, "--reload", "none"])
        == 0
    )
    assert main(["device", "revoke", "site-a", "nobody", "--state-dir", state]) == 2
    assert "no device site-a/nobody" in capsys.readouterr().err


def test_the_production_config_is_moved_only_in_ports_and_paths(tmp_path: Path) -> None:
    text = (REPO / "broker" / "mosquitto.conf").read_text()
    files = {
        name: tmp_path / name
        for name in ("cafile", "certfile", "keyfile", "password_file", "acl_file")
    }
    place = Placement("127.0.0.1", 2000, 2001, tmp_path / "conf.d", tmp_path / "data", files)
    local = localise(text, place)
    settings = [line for line in local.splitlines() if line and not line.startswith("#")]
    assert not [line for line in settings if "/mosquitto/" in line]
    assert [(x.port, x.address, x.tls) for x in listeners(local)] == [
        (2000, "127.0.0.1", False),
        (2001, "127.0.0.1", True),
    ]
    kept = [
        line
        for line in text.splitlines()
        if line.split()[:1] in (["allow_anonymous"], ["tls_version"])
    ]
    assert all(line in local.splitlines() for line in kept) and kept


def test_the_brokers_user_keeps_owning_its_files_after_every_command(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving files to the broker's user needs root (the hub runs it with sudo)")
    files = BrokerFiles(tmp_path / "state")
    BrokerAccess(files, reload=lambda: NO_RELOAD, broker_user="4242").init(["hub.local"], 8883)
    later = BrokerAccess(files, reload=lambda: NO_RELOAD)  # no --broker-user: remembered
    later.add("site-a", "cold-room", "fridge")
    for path in (files.acl_file, files.password_file, files.server_key, files.ca_cert):
        assert path.stat().st_uid == 4242, path
    assert files.ca_key.stat().st_uid == 0  # the CA's key stays root's alone
    assert stat.S_IMODE(files.root.stat().st_mode) == 0o711
