"""Talk to InfluxDB 1.x or 2.x: write line protocol with a known outcome, read with InfluxQL.

Writes go to `/write` (1.x) or through influxdb-client's synchronous `WriteApi` (2.x);
every write either succeeds, raises `WriteRejected` (the server refused the data:
retrying cannot help) or raises `WriteFailed` (try again later). Reads use InfluxQL over
`/query` on every version, so one set of queries serves 1.x, 2.x (DBRP mapping) and 3.x.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import urllib3

from canteen.settings import InfluxSettings

logger = logging.getLogger(__name__)

ApiVersion = Literal["v1", "v2"]


class InfluxError(RuntimeError):
    """Something went wrong talking to InfluxDB."""


class InfluxUnreachable(InfluxError):
    """No InfluxDB answered at the configured URL."""


class WriteFailed(InfluxError):
    """A write that did not land but may on a later try (429, 5xx, connection error)."""


class WriteRejected(InfluxError):
    """A write the server refused for its content (400, 413, 422): retrying cannot help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"InfluxDB refused the write ({status}): {message}")
        self.status = status
        self.server_message = message


class QueryError(InfluxError):
    """An InfluxQL query the server answered with an error."""


class LineWriter(Protocol):
    """Writes a batch of line-protocol lines (millisecond precision), or raises."""

    def write(self, lines: Sequence[str]) -> None:
        """Write every line, or raise WriteRejected / WriteFailed."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def _pool(settings: InfluxSettings) -> urllib3.PoolManager:
    timeout = urllib3.Timeout(connect=min(5.0, settings.timeout_s), read=settings.timeout_s)
    return urllib3.PoolManager(num_pools=2, maxsize=4, timeout=timeout, retries=False)


def _auth_headers(settings: InfluxSettings) -> dict[str, str]:
    if settings.token is None:
        return {}
    return {"Authorization": f"Token {settings.token.get_secret_value()}"}


def detect_api(settings: InfluxSettings, pool: urllib3.PoolManager | None = None) -> ApiVersion:
    """Ask `/ping` which version the server is (X-Influxdb-Version), unless configured."""
    if settings.api != "auto":
        return settings.api
    pool = pool or _pool(settings)
    try:
        response = pool.request("GET", f"{settings.url.rstrip('/')}/ping")
    except urllib3.exceptions.HTTPError as err:
        raise InfluxUnreachable(
            f"InfluxDB is not reachable at {settings.url} ({err}); start it, or set "
            "CANTEEN_INFLUX_URL to where it runs"
        ) from err
    version = response.headers.get("X-Influxdb-Version", "")
    if not version:
        raise InfluxUnreachable(
            f"{settings.url}/ping did not say which InfluxDB it is (no X-Influxdb-Version "
            "header); check CANTEEN_INFLUX_URL, or set CANTEEN_INFLUX_API to v1 or v2"
        )
    api: ApiVersion = "v1" if version.lstrip("v").startswith("1.") else "v2"
    logger.info("InfluxDB %s at %s: using the %s write API", version, settings.url, api)
    return api


def _raise_for_status(status: int, body: str) -> None:
    if status in (200, 204):
        return
    message = body.strip()
    try:
        message = str(json.loads(body).get("error") or json.loads(body).get("message") or body)
    except (ValueError, AttributeError):
        pass
    if status in (400, 413, 422):
        raise WriteRejected(status, message)
    raise WriteFailed(f"InfluxDB answered {status}: {message}")


@dataclass
class V1LineWriter:
    """Writes to InfluxDB 1.x `/write` (also 1.8+ and 2.x's v1-compatible endpoint)."""

    settings: InfluxSettings
    pool: urllib3.PoolManager = field(init=False)

    def __post_init__(self) -> None:
        self.pool = _pool(self.settings)
        query = f"db={self.settings.database}&precision=ms"
        if self.settings.retention_policy:
            query += f"&rp={self.settings.retention_policy}"
        self._url = f"{self.settings.url.rstrip('/')}/write?{query}"
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        self._headers.update(_auth_headers(self.settings))

    def write(self, lines: Sequence[str]) -> None:
        """POST the lines as one body."""
        if not lines:
            return
        try:
            response = self.pool.request(
                "POST", self._url, body="\n".join(lines).encode(), headers=self._headers
            )
        except urllib3.exceptions.HTTPError as err:
            raise WriteFailed(
                f"InfluxDB at {self.settings.url} did not take the write: {err}"
            ) from err
        _raise_for_status(response.status, response.data.decode(errors="replace"))

    def close(self) -> None:
        """Close pooled connections."""
        self.pool.clear()


class V2LineWriter:
    """Writes through influxdb-client's WriteApi in synchronous mode, so every outcome is known.

    The client's default batching mode retries in the background and then drops a batch
    with only a log line; synchronous mode raises instead, and the ingest decides.
    """

    def __init__(self, settings: InfluxSettings) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        token = settings.token.get_secret_value() if settings.token else ""
        self._client = InfluxDBClient(
            url=settings.url, token=token, org=settings.org, timeout=int(settings.timeout_s * 1000)
        )
        self._api = self._client.write_api(write_options=SYNCHRONOUS)
        rp = settings.retention_policy
        self._bucket = f"{settings.database}/{rp}" if rp else settings.database
        self._settings = settings

    def write(self, lines: Sequence[str]) -> None:
        """Write the lines to the bucket at millisecond precision."""
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException

        if not lines:
            return
        try:
            self._api.write(
                bucket=self._bucket,
                record=list(lines),
                write_precision=WritePrecision.MS,  # type: ignore[arg-type]
            )
        except ApiException as err:
            _raise_for_status(int(err.status or 0), str(err.body or err.reason or ""))
        except urllib3.exceptions.HTTPError as err:
            raise WriteFailed(
                f"InfluxDB at {self._settings.url} did not take the write: {err}"
            ) from err

    def close(self) -> None:
        """Close the client."""
        self._client.close()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class Series:
    """One series of an InfluxQL result."""

    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]

    def rows(self) -> list[dict[str, Any]]:
        """The values as dicts keyed by column, each with the series' tags."""
        return [{**self.tags, **dict(zip(self.columns, row, strict=True))} for row in self.values]


