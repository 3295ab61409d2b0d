"""Abuse limits on /launch: no discovery fetch and no session before the iss allowlist and the
per-client rate. The EHR's discovery document is served by a real HTTP server on loopback that
counts what it is asked."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ldn_safety.app import create_app

APP = "https://app.example.test"


class _Discovery(BaseHTTPRequestHandler):
    fetched: list[str]

    def do_GET(self) -> None:
        type(self).fetched.append(self.path)
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        body = json.dumps(
            {
                "authorization_endpoint": f"{base}/auth/authorize",
                "token_endpoint": f"{base}/auth/token",
                "capabilities": ["launch-ehr", "permission-v2"],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def ehr() -> Iterator[tuple[str, list[str]]]:
    """Return the FHIR base of a loopback EHR and the list of paths it was asked for."""
    handler = type("Discovery", (_Discovery,), {"fetched": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/fhir", handler.fetched
    server.shutdown()
    server.server_close()


@pytest.fixture
def limited(tmp_path: Path, ehr: tuple[str, list[str]]) -> Flask:
    iss, _ = ehr
    return create_app(
        {
            "TESTING": True,
            "SERVER_NAME": "app.example.test",
            "PREFERRED_URL_SCHEME": "https",
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cds.sqlite3'}",
            "SESSION_DIR": str(tmp_path / "sessions"),
            "SMART_ISSUERS": {iss: {"client_id": "ldn-app"}},
            "SMART_LAUNCH_RATE_LIMIT": "5/minute",
        }
    )


def _sessions(tmp_path: Path) -> int:
    """Count the session files. cachelib also keeps its entry count there, in a file of a few
    bytes under a hashed name; a session holding a pending launch is hundreds of bytes."""
    folder = tmp_path / "sessions"
    files = folder.iterdir() if folder.exists() else iter(())
    return len([f for f in files if f.stat().st_size > 100])


def _launch(app: Flask, iss: str, address: str = "198.51.100.7") -> object:
    # A fresh cookie-less client per call: what a script hammering /launch looks like.
    client: FlaskClient = app.test_client(use_cookies=False)
    return client.get(
        f"{APP}/launch",
        query_string={"iss": iss, "launch": "opaque"},
        environ_base={"REMOTE_ADDR": address},
    )


def test_launches_past_the_clients_rate_fetch_nothing_and_store_no_session(
    limited: Flask, ehr: tuple[str, list[str]], tmp_path: Path
) -> None:
    iss, fetched = ehr
    answers = [_launch(limited, iss) for _ in range(12)]
    assert [a.status_code for a in answers] == [302] * 5 + [429] * 7
    assert len(fetched) == 5
    assert _sessions(tmp_path) == 5
    refused = answers[-1]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    page = refused.get_data(as_text=True)
    assert "Too many sign-ins" in page
    assert "What to do next" in page
    # Another computer has its own budget.
    assert _launch(limited, iss, address="198.51.100.8").status_code == 302
    assert len(fetched) == 6


def test_unknown_issuers_fetch_nothing_and_store_no_session(
    limited: Flask, ehr: tuple[str, list[str]], tmp_path: Path
) -> None:
    _, fetched = ehr
    for index in range(20):
        response = _launch(limited, f"http://127.0.0.1:9/fhir-{index}")
        assert response.status_code == 403
    assert fetched == []
    assert _sessions(tmp_path) == 0


def test_a_malformed_launch_rate_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SMART_LAUNCH_RATE_LIMIT"):
        create_app({"TESTING": True, "SMART_LAUNCH_RATE_LIMIT": "often"})
