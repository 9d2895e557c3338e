#!/bin/bash
# InfluxDB 2.x: the equivalent of `canteen retention apply` (which speaks InfluxQL to 1.x).
# Run where the influx CLI is configured with an operator token, e.g.
#   docker compose exec influxdb /tasks/apply.sh        (or: INFLUX_HOST=... INFLUX_TOKEN=... ./apply.sh)
# Safe to run again: existing buckets and mappings are kept, the tasks are replaced.
#   bucket canteen          raw readings, RAW_RETENTION (default 90d)    DBRP canteen/autogen (default)
#   bucket canteen_hourly   hourly rollups, HOURLY_RETENTION (1830d)     DBRP canteen/rp_hourly
#   bucket canteen_daily    daily rollups, kept for ever                 DBRP canteen/rp_daily
set -euo pipefail

ORG="${INFLUX_ORG:-${DOCKER_INFLUXDB_INIT_ORG:-canteen}}"
RAW="${INFLUX_BUCKET:-${DOCKER_INFLUXDB_INIT_BUCKET:-canteen}}"
HERE="$(cd "$(dirname "$0")" && pwd)"

bucket_id() {
    influx bucket list --org "$ORG" --name "$1" --hide-headers 2>/dev/null | awk '{print $1}'
}

ensure_bucket() {  # name retention
    if [ -z "$(bucket_id "$1")" ]; then
        influx bucket create --org "$ORG" --name "$1" --retention "$2" >/dev/null
    else
        influx bucket update --id "$(bucket_id "$1")" --retention "$2" >/dev/null
    fi
}

ensure_dbrp() {  # rp bucket
    if ! influx v1 dbrp list --org "$ORG" --db "$RAW" --rp "$1" --hide-headers 2>/dev/null | grep -q .; then
        influx v1 dbrp create --org "$ORG" --db "$RAW" --rp "$1" --bucket-id "$(bucket_id "$2")"
    fi
}

ensure_bucket "$RAW" "${RAW_RETENTION:-90d}"
ensure_bucket canteen_hourly "${HOURLY_RETENTION:-1830d}"
ensure_bucket canteen_daily 0
ensure_dbrp rp_hourly canteen_hourly
ensure_dbrp rp_daily canteen_daily

for file in "$HERE"/rollups_*.flux; do
    name="$(sed -n 's/^option task = {name: "\([^"]*\)".*/\1/p' "$file")"
    for id in $(influx task list --org "$ORG" --hide-headers | grep -F "$name" | awk '{print $1}'); do
        influx task delete --id "$id" >/dev/null
    done
    influx task create --org "$ORG" --file "$file" >/dev/null
    echo "task \"$name\" installed"
done
# Backfill after the first install (the tasks only look back 6 h / 2 days): run each file's
# body once with a wider range, e.g. in the UI's Data Explorer with range(start: -90d).
