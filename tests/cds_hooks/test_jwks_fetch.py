"""A JWK Set is fetched as asked: a ``.netrc`` entry for its host adds no credentials (requests
would otherwise send that entry's password to whoever serves the keys). On a loopback server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey

from cds_hooks.security import JwksCache
from tests.loopback import serving


class _Handler(BaseHTTPRequestHandler):
    server: _KeyServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.authorizations.append(self.headers.get("Authorization"))
        body = json.dumps(self.server.key_set).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _KeyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, key_set: dict[str, Any]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.key_set = key_set
        self.authorizations: list[str | None] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}/.well-known/jwks.json"


@pytest.fixture
def key_server() -> Iterator[_KeyServer]:
    key = ECKey.generate_key("P-384", {"kid": "k1"})
    yield from serving(_KeyServer({"keys": [key.as_dict(private=False)]}))


def test_a_netrc_entry_for_the_key_host_sends_no_credentials(
    key_server: _KeyServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password not-for-keys\n", encoding="utf-8")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    key_set = JwksCache(ttl=300, min_refresh=0, timeout=5).get(key_server.url)
    assert key_set.get_by_kid("k1") is not None
    assert key_server.authorizations == [None]
