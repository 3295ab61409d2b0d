"""The benchmarks' delaying proxy keeps a record of every request, however long the run, and in
front of several copies of one server hands each request to the least busy."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from benchmarks.delay_proxy import DelayProxy, sequential_rounds
from tests.loopback import answer, serving

# How long a copy holds each request in the balancing test: long enough that requests sent
# together are all in hand at once.
_HOLD_SECONDS = 0.3


class _Answer(BaseHTTPRequestHandler):
    server: _Upstream
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        time.sleep(self.server.hold)
        base = self.server.base_url
        body = (
            '{"resourceType": "Bundle", "type": "searchset", '
            f'"link": [{{"relation": "self", "url": "{base}/Patient"}}]}}'
        ).encode()
        answer(self, body, "application/fhir+json", {"Location": f"{base}/Patient/1"})

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _Upstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hold: float) -> None:
        super().__init__(("127.0.0.1", 0), _Answer)
        self.hold = hold
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}/fhir"


@pytest.fixture
def upstream() -> Iterator[str]:
    for server in serving(_Upstream(0.0)):
        yield server.base_url


@pytest.fixture
def copies() -> Iterator[list[str]]:
    for one in serving(_Upstream(_HOLD_SECONDS)):
        for other in serving(_Upstream(_HOLD_SECONDS)):
            yield [one.base_url, other.base_url]


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


def test_requests_in_hand_together_go_to_different_copies(copies: list[str]) -> None:
    with DelayProxy(copies, 0.0) as proxy:
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(
                pool.map(
                    lambda n: requests.get(f"{proxy.base_url}/Patient?_id={n}", timeout=10),
                    range(4),
                )
            )
        served = proxy.take_served()
    # Two at a time on each copy: four requests held together take two holds at most, not four.
    assert sorted(record.server for record in served) == [0, 0, 1, 1]
    assert sequential_rounds(served) == 1
    for response in answers:
        assert response.status_code == 200
        # Each copy's own base is rewritten to the proxy's, in the body and in the headers.
        assert response.json()["link"][0]["url"] == f"{proxy.base_url}/Patient"
        assert response.headers["Location"] == f"{proxy.base_url}/Patient/1"


def test_copies_behind_one_proxy_share_one_base_path(copies: list[str]) -> None:
    with pytest.raises(ValueError, match="one base path"):
        DelayProxy([copies[0], copies[1].replace("/fhir", "/other")], 0.0)
    with pytest.raises(ValueError, match="at least one"):
        DelayProxy([], 0.0)
