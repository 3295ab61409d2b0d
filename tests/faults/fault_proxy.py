"""A loopback HTTP proxy in front of the real FHIR server that misbehaves on request.

Requests for the resource types a fault is aimed at get the fault; every other request goes to
the server unchanged (links in its answers rewritten to point back through the proxy). Faults
are what real servers and networks do: hangs, resets, error statuses with and without
Retry-After, cut-off and truncated bodies, answers of the wrong type, malformed searchsets,
duplicate JSON keys, a ``next`` link that loops, a huge Bundle.

The proxy runs in its own process (``python -m tests.faults.fault_proxy UPSTREAM``), as a real
server would, so a fault that costs the proxy CPU (the huge Bundle) never slows the service
under test; the tests aim faults through its control path ``/__fault__``.
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

Json = dict[str, Any]


@dataclass(frozen=True)
class Upstream:
    """What the real server answered: status, content type and body."""

    status: int
    content_type: str
    body: bytes

    def json(self) -> Json:
        value: Json = json.loads(self.body)
        return value


@dataclass(frozen=True)
class Reply:
    """What the proxy sends instead: a status, headers and a body, optionally cut short."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    declared_length: int | None = None  # a Content-Length larger than the body: a cut-off


# A fault turns the request (path with query) and the real answer into what is sent back;
# None means "send nothing" (the fault already acted on the socket).
Fault = Callable[["FaultHandler", Upstream], Reply | None]

FAULT_HANG_SECONDS = 6.0


def _json_reply(value: Any, status: int = 200, **headers: str) -> Reply:
    return Reply(status, json.dumps(value).encode(), tuple(headers.items()))


def _outcome(code: str) -> Json:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code}]}


def _bundle_with(**fields: Any) -> Fault:
    def fault(_handler: FaultHandler, real: Upstream) -> Reply:
        return _json_reply({**real.json(), **fields})

    return fault


def _status(status: int, **headers: str) -> Fault:
    return lambda _handler, _real: _json_reply(_outcome("transient"), status, **headers)


def _hang(handler: FaultHandler, _real: Upstream) -> None:
    time.sleep(FAULT_HANG_SECONDS)
    handler.close_connection = True


def _reset(handler: FaultHandler, _real: Upstream) -> None:
    # SO_LINGER with a zero timeout: close() sends a TCP RST instead of a FIN.
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.close_connection = True


def _cut_off(_handler: FaultHandler, real: Upstream) -> Reply:
    half = real.body[: len(real.body) // 2]
    return Reply(200, half, declared_length=len(real.body))


def _truncated_json(_handler: FaultHandler, real: Upstream) -> Reply:
    return Reply(200, real.body[: len(real.body) // 2])


def _duplicate_entry(_handler: FaultHandler, real: Upstream) -> Reply:
    # The real entries first, then an empty list under the same key: last-wins reads "none".
    text = real.body.decode().rstrip()
    return Reply(200, (text[:-1] + ', "entry": []}').encode())


def _looping_next(handler: FaultHandler, real: Upstream) -> Reply:
    self_url = handler.server_base + handler.path.removeprefix(handler.upstream_path)
    return _json_reply({**real.json(), "link": [{"relation": "next", "url": self_url}]})


HUGE_FILLER = 20_000  # twice the 10,000-record scale the service is sized for


@cache
def _filler(kind: str) -> bytes:
    """Return HUGE_FILLER non-opioid entries of ``kind`` as JSON array items (made once)."""
    entries = [
        {
            "resource": {
                "resourceType": kind,
                "id": f"filler-{index}",
                "status": "completed",
                "note": [{"text": "x" * 200}],
            },
            "search": {"mode": "match"},
        }
        for index in range(HUGE_FILLER)
    ]
    return json.dumps(entries).encode()[1:-1]


def _huge(handler: FaultHandler, real: Upstream) -> Reply:
    # The real entries (the opioid among them) and many more: cheap to send, slow to read.
    bundle = real.json()
    kind = urlsplit(handler.path).path.rstrip("/").rsplit("/", 1)[-1]
    entries = bundle.pop("entry", [])
    head = json.dumps({**bundle, "total": len(entries) + HUGE_FILLER, "entry": entries}).encode()
    return Reply(200, head[:-2] + (b", " if entries else b"") + _filler(kind) + b"]}")


def _wrong_type(_handler: FaultHandler, _real: Upstream) -> Reply:
    return _json_reply({"resourceType": "Patient", "id": "someone-else"})


def _outcome_issue_not_a_list(_handler: FaultHandler, _real: Upstream) -> Reply:
    return _json_reply({"resourceType": "OperationOutcome", "issue": "x"}, 400)


def _entries_without_resource(_handler: FaultHandler, real: Upstream) -> Reply:
    bundle = real.json()
    entries = [{"fullUrl": e.get("fullUrl", "x")} for e in bundle.get("entry", [])] or [{}]
    return _json_reply({**bundle, "entry": entries})


def _withheld(code: str) -> Fault:
    """Every match withheld, as consent or access rules do, with only a note saying so.

    The note's severity is ``information`` (as real servers send it): only its issue type says
    the record is not whole.
    """

    def fault(_handler: FaultHandler, real: Upstream) -> Reply:
        bundle = real.json()
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "information",
                    "code": code,
                    "diagnostics": "Some results were not returned",
                }
            ],
        }
        entry = [{"resource": outcome, "search": {"mode": "outcome"}}]
        return _json_reply({**bundle, "total": 0, "entry": entry})

    return fault


