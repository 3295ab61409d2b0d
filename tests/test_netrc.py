"""The GETs that carry no credentials of ours go as asked: a ``.netrc`` entry for the host adds
none, and replaces none (requests would otherwise send that entry's password): the CDS
service's JWK Set fetch, the SMART app's discovery, and the sandbox EHR's signed CDS calls. On a
loopback server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey

from cds_hooks.security import JwksCache
from sandbox.cds_client import CdsClient, ClientKey
from smart_app.launch import discover
from smart_app.registrations import ClientRegistration
from tests.loopback import answer, serving


class _Handler(BaseHTTPRequestHandler):
    server: _KeyServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.authorizations.append(self.headers.get("Authorization"))
        if self.path.endswith("jwks.json"):
            document = self.server.key_set
        elif self.path.endswith("cds-services"):
            document = {"services": []}
        else:
            document = self.server.smart
        answer(self, json.dumps(document).encode(), "application/json")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _KeyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, key_set: dict[str, Any]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.key_set = key_set
        self.authorizations: list[str | None] = []
        self.base = f"http://127.0.0.1:{self.server_address[1]}"
        self.url = f"{self.base}/.well-known/jwks.json"
        self.smart = {
            "authorization_endpoint": f"{self.base}/authorize",
            "token_endpoint": f"{self.base}/token",
            "capabilities": ["launch-ehr", "client-public"],
            "code_challenge_methods_supported": ["S256"],
        }


@pytest.fixture
def key_server() -> Iterator[_KeyServer]:
    key = ECKey.generate_key("P-384", {"kid": "k1"})
    yield from serving(_KeyServer({"keys": [key.as_dict(private=False)]}))


@pytest.fixture(autouse=True)
def netrc_for_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password not-to-send\n", encoding="utf-8")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))


def test_the_jwk_set_fetch_sends_no_netrc_credentials(key_server: _KeyServer) -> None:
    key_set = JwksCache(ttl=300, min_refresh=0, timeout=5).get(key_server.url)
    assert key_set.get_by_kid("k1") is not None
    assert key_server.authorizations == [None]


def test_smart_discovery_sends_no_netrc_credentials(key_server: _KeyServer) -> None:
    iss = f"{key_server.base}/fhir"
    registration = ClientRegistration(iss=iss, client_id="ldn-app")
    config = discover(iss, {iss: registration}, timeout=5)
    assert config.token_endpoint == f"{key_server.base}/token"
    assert key_server.authorizations == [None]


def test_the_sandbox_cds_client_keeps_its_signed_jwt(key_server: _KeyServer) -> None:
    client = CdsClient(
        f"{key_server.base}/cds-services",
        "https://ehr.test",
        ClientKey(ECKey.generate_key("P-384")),
        timeout=5,
    )
    assert client.discover() == []
    [sent] = key_server.authorizations
    assert sent is not None
    assert sent.startswith("Bearer ey")
