"""An HTTP server on loopback, served from a thread for the length of a test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
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