# Every fault the proxy knows, by name (the names appear in the test report).
FAULTS: dict[str, Fault] = {
    "timeout": _hang,
    "connection reset": _reset,
    "500": _status(500),
    "503 with Retry-After": _status(503, **{"Retry-After": "120"}),
    "429": _status(429, **{"Retry-After": "1"}),
    "401": _status(401),
    "cut-off body": _cut_off,
    "truncated JSON": _truncated_json,
    "wrong resourceType": _wrong_type,
    "OperationOutcome issue not a list": _outcome_issue_not_a_list,
    "entry a string": _bundle_with(entry="abc"),
    "entry an object": _bundle_with(entry={"resource": {"resourceType": "MedicationStatement"}}),
    "entry null": _bundle_with(entry=None),
    "entry [1,2,3]": _bundle_with(entry=[1, 2, 3]),
    "entries without resource": _entries_without_resource,
    "entries of another resourceType": _bundle_with(
        entry=[{"resource": {"resourceType": "Condition", "id": "c"}, "search": {"mode": "match"}}]
    ),
    "total larger than read": _bundle_with(total=3, entry=[]),
    "transaction-response": _bundle_with(type="transaction-response"),
    "next link without url": _bundle_with(link=[{"relation": "next"}]),
    'link ["x"]': _bundle_with(link=["x"]),
    "duplicate entry key": _duplicate_entry,
    "looping next": _looping_next,
    "huge Bundle": _huge,
    "results withheld (suppressed)": _withheld("suppressed"),
    "results cut short (too-costly)": _withheld("too-costly"),
}


