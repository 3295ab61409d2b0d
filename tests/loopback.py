"""An HTTP server on loopback, served from a thread for the length of a test, and the one way
its handlers answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler
from socketserver import BaseServer
from typing import TypeVar

S = TypeVar("S", bound=BaseServer)


def serving(server: S) -> Iterator[S]:
    """Serve ``server`` from a daemon thread; yield it, then shut it down and close it."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def answer(
    handler: BaseHTTPRequestHandler,
    body: bytes,
    content_type: str,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Send ``body`` as a 200 answer of ``content_type``, with its length (kept-alive safe) and
    any further ``headers``."""
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)
