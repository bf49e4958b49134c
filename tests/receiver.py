"""A webhook receiver on a free loopback port, recording every POST (or failing on purpose)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from xolo.cli.ports import free_port


class Receiver:
    """Records deliveries; answers ``status`` (200 by default)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.attempts = 0
        self._lock = threading.Lock()
        receiver = self

        class Handle(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._lock:
                    receiver.attempts += 1
                    if receiver.status == 200:
                        receiver.deliveries.append((dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handle)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The webhook URL to register; every path is answered the same."""
        return f"http://127.0.0.1:{self.port}/hook"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def events(self) -> list[dict[str, Any]]:
        """The JSON bodies of the deliveries answered 200, in arrival order (attempts answered
        otherwise are only counted in ``attempts``)."""
        with self._lock:
            return [json.loads(body) for _, body in self.deliveries]
