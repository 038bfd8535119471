"""A real HTTP server on 127.0.0.1 answering from a function, for testing clients of other APIs.

``ThreadingHTTPServer`` binds and listens in its constructor, so the port is known before the
serving thread starts and early connections wait in the kernel's backlog: no test polls or sleeps
for the server to come up. Every request is recorded (method, path, query, headers) so that tests
can check what the client under test really sent.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # decoded, without the query
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON-serialisable
    headers: dict[str, str] = field(default_factory=dict)


Handle = Callable[[Request, str], Response]  # (request, the server's own base URL) -> response


@contextmanager
def serve(handle: Handle, requests: list[Request] | None = None) -> Iterator[str]:
    """Serve ``handle`` until the block ends; yields ``http://127.0.0.1:PORT``."""
    recorded = requests if requests is not None else []
    base: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the clients under test expect of real servers

        def do_GET(self) -> None:
            split = urllib.parse.urlsplit(self.path)
            request = Request("GET", urllib.parse.unquote(split.path),
                              dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True)),
                              {name.lower(): value for name, value in self.headers.items()})
            recorded.append(request)
            response = handle(request, base[0])
            payload = b"" if response.body is None else json.dumps(response.body).encode()
            self.send_response(response.status)
            headers = {"Content-Type": "application/json; charset=utf-8", **response.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    base.append(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)
