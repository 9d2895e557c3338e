#!/usr/bin/env bash
# Install what the demo or the tests need on Debian 12 / Raspberry Pi OS (as root or with
# sudo): system packages, then a virtual environment with the project. Safe to run again;
# a second run installs nothing and takes a second or two.
#   scripts/setup.sh demo   - broker, database, hub and simulated devices
#   scripts/setup.sh test   - the above plus Chromium and the test tools
set -euo pipefail
cd "$(dirname "$0")/.."

purpose=${1:-demo}
case "$purpose" in
  demo) extras="edge,hub"; packages=(mosquitto influxdb python3-venv) ;;
  test) extras="edge,camera,hub,test"
        # mosquitto-dev, libmosquitto-dev, gcc, libc6-dev: the broker's guard plugin (below)
        packages=(mosquitto influxdb python3-venv chromium fonts-liberation fonts-wqy-microhei
                  mosquitto-dev libmosquitto-dev gcc libc6-dev) ;;
  *) echo "usage: scripts/setup.sh demo|test" >&2; exit 2 ;;
esac

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: run as root or install sudo" >&2; exit 1; }
  sudo_cmd=(sudo)
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing system packages: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: Python 3.11 or newer is needed ($python is $("$python" --version 2>&1))" >&2
  exit 1
fi

stamp=".venv/.installed-$extras-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> installing Python packages into .venv ($extras)"
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet --progress-bar off -e ".[$extras]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

if [ "$purpose" = test ]; then
  # The production-like brokers of the tests load it (broker/plugin/README.md); build/ is
  # git-ignored. Skipped when the .so is newer than its source.
  broker/plugin/build.sh build/broker
fi