def quote_literal(text: str) -> str:
    """Quote a string for an InfluxQL WHERE clause."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_ident(text: str) -> str:
    """Quote an identifier (database, measurement, tag key) for InfluxQL."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class InfluxQL:
    """Runs InfluxQL over `/query` and returns series; times as epoch milliseconds."""

    def __init__(self, settings: InfluxSettings) -> None:
        self.settings = settings
        self._pool = _pool(settings)
        self._url = f"{settings.url.rstrip('/')}/query"
        self._headers = _auth_headers(settings)

    def query(self, statement: str) -> list[Series]:
        """Run one or more statements against the database; return every series."""
        fields = {"db": self.settings.database, "q": statement, "epoch": "ms"}
        if self.settings.retention_policy:
            fields["rp"] = self.settings.retention_policy
        method = "GET" if statement.lstrip().upper().startswith(("SELECT", "SHOW")) else "POST"
        try:
            response = self._pool.request(method, self._url, fields=fields, headers=self._headers)
        except urllib3.exceptions.HTTPError as err:
            raise InfluxUnreachable(
                f"InfluxDB at {self.settings.url} did not answer: {err}"
            ) from err
        try:
            document = json.loads(response.data)
        except ValueError as err:
            raise QueryError(f"InfluxDB answered {response.status} with non-JSON") from err
        if response.status != 200 or "error" in document:
            raise QueryError(f"InfluxQL failed ({response.status}): {document.get('error')}")
        series: list[Series] = []
        for result in document.get("results", []):
            if "error" in result:
                raise QueryError(f"InfluxQL failed: {result['error']}")
            series.extend(
                # A series with no rows (SHOW CONTINUOUS QUERIES of a database without any)
                # comes without "values".
                Series(s.get("name", ""), s.get("tags") or {}, s["columns"], s.get("values", []))
                for s in result.get("series", [])
            )
        return series

    def rows(self, statement: str) -> list[dict[str, Any]]:
        """Run a query and flatten every series into rows."""
        return [row for s in self.query(statement) for row in s.rows()]

    def create_database(self) -> None:
        """Create the database if it does not exist (1.x; on 2.x the bucket must exist)."""
        self.query(f"CREATE DATABASE {quote_ident(self.settings.database)}")

    def close(self) -> None:
        """Close pooled connections."""
        self._pool.clear()


def open_writer(settings: InfluxSettings, api: ApiVersion) -> LineWriter:
    """Build the writer for the server's API version."""
    return V1LineWriter(settings) if api == "v1" else V2LineWriter(settings)
