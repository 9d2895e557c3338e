#!/usr/bin/env bash
# Build the broker's guard plugin (canteen_guard.so) into a folder, from Debian's
# mosquitto-dev and libmosquitto-dev headers with gcc. Does nothing when the .so is newer
# than its source and the headers (a second run costs a few milliseconds).
#   broker/plugin/build.sh OUT_DIR        e.g. build/broker (scripts/setup.sh test does this)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out_dir=${1:?usage: broker/plugin/build.sh OUT_DIR}
source="$here/canteen_guard.c"
target="$out_dir/canteen_guard.so"
headers=(/usr/include/mosquitto_broker.h /usr/include/mosquitto_plugin.h /usr/include/mosquitto.h)
for header in "${headers[@]}"; do
  [ -f "$header" ] || { echo "build.sh: $header is missing: apt install mosquitto-dev libmosquitto-dev" >&2; exit 1; }
done
up_to_date=1
[ -f "$target" ] || up_to_date=0
for input in "$source" "${headers[@]}"; do
  [ "$up_to_date" -eq 1 ] && [ "$input" -nt "$target" ] && up_to_date=0
done
[ "$up_to_date" -eq 1 ] && exit 0
echo "==> building $target"
mkdir -p "$out_dir"
# Built to a temporary name and moved: a broker never loads a half-written file.
${CC:-gcc} -std=c11 -O2 -Wall -Wextra -Werror -fPIC -shared -o "$target.tmp" "$source"
mv "$target.tmp" "$target"
