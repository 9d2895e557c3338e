"""The hub ingest: telemetry and status over MQTT, validated, into InfluxDB, acked after."""
