#!/bin/bash
# InfluxDB 2.x, first start only (the influxdb:2 image runs /docker-entrypoint-initdb.d/*.sh
# once, right after its own `influx setup`): map the 1.x database "canteen" and retention
# policy "autogen" onto the bucket, as the default policy, so InfluxQL over /query (the
# hub's reads, Grafana) finds the bucket's data. The entrypoint exports the bucket's id and
# leaves an influx CLI configuration holding the admin token and the server's address.
set -euo pipefail

influx v1 dbrp create \
    --org "${DOCKER_INFLUXDB_INIT_ORG}" \
    --db "${DOCKER_INFLUXDB_INIT_BUCKET}" \
    --rp autogen \
    --bucket-id "${DOCKER_INFLUXDB_INIT_BUCKET_ID}" \
    --default
