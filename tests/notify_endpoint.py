"""A local HTTP endpoint that Apprise's `json://` notifications are delivered to in tests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class NotificationEndpoint:
    """A local HTTP server standing in for the phones' notification service.

    Apprise's `json://` plugin POSTs `{"title", "message", ...}`; each body is kept with
    its path. The first `failures` requests are answered 500.
    """

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.requests: list[tuple[str, int, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with endpoint._lock:
                    status = 500 if endpoint.failures > 0 else 200
                    endpoint.failures -= status == 500
                    endpoint.requests.append((self.path, status, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def url(self, path: str) -> str:
        """The Apprise URL of a path on this server."""
        return f"json://127.0.0.1:{self._server.server_port}/{path}"

    def received(self, path: str) -> list[dict[str, Any]]:
        """The bodies answered 200 on a path, oldest first."""
        with self._lock:
            return [
                body
                for where, status, body in self.requests
                if where == f"/{path}" and status == 200
            ]

    def attempts(self, path: str) -> list[int]:
        """The status answered to each request on a path."""
        with self._lock:
            return [status for where, status, _ in self.requests if where == f"/{path}"]

    def start(self) -> NotificationEndpoint:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
