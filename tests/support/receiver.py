"""A real HTTP receiver on a free loopback port (http.server in a thread), standing for an
installer's own tools: it records every request and answers with the statuses it is given."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    # Statuses answered in turn; once used up, every request gets 200.
    statuses: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver

    def do_POST(self):  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        receiver = self.server.receiver  # type: ignore[attr-defined]
        receiver.requests.append(
            Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )
        status = receiver.statuses.pop(0) if receiver.statuses else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):  # quiet
        pass


class running_receiver:
    """``with running_receiver() as receiver:`` a receiver at ``receiver.url``."""

    def __init__(self, path: str = "/hooks/leads") -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        port = self.server.server_address[1]
        self.server.receiver = Receiver(f"http://127.0.0.1:{port}{path}")  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self.server.receiver  # type: ignore[attr-defined]

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
