// InfluxDB 2.x task: the hourly rollups, the same aggregates as timeseries/retention.py's
// continuous queries on 1.x (INTO rp_hourly.*_1h), landing in bucket canteen_hourly, which the
// DBRP mapping canteen/rp_hourly exposes to the hub's InfluxQL reads. Recomputes the last
// 6h every 30m, as the 1.x RESAMPLE clause does. Import with apply.sh.
option task = {name: "canteen rollups hourly", every: 30m, offset: 1m}

rollup = (measurement, field, fn, as) =>
    from(bucket: "canteen")
        |> range(start: -6h)
        |> filter(fn: (r) => r._measurement == measurement and r._field == field)
        |> aggregateWindow(every: 1h, fn: fn, createEmpty: false, timeSrc: "_start")
        |> set(key: "_measurement", value: measurement + "_1h")
        |> set(key: "_field", value: as)
        |> to(bucket: "canteen_hourly")

rollup(measurement: "waste", field: "grams", fn: sum, as: "grams")
rollup(measurement: "waste", field: "grams", fn: count, as: "drops")
rollup(measurement: "temperature", field: "celsius", fn: min, as: "celsius_min")
rollup(measurement: "temperature", field: "celsius", fn: max, as: "celsius_max")
rollup(measurement: "temperature", field: "celsius", fn: mean, as: "celsius_mean")
rollup(measurement: "temperature", field: "celsius", fn: count, as: "samples")
rollup(measurement: "occupancy", field: "entered", fn: sum, as: "entered")
rollup(measurement: "occupancy", field: "exited", fn: sum, as: "exited")
rollup(measurement: "occupancy", field: "present", fn: last, as: "present")
rollup(measurement: "occupancy", field: "present", fn: max, as: "present_max")
