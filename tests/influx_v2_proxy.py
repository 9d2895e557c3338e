"""A stand-in for InfluxDB 2.x's write and ping endpoints, forwarding to a real 1.x server.

Debian ships InfluxDB 1.6.7 only, and the 2.x server is not packaged for it. The hub
writes to 2.x through influxdb-client; this proxy accepts exactly what that client sends
(`POST /api/v2/write?org=&bucket=db/rp&precision=ms` with `Authorization: Token ...`,
gzip or not), checks the token, and forwards the body to the real server's `/write`, so the
client's code path is exercised against a real store.
"""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

import urllib3


class InfluxV2Proxy:
    """Serve /ping as 2.7 and /api/v2/write by forwarding to an InfluxDB 1.x URL."""

    def __init__(self, upstream: str, token: str = "test-token") -> None:  # noqa: S107
        self.upstream = upstream.rstrip("/")
        self.token = token
        self.writes_forwarded = 0
        self.refused_tokens = 0
        self._http = urllib3.PoolManager()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where clients reach the proxy."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> InfluxV2Proxy:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def _reply(self, status: int, body: bytes = b"", **headers: str) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name.replace("_", "-"), value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if urlparse(self.path).path in ("/ping", "/health"):
                    self._reply(204, X_Influxdb_Version="v2.7.10")
                else:
                    self._reply(404, b'{"code":"not found","message":"not found"}')

            def do_POST(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if url.path != "/api/v2/write":
                    self._reply(404, b'{"code":"not found","message":"not found"}')
                    return
                if self.headers.get("Authorization") != f"Token {proxy.token}":
                    proxy.refused_tokens += 1
                    self._reply(401, b'{"code":"unauthorized","message":"unauthorized access"}')
                    return
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                query = parse_qs(url.query)
                database, _, policy = query["bucket"][0].partition("/")
                params = {"db": database, "precision": query.get("precision", ["ns"])[0]}
                if policy:
                    params["rp"] = policy
                response = proxy._http.request(
                    "POST", f"{proxy.upstream}/write?{urlencode(params)}", body=body
                )
                if response.status == 204:
                    proxy.writes_forwarded += 1
                self._reply(response.status, response.data)

        return Handler