class FaultHandler(BaseHTTPRequestHandler):
    """Forward a request to the real server, or answer with the fault aimed at its type."""

    server: FaultServer
    protocol_version = "HTTP/1.1"

    @property
    def server_base(self) -> str:
        return self.server.base_url

    @property
    def upstream_path(self) -> str:
        return self.server.upstream_path

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the tests report what matters."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if urlsplit(self.path).path == CONTROL_PATH:
            self._control(body)
            return
        fault, forward = self.server.fault_for(self.command, self.path)
        real = self._forward(body) if forward else _NOT_SENT
        if fault is None:
            self._send(Reply(real.status, self.server.rewrite(real.body)))
            return
        self.server.count_fault()
        reply = fault(self, real)
        if reply is not None:
            self._send(reply)

    def _control(self, body: bytes | None) -> None:
        if body:
            order = json.loads(body)
            name = order["fault"]
            self.server.aim(
                FAULTS[name] if name else None,
                frozenset(order["targets"]),
                order["method"],
                forward=order["forward"],
            )
        self._send(_json_reply({"faults_served": self.server.faults_served}))

    def _forward(self, body: bytes | None) -> Upstream:
        connection = http.client.HTTPConnection(*self.server.upstream_address, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() in _FORWARDED}
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            content = answer.read()
            return Upstream(
                answer.status, answer.getheader("Content-Type", "application/fhir+json"), content
            )
        finally:
            connection.close()

    def _send(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/fhir+json")
            length = reply.declared_length or len(reply.body)
            self.send_header("Content-Length", str(length))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
            if reply.declared_length:
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (its deadline): nothing to do


# What a fault plays with when the request was not sent on: an empty transaction-response.
_NOT_SENT = Upstream(
    200,
    "application/fhir+json",
    b'{"resourceType": "Bundle", "type": "transaction-response", "entry": []}',
)

_FORWARDED = {"accept", "content-type", "authorization", "prefer", "if-none-exist"}


class FaultServer(ThreadingHTTPServer):
    """The proxy's server: where it forwards to, and which fault it is playing."""

    daemon_threads = True
    block_on_close = False  # a hanging fault must not hold up the end of the tests

    def __init__(self, upstream_base: str) -> None:
        super().__init__(("127.0.0.1", 0), FaultHandler)
        parts = urlsplit(upstream_base)
        self.upstream_address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.upstream_path = parts.path.rstrip("/")
        self.upstream_base = upstream_base.rstrip("/")
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}{self.upstream_path}"
        self._lock = threading.Lock()
        self._fault: Fault | None = None
        self._targets: frozenset[str] = frozenset()
        self._method = "GET"
        self._forward = True
        self.faults_served = 0

    def aim(
        self,
        fault: Fault | None,
        targets: frozenset[str],
        method: str = "GET",
        *,
        forward: bool = True,
    ) -> None:
        """Play ``fault`` on requests of ``method`` for the resource types in ``targets``
        (``""`` is the base URL: a transaction); ``forward`` sends the request on first, so a
        write happens although its answer is lost."""
        with self._lock:
            self._fault, self._targets, self._method = fault, targets, method
            self._forward = forward
            self.faults_served = 0

    def fault_for(self, method: str, path: str) -> tuple[Fault | None, bool]:
        """Return the fault for this request (None: pass it through) and whether to forward."""
        relative = urlsplit(path).path.removeprefix(self.upstream_path).strip("/")
        kind = relative.split("/")[0] if relative else ""
        with self._lock:
            if self._fault is not None and method == self._method and kind in self._targets:
                return self._fault, self._forward
        return None, True

    def count_fault(self) -> None:
        with self._lock:
            self.faults_served += 1

    def rewrite(self, body: bytes) -> bytes:
        """Point the real server's links back through the proxy."""
        return body.replace(self.upstream_base.encode(), self.base_url.encode())


CONTROL_PATH = "/__fault__"


class FaultProxy:
    """The test's handle on a fault proxy running in another process."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        parts = urlsplit(base_url)
        self._address = (parts.hostname or "127.0.0.1", parts.port or 80)

    def aim(
        self,
        fault: str | None,
        targets: frozenset[str],
        method: str = "GET",
        *,
        forward: bool = True,
    ) -> None:
        """Play the fault named ``fault`` (a FAULTS key) as ``FaultServer.aim`` describes."""
        order = {"fault": fault, "targets": sorted(targets), "method": method, "forward": forward}
        self._control(json.dumps(order).encode())

    @property
    def faults_served(self) -> int:
        """How many requests got the fault since it was aimed."""
        return int(self._control(None)["faults_served"])

    def played(self, wait: float = 15.0) -> bool:
        """Wait until the fault was played (a loaded machine may deliver a request late); a
        forwarded request is counted once the server has answered it."""
        ends = time.monotonic() + wait
        while self.faults_served < 1:
            if time.monotonic() > ends:
                return False
            time.sleep(0.1)
        return True

    def _control(self, body: bytes | None) -> Json:
        connection = http.client.HTTPConnection(*self._address, timeout=10)
        try:
            connection.request("POST" if body else "GET", CONTROL_PATH, body=body)
            answer: Json = json.loads(connection.getresponse().read())
            return answer
        finally:
            connection.close()


@contextmanager
def fault_proxy(upstream_base: str) -> Iterator[FaultProxy]:
    """Run a fault proxy in front of ``upstream_base`` on a free loopback port."""
    root = Path(__file__).resolve().parents[2]
    with subprocess.Popen(  # noqa: S603 (our own module, with a loopback URL)
        [sys.executable, "-m", "tests.faults.fault_proxy", upstream_base],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            yield FaultProxy(process.stdout.readline().strip())
        finally:
            process.terminate()
            process.wait(timeout=10)


def main() -> None:
    """Serve a fault proxy in front of the URL given; print its base URL on one line."""
    server = FaultServer(sys.argv[1])
    print(server.base_url, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
