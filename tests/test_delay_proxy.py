"""The benchmarks' delaying proxy keeps a record of every request, however long the run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from benchmarks.delay_proxy import DelayProxy, sequential_rounds


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        body = b'{"resourceType": "Bundle", "type": "searchset"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/fhir"
    finally:
        server.shutdown()
        server.server_close()


def test_a_long_run_of_requests_is_recorded_whole_without_stalling(upstream: str) -> None:
    # More records than the pipe to this process holds unread (about 64 KB).
    requests_made = 1_500
    with DelayProxy(upstream, 0.0) as proxy, requests.Session() as session:
        for index in range(requests_made):
            answer = session.get(f"{proxy.base_url}/Patient?_id={index}", timeout=10)
            assert answer.status_code == 200
        served = proxy.take_served()
        assert len(served) == requests_made
        assert sequential_rounds(served) == requests_made  # each sent after the one before
        assert proxy.take_served() == []
