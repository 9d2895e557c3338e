"""A local HTTP endpoint that Apprise's `json://` notifications are delivered to in tests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class NotifyEndpoint:
    """Records every notification POSTed to it, by path; answers `status` (200 by default)."""

    def __init__(self) -> None:
        self.received: dict[str, list[dict[str, Any]]] = {}
        self.status = 200
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if endpoint.status == 200:
                    with endpoint._lock:
                        endpoint.received.setdefault(self.path.strip("/"), []).append(
                            json.loads(body)
                        )
                self.send_response(endpoint.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> NotifyEndpoint:
        self._thread.start()
        return self

    def url(self, path: str) -> str:
        """The Apprise URL that delivers to `path` here."""
        return f"json://127.0.0.1:{self._server.server_port}/{path}"

    def messages(self, path: str) -> list[dict[str, Any]]:
        """What arrived at `path`, oldest first."""
        with self._lock:
            return list(self.received.get(path, []))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
