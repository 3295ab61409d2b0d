"""A loopback HTTP proxy in front of the real FHIR server that adds a fixed delay to every request
and records when each one arrived and was answered.

The delay stands for the network and the EHR's own latency: what costs a user time is then the
number of round trips made one after another, which :func:`sequential_rounds` counts from the
record. Absolute links in answers (``next`` links, ``fullUrl``) are rewritten from the server's
base to the proxy's, so paging stays on the proxy. It runs in a process of its own, as the
network does: relaying one answer never takes the interpreter from the client being measured
while it parses another. Each request is handled in a thread of that process, sleeps and is
forwarded on a connection of its own.

In front of several copies of one server (same data, same paging links but for their base) it
balances as a load balancer in front of an EHR's FHIR servers does: each request goes to the
copy with the fewest requests in hand.
"""

from __future__ import annotations

import http.client
import multiprocessing
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from multiprocessing.queues import SimpleQueue
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from sandbox.fhir_server import LOOPBACK

# Request headers a FHIR client sends that the server needs; the rest stay on this side.
_FORWARDED = frozenset({"accept", "content-type", "authorization", "prefer", "if-none-exist"})
_UPSTREAM_TIMEOUT_SECONDS = 120
_START_SECONDS = 30
_DRAIN_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class Served:
    """One request through the proxy: what was asked, when (``time.monotonic()`` values), and
    which of the servers behind it answered (their index, in the order given)."""

    method: str
    path: str
    arrived: float
    answered: float
    server: int = 0


def sequential_rounds(served: Sequence[Served]) -> int:
    """Return the longest chain of requests each sent after the one before was answered.

    Requests that overlap in time ran side by side and count as one round; a request sent
    only after another's answer (the next page, a read that needed an earlier result) is a
    round of its own.
    """
    depth: list[int] = []
    ordered = sorted(served, key=lambda s: s.arrived)
    for at, request in enumerate(ordered):
        before = [depth[i] for i in range(at) if ordered[i].answered <= request.arrived]
        depth.append(1 + max(before, default=0))
    return max(depth, default=0)


class _Handler(BaseHTTPRequestHandler):
    server: _ProxyServer
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: with Nagle's algorithm a small body then waits for
    # the client's delayed acknowledgement (about 40 ms on a kept-alive connection), a stall
    # no network adds to every answer.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the benchmark reports what matters."""

    def do_GET(self) -> None:
        self._relay()

    def do_POST(self) -> None:
        self._relay()

    def do_PUT(self) -> None:
        self._relay()

    def do_DELETE(self) -> None:
        self._relay()

    def _relay(self) -> None:
        arrived = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        time.sleep(self.server.delay)
        with self.server.least_busy() as (index, upstream):
            status, headers, content = self._forward(upstream, body)
        content = content.replace(upstream.base_url, self.server.base_url)
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        # Taken and recorded before the answer leaves: a request the client sends after reading
        # it arrives later than this, and a caller that reads the record once its answer came
        # finds it there, however the threads are scheduled.
        answered = time.monotonic()
        self.server.record(Served(self.command, self.path, arrived, answered, index))
        self.end_headers()
        self.wfile.write(content)
        self.wfile.flush()

    def _forward(
        self, upstream: _Upstream, body: bytes | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(
            upstream.host, upstream.port, timeout=_UPSTREAM_TIMEOUT_SECONDS
        )
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() in _FORWARDED}
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            content = answer.read()
            kept = [
                (name, value.replace(upstream.base_text, self.server.base_text))
                for name, value in answer.getheaders()
                if name.lower() in {"content-type", "location", "etag", "last-modified"}
            ]
            return answer.status, kept, content
        finally:
            connection.close()


