"""The environment's network settings reach every request of a client, read once: an HTTP proxy
and NO_PROXY are honoured, and a ``.netrc`` entry for the server never replaces the bearer
token (requests, left to itself, swaps the ``Authorization`` header for the entry's password).
On loopback servers: the transport mock would bypass what is tested here."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from fhir_client import FhirClient
from tests.loopback import answer, serving

_PATIENT = b'{"resourceType": "Patient", "id": "p1"}'


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        answer(self, _PATIENT, "application/fhir+json")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _Server(ThreadingHTTPServer):
    """Answers every GET with the same Patient and records the request line's target and the
    Authorization header (as a FHIR server, or as a forward proxy: it then sees whole URLs)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, str | None]] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def fhir() -> Iterator[_Server]:
    yield from serving(_Server())


@pytest.fixture
def forward_proxy() -> Iterator[_Server]:
    yield from serving(_Server())


@pytest.fixture(autouse=True)
def no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def _read_both_ways(client: FhirClient) -> None:
    """One read on the client's session, one on a session of its own (``concurrently``)."""
    assert client.read("Patient", "p1")["id"] == "p1"
    found = client.concurrently(
        {"again": partial(FhirClient.read, resource_type="Patient", resource_id="p1")},
        late=lambda _key: None,
    )
    assert found["again"] is not None


def test_a_netrc_entry_for_the_server_never_replaces_the_bearer_token(
    fhir: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password not-for-fhir\n", encoding="utf-8")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    _read_both_ways(FhirClient(f"{fhir.url}/fhir", token="the-token"))
    assert [authorization for _, authorization in fhir.seen] == ["Bearer the-token"] * 2


def test_the_environment_proxy_carries_every_request(
    fhir: _Server, forward_proxy: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.url)
    _read_both_ways(FhirClient(f"{fhir.url}/fhir", token="the-token"))
    assert fhir.seen == []
    # A forward proxy is asked for the whole URL, the token going along.
    assert forward_proxy.seen == [(f"{fhir.url}/fhir/Patient/p1", "Bearer the-token")] * 2


def test_no_proxy_sends_the_server_s_requests_direct(
    fhir: _Server, forward_proxy: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    _read_both_ways(FhirClient(f"{fhir.url}/fhir", token="the-token"))
    assert forward_proxy.seen == []
    assert fhir.seen == [("/fhir/Patient/p1", "Bearer the-token")] * 2
