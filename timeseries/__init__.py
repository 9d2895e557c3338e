"""InfluxDB access for the ingest and the dashboard: sure writes, InfluxQL reads."""

from timeseries.influx import (
    ApiVersion,
    InfluxError,
    InfluxQL,
    InfluxUnreachable,
    LineWriter,
    QueryError,
    Series,
    V1LineWriter,
    V2LineWriter,
    WriteFailed,
    WriteRejected,
    detect_api,
    open_writer,
    quote_ident,
    quote_literal,
)

__all__ = [
    "ApiVersion",
    "InfluxError",
    "InfluxQL",
    "InfluxUnreachable",
    "LineWriter",
    "QueryError",
    "Series",
    "V1LineWriter",
    "V2LineWriter",
    "WriteFailed",
    "WriteRejected",
    "detect_api",
    "open_writer",
    "quote_ident",
    "quote_literal",
]
