"""docker-compose.yml, the Dockerfile and .env.example, checked without a Docker engine.

The Compose specification's JSON schema comes from check-jsonschema, which vendors it
(`check_jsonschema/builtin_schemas/vendor/compose-spec.json`, kept in step with
compose-spec/compose-spec); everything the schema cannot know (files that must exist,
health checks, documented variables) is checked by hand here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.files import (
    COMPOSE,
    DOCKERFILE,
    ENV_EXAMPLE,
    HUB_ENV_EXAMPLE,
    ROOT,
    env_file,
    readme_variables,
)

VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
HUB_SERVICES = ("ingest", "dashboard")
SECRET_NAME = re.compile(r"(PASSWORD|TOKEN|SECRET_KEY)$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return document


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


def _mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each volume in short syntax."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target, *_ = re.split(r":(?![^{]*\})", volume)  # not the `:-` in ${A:-b}
        mounts.append((source, target))
    return mounts


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment: dict[str, str] = service.get("environment", {})
    return environment


def test_the_compose_file_parses_with_the_expected_services(compose: dict[str, Any]) -> None:
    assert set(_services(compose)) == {"mosquitto", "influxdb", "ingest", "dashboard"}


def test_the_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    try:
        import jsonschema
        from check_jsonschema.builtin_schemas import vendor
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("check-jsonschema is missing: it belongs in pyproject.toml's test extra")
        pytest.skip("pip install check-jsonschema (the test extra) to validate against the spec")
    schema = json.loads(resources.files(vendor).joinpath("compose-spec.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_every_service_has_an_image_or_a_build_context_that_exists(
    compose: dict[str, Any],
) -> None:
    for name, service in _services(compose).items():
        assert "image" in service or "build" in service, name
        if "build" in service:
            build = service["build"]
            context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile")
            assert (context / (dockerfile or "Dockerfile")).is_file(), name
    assert _services(compose)["mosquitto"]["image"].startswith("eclipse-mosquitto:2")
    assert _services(compose)["influxdb"]["image"].startswith("influxdb:2.7")


def test_every_service_has_a_health_check_and_a_restart_policy(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"
        assert service.get("restart") in ("always", "unless-stopped", "on-failure"), name


def test_the_hub_containers_health_check_script_is_in_the_image(compose: dict[str, Any]) -> None:
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    assert "COPY deploy/docker/healthcheck.py /app/healthcheck.py" in dockerfile
    for name in HUB_SERVICES:
        test = _services(compose)[name]["healthcheck"]["test"]
        assert test == ["CMD", "python", "/app/healthcheck.py", name]


def test_every_file_mounted_from_the_repository_exists(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        for source, target in _mounts(service):
            if source.startswith(".") and "${" not in source:
                assert (ROOT / source).exists(), f"{name}: {source} (for {target}) is missing"


def test_the_broker_gets_every_folder_its_config_names(compose: dict[str, Any]) -> None:
    mosquitto = _services(compose)["mosquitto"]
    targets = {target for _, target in _mounts(mosquitto)}
    config = (ROOT / "broker/mosquitto.conf").read_text(encoding="utf-8")
    settings = "\n".join(line for line in config.splitlines() if not line.startswith("#"))
    folders = set(re.findall(r"\s/mosquitto/(\w+)", settings))
    assert folders == {"config", "certs", "secrets", "data", "plugins"}
    for folder in folders:
        assert any(t.startswith(f"/mosquitto/{folder}") for t in targets), folder
    # A new file in broker/conf.d must be mounted too, or the production broker misses it.
    for shared in (ROOT / "broker/conf.d").glob("*.conf"):
        assert f"/mosquitto/config/conf.d/{shared.name}" in targets, shared.name
    assert ("mosquitto-data", "/mosquitto/data") in _mounts(mosquitto)
    assert all(v.endswith(":ro") for v in mosquitto["volumes"] if "/mosquitto/data" not in v)


def test_every_piece_of_state_is_in_a_named_volume(compose: dict[str, Any]) -> None:
    services = _services(compose)
    wanted = {
        "mosquitto": ["/mosquitto/data"],
        "influxdb": ["/var/lib/influxdb2", "/etc/influxdb2"],
        "ingest": ["/var/lib/canteen"],
        "dashboard": ["/var/lib/canteen"],
    }
    for name, paths in wanted.items():
        mounts = {target: source for source, target in _mounts(services[name])}
        for path in paths:
            assert mounts.get(path) in compose["volumes"], f"{name}: {path} is not a volume"
        env = _environment(services[name])
        if name in HUB_SERVICES:
            assert env["CANTEEN_STATE_DIR"] == "/var/lib/canteen"


def test_influxdb_is_set_up_on_first_start_with_the_dbrp_mapping(compose: dict[str, Any]) -> None:
    influxdb = _services(compose)["influxdb"]
    env = _environment(influxdb)
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert env["DOCKER_INFLUXDB_INIT_BUCKET"] == "canteen"
    assert env["DOCKER_INFLUXDB_INIT_RETENTION"] == "${INFLUX_RETENTION:-90d}"
    for hub in HUB_SERVICES:
        hub_env = _environment(_services(compose)[hub])
        assert VARIABLE.findall(hub_env["CANTEEN_INFLUX_TOKEN"])[0][0] == "CANTEEN_INFLUX_TOKEN"
        assert VARIABLE.findall(env["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"])[0][0] == (
            "CANTEEN_INFLUX_TOKEN"
        )
        assert hub_env["CANTEEN_INFLUX_DB"] == env["DOCKER_INFLUXDB_INIT_BUCKET"]
        assert hub_env["CANTEEN_INFLUX_ORG"] == env["DOCKER_INFLUXDB_INIT_ORG"]
    init = {target: source for source, target in _mounts(influxdb)}
    folder = ROOT / init["/docker-entrypoint-initdb.d"]
    scripts = sorted(folder.glob("*.sh"))
    assert scripts, "no init script"
    for script in scripts:
        # The image runs them with run-parts, which skips files that are not executable.
        assert os.access(script, os.X_OK), f"{script.name} is not executable"
        subprocess.run(["bash", "-n", str(script)], check=True)
    command = shlex.split(
        " ".join(line.rstrip("\\") for line in scripts[0].read_text().splitlines())
    )
    start = command.index("influx")
    assert command[start : start + 4] == ["influx", "v1", "dbrp", "create"]
    flags = command[start + 4 :]
    assert flags[flags.index("--db") + 1] == "${DOCKER_INFLUXDB_INIT_BUCKET}"
    assert flags[flags.index("--rp") + 1] == "autogen"
    assert flags[flags.index("--bucket-id") + 1] == "${DOCKER_INFLUXDB_INIT_BUCKET_ID}"
    assert "--default" in flags


def test_the_hub_waits_for_healthy_backends(compose: dict[str, Any]) -> None:
    for name in HUB_SERVICES:
        depends = _services(compose)[name]["depends_on"]
        assert depends == {
            "mosquitto": {"condition": "service_healthy"},
            "influxdb": {"condition": "service_healthy"},
        }


def test_every_compose_variable_is_in_env_example() -> None:
    used = {name for name, _, _ in VARIABLE.findall(COMPOSE.read_text(encoding="utf-8"))}
    missing = used - set(env_file(ENV_EXAMPLE))
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_the_hub_variables_compose_sets_are_ones_the_code_reads(compose: dict[str, Any]) -> None:
    read = set()
    for package in ("canteen", "ingest", "dashboard", "alerts", "timeseries"):
        for source in (ROOT / package).rglob("*.py"):
            read |= set(re.findall(r"\b(CANTEEN_[A-Z_]+)\b", source.read_text(encoding="utf-8")))
    for name in HUB_SERVICES:
        set_here = {k for k in _environment(_services(compose)[name]) if k.startswith("CANTEEN_")}
        assert set_here <= read, f"{name} sets variables nothing reads: {set_here - read}"


@pytest.mark.parametrize("path", [ENV_EXAMPLE, HUB_ENV_EXAMPLE], ids=lambda p: p.name)
def test_every_canteen_variable_of_an_example_is_documented(path: Path) -> None:
    documented = readme_variables()
    for name in env_file(path, include_commented=True):
        if name.startswith("CANTEEN_") or name == "TZ":
            assert name in documented, f"{name} is missing from README.md's Configuration table"


@pytest.mark.parametrize("path", [ENV_EXAMPLE, HUB_ENV_EXAMPLE], ids=lambda p: p.name)
def test_the_examples_hold_no_real_secret(path: Path) -> None:
    random_looking = re.compile(r"(?=[^\s]*\d)(?=[^\s]*[a-z])[A-Za-z0-9+/=_\-]{16,}")
    for name, value in env_file(path, include_commented=True).items():
        if SECRET_NAME.search(name):
            assert value == "", f"{name} must be left empty in {path.name}"
        assert not random_looking.search(value), f"{name}={value} looks like a real secret"
        for password in re.findall(r"://[^:/@]+:([^@]*)@", value):
            assert password.isupper() or password == "", f"{name}: use a placeholder password"


def test_the_image_installs_the_hub_extra_only_and_runs_unprivileged() -> None:
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert installs and all('".[hub]"' in line for line in installs), installs
    instructions = "\n".join(
        line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")
    )
    assert not re.search(r"opencv|camera|cv2", instructions, re.IGNORECASE)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0")


def test_the_image_copies_every_package_pyproject_installs() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = set(re.findall(r"^COPY\s+(\w+)\s+\1\s*$", DOCKERFILE.read_text(), re.MULTILINE))
    for pattern in include:
        package = pattern.rstrip("*")
        if (ROOT / package).is_dir():
            assert package in copied, f"the Dockerfile does not COPY {package}/"