@dataclass(frozen=True, slots=True)
class _Upstream:
    """One server behind the proxy."""

    host: str
    port: int
    base_text: str
    base_url: bytes

    @classmethod
    def at(cls, base: str) -> _Upstream:
        parts = urlsplit(base)
        text = base.rstrip("/")
        return cls(parts.hostname or LOOPBACK, parts.port or 80, text, text.encode())


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, upstream_bases: Sequence[str], delay: float, records: SimpleQueue[Served]
    ) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.upstreams = [_Upstream.at(base) for base in upstream_bases]
        self.delay = delay
        path = urlsplit(upstream_bases[0]).path.rstrip("/")
        self.base_text = f"http://{LOOPBACK}:{self.server_address[1]}{path}"
        self.base_url = self.base_text.encode()
        self._records = records
        self._in_hand = [0] * len(self.upstreams)
        self._balance = threading.Lock()

    @contextmanager
    def least_busy(self) -> Iterator[tuple[int, _Upstream]]:
        """Hand the request to the server with the fewest in hand (the first of those tied)."""
        with self._balance:
            chosen = self._in_hand.index(min(self._in_hand))
            self._in_hand[chosen] += 1
        try:
            yield chosen, self.upstreams[chosen]
        finally:
            with self._balance:
                self._in_hand[chosen] -= 1

    def record(self, served: Served) -> None:
        # Written to the pipe before this returns: the calling process can read it as soon as
        # the answer reaches it.
        self._records.put(served)


def _serve(
    upstream_bases: Sequence[str],
    delay: float,
    records: SimpleQueue[Served],
    started: Connection,
) -> None:
    """Run the proxy in this (child) process until it is terminated; send its base URL."""
    server = _ProxyServer(upstream_bases, delay, records)
    started.send(server.base_text)
    server.serve_forever()


class DelayProxy:
    """A running proxy: use as a context manager; ``base_url`` is the FHIR base to call.

    ``upstream`` is the server's base URL, or the base URLs of several copies of it.
    """

    def __init__(self, upstream: str | Sequence[str], delay: float) -> None:
        upstream_bases = [upstream] if isinstance(upstream, str) else list(upstream)
        if len({urlsplit(base).path.rstrip("/") for base in upstream_bases}) != 1:
            raise ValueError("the servers behind one proxy need one base path, and at least one")
        context = multiprocessing.get_context("spawn")
        self._delay = delay
        self._records: SimpleQueue[Served] = context.SimpleQueue()
        self._started, started = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_serve,
            args=(upstream_bases, delay, self._records, started),
            name="delay-proxy",
            daemon=True,
        )
        self._base_url: str | None = None
        self._lock = threading.Lock()
        self._served: list[Served] = []
        self._stop_draining = threading.Event()
        self._drainer = threading.Thread(
            target=self._drain_often, name="proxy-records", daemon=True
        )

    @property
    def base_url(self) -> str:
        """The FHIR base URL through the proxy (same path as the server's)."""
        if self._base_url is None:
            raise RuntimeError("the proxy is not running")
        return self._base_url

    @property
    def delay(self) -> float:
        """The seconds every request waits before it is forwarded."""
        return self._delay

    def take_served(self) -> list[Served]:
        """Return the requests answered since the last call, and forget them."""
        with self._lock:
            self._drain()  # what the proxy wrote before its last answer left is in the pipe
            served, self._served = self._served, []
        return served

    def _drain(self) -> None:
        while not self._records.empty():
            self._served.append(self._records.get())

    def _drain_often(self) -> None:
        # The pipe holds about 64 KB: emptied often, a long run of requests never fills it (the
        # proxy would then wait to write a record while its client waits for the answer).
        while not self._stop_draining.wait(_DRAIN_SECONDS):
            with self._lock:
                self._drain()

    def __enter__(self) -> DelayProxy:
        self._process.start()
        if not self._started.poll(_START_SECONDS):
            self._process.terminate()
            raise RuntimeError("the delay proxy did not start")
        self._base_url = self._started.recv()
        self._drainer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop_draining.set()
        self._drainer.join(timeout=10)
        self._process.terminate()
        self._process.join(timeout=10)
        self._records.close()
        self._started.close()
