"""The CDS Hooks Sandbox (the reference CDS client) works with the service out of the box.

Its tokens are made here exactly as it makes them (header ``alg`` ES384, ``typ``, ``kid``, and
always a ``jku`` naming its JWK Set URL; claims ``iss`` = its origin, ``aud`` = the URL called,
``exp`` = ``iat`` + 300, ``iat``, a UUID ``jti``), signed with a key made at test time under the
client's ``kid``. The client's origin is a loopback server that serves its JWK Set and counts
every request, so a test can show what was fetched and that an off-list ``jku`` never is.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from cds_hooks.config import load_settings
from cds_hooks.errors import Unauthorized
from cds_hooks.security import ClientVerifier, JwksCache
from sandbox import reference_client
from tests.cds_hooks.support import (
    BASE,
    PATIENT_ID,
    SELECT,
    SIGN,
    bearer,
    hook_body,
    make_app,
    searchset,
)

DOCS = Path(__file__).parents[2] / "docs" / "cds-hooks.md"
JWKS_PATH = "/.well-known/jwks.json"
OFF_LIST_PATH = "/attacker/jwks.json"

# A token the reference client signed with its published key (ES384, its kid and jku, a call to
# discovery on loopback port 8000), found in a public repository's JWT-debugging script. It
# expired in July 2020, so it is checked at its own time.
CAPTURED_TOKEN = (
    "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCIsImtpZCI6IjQ0ODIzZjNkLTBiMDEtNGE2Yy1hODBlLWI5ZDNlOGE3Mj"
    "I2ZiIsImprdSI6Imh0dHBzOi8vc2FuZGJveC5jZHMtaG9va3Mub3JnLy53ZWxsLWtub3duL2p3a3MuanNvbiJ9.eyJpc"
    "3MiOiJodHRwczovL3NhbmRib3guY2RzLWhvb2tzLm9yZyIsImF1ZCI6Imh0dHA6Ly8xMjcuMC4wLjE6ODAwMC9jZHMt"
    "c2VydmljZXMiLCJleHAiOjE1OTQyMzA5MDAsImlhdCI6MTU5NDIzMDYwMCwianRpIjoiZWZiMzc3M2QtM2EyOC00M2U"
    "yLTlmYmMtYjkzNmE5YWUzODhiIn0.Cbey3n5NkDRoCLHZ2WMFc1z_RY8Rlq5oGxdAYfbrBPMiJXLCwjbYoU0av2CQj-O"
    "lhbnpe7Vs8vzJ5oHP5gc2-0ooc5J49t4Uz9iYKpiM9KLUrqaJe0umc_klM2-ynHAI"
)
CAPTURED_AUDIENCE = "http://127.0.0.1:8000/cds-services"
CAPTURED_IAT = 1594230600


class ClientOrigin:
    """A loopback stand-in for the client's origin: serves JSON by path and counts requests."""

    def __init__(self) -> None:
        self.documents: dict[str, Any] = {}
        self.hits: Counter[str] = Counter()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                origin.hits[self.path] += 1
                body = origin.documents.get(self.path)
                payload = json.dumps(body if body is not None else {}).encode()
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def origin(client_key: ECKey) -> Iterator[ClientOrigin]:
    served = ClientOrigin()
    served.documents[JWKS_PATH] = _public(client_key)
    served.documents[OFF_LIST_PATH] = _public(client_key)
    yield served
    served.close()


@pytest.fixture(scope="module")
def client_key() -> ECKey:
    """The test's stand-in for the client's private key, under the client's published kid."""
    return ECKey.generate_key("P-384", parameters={"kid": reference_client.KID})


def _public(key: ECKey) -> dict[str, Any]:
    return KeySet([key]).as_dict(private=False)


def reference_token(
    key: ECKey,
    *,
    issuer: str,
    jku: str,
    audience: str,
    kid: str = reference_client.KID,
) -> str:
    """Sign a token shaped exactly as the CDS Hooks Sandbox shapes its tokens."""
    now = round(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    header = {"alg": "ES384", "typ": "JWT", "kid": kid, "jku": jku}
    return jwt.encode(header, claims, key, algorithms=["ES384"])


# How an operator may trust the client (docs/cds-hooks.md): keyed by a name for the test ids.
def _inline_pinned_from_jku(origin: ClientOrigin, key: ECKey) -> dict[str, Any]:
    return {"jwks": _public(key), "jwks_url": origin.url + JWKS_PATH}


def _inline_with_jku_allowed(origin: ClientOrigin, key: ECKey) -> dict[str, Any]:
    return {"jwks": _public(key), "jku": [origin.url + JWKS_PATH]}


def _jwks_url_equal_to_jku(origin: ClientOrigin, key: ECKey) -> dict[str, Any]:
    return {"jwks_url": origin.url + JWKS_PATH}


CONFIGURATIONS = {
    "inline keys pinned from the client's jku": (_inline_pinned_from_jku, 0),
    "inline keys with the client's jku allowed": (_inline_with_jku_allowed, 0),
    "jwks_url equal to the client's jku": (_jwks_url_equal_to_jku, 1),
}


def _app(tmp_path: Path, issuer: str, entry: dict[str, Any]) -> Flask:
    return make_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cds.sqlite3'}",
            "PUBLIC_BASE_URL": BASE,
            "CDS_TRUSTED_CLIENTS": {issuer: entry},
            "CDS_CORS_ORIGINS": [issuer],
        }
    )


@pytest.fixture(params=list(CONFIGURATIONS), ids=list(CONFIGURATIONS))
def configured(
    request: pytest.FixtureRequest, tmp_path: Path, origin: ClientOrigin, client_key: ECKey
) -> Iterator[tuple[FlaskClient, int]]:
    """A service trusting the client (at ``origin``) one documented way; its expected fetches."""
    make_entry, fetches = CONFIGURATIONS[request.param]
    app = _app(tmp_path, origin.url, make_entry(origin, client_key))
    yield app.test_client(), fetches
    app.extensions["cds_hooks"].store.close()


def _oxycodone_prefetch() -> dict[str, Any]:
    statement = {
        "resourceType": "MedicationStatement",
        "id": "oxy-1",
        "status": "active",
        "medicationCodeableConcept": {"text": "oxycodone 5 mg tablet"},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
    }
    return {
        "patient": {"resourceType": "Patient", "id": PATIENT_ID},
        "medicationStatements": searchset(statement),
        "medicationRequests": None,
        "conditions": None,
    }


def _call(client: FlaskClient, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
    if body is None:
        return client.get(path, headers=bearer(token))
    return client.post(path, json=body, headers=bearer(token))


def test_the_client_is_answered_on_discovery_and_both_hooks(
    configured: tuple[FlaskClient, int], origin: ClientOrigin, client_key: ECKey
) -> None:
    client, fetches = configured

    def token(path: str) -> str:
        return reference_token(
            client_key, issuer=origin.url, jku=origin.url + JWKS_PATH, audience=BASE + path
        )

    # The client runs in the browser: its origin needs CORS.
    discovery = client.get(
        "/cds-services", headers={**bearer(token("/cds-services")), "Origin": origin.url}
    )
    assert discovery.status_code == 200
    assert discovery.headers["Access-Control-Allow-Origin"] == origin.url
    assert {s["id"] for s in discovery.get_json()["services"]} == {SELECT, SIGN}
    for hook, service in (("order-select", SELECT), ("order-sign", SIGN)):
        path = f"/cds-services/{service}"
        answer = _call(client, path, token(path), hook_body(hook, prefetch=_oxycodone_prefetch()))
        assert answer.status_code == 200, answer.get_json()
        assert [c["indicator"] for c in answer.get_json()["cards"]] == ["critical"]
    # Inline keys are a pinned copy: nothing fetched. A JWK Set URL is fetched once, then cached.
    assert origin.hits[JWKS_PATH] == fetches
    assert origin.hits[OFF_LIST_PATH] == 0


def _refusal_cases(origin: ClientOrigin) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each way the client's token can be wrong: the logged reason, and what is changed."""
    stranger = ECKey.generate_key("P-384", parameters={"kid": reference_client.KID})
    return {
        "signature": ("rejected-bad_signature", {"key": stranger}),
        "kid": ("KID", {"kid": "not-the-clients-kid"}),
        "iss": ("unknown-issuer", {"issuer": "https://sandbox.example.test"}),
        "aud": ("rejected-invalid_claim", {"audience": BASE + "/cds-services/other"}),
        "off-list jku": ("jku-not-allowed", {"jku": origin.url + OFF_LIST_PATH}),
    }


@pytest.mark.parametrize("wrong", ["signature", "kid", "iss", "aud", "off-list jku"])
def test_a_wrong_token_is_refused_loudly_and_nothing_is_fetched_for_it(
    configured: tuple[FlaskClient, int],
    origin: ClientOrigin,
    client_key: ECKey,
    caplog: pytest.LogCaptureFixture,
    wrong: str,
) -> None:
    client, fetches = configured
    reason, change = _refusal_cases(origin)[wrong]
    if reason == "KID":
        reason = "unknown-kid" if fetches else "kid-not-in-inline-jwks"
    path = f"/cds-services/{SIGN}"
    token = reference_token(
        change.get("key", client_key),
        issuer=change.get("issuer", origin.url),
        jku=change.get("jku", origin.url + JWKS_PATH),
        audience=change.get("audience", BASE + path),
        kid=change.get("kid", reference_client.KID),
    )
    with caplog.at_level(logging.WARNING, logger="ldn.cds_hooks"):
        answer = _call(client, path, token, hook_body(prefetch=_oxycodone_prefetch()))
    assert answer.status_code == 401
    assert "cards" not in answer.get_json()
    refused = [r for r in caplog.records if getattr(r, "event", None) == "client-refused"]
    assert [(r.levelname, r.reason) for r in refused] == [("WARNING", reason)]  # type: ignore[attr-defined]
    claimed = change.get("issuer", origin.url)
    assert claimed in refused[0].getMessage()
    assert token not in caplog.text
    assert token.split(".")[2] not in caplog.text
    assert origin.hits[OFF_LIST_PATH] == 0


def test_inline_keys_alone_refuse_a_jku_they_do_not_list(
    tmp_path: Path, origin: ClientOrigin, client_key: ECKey
) -> None:
    app = _app(tmp_path, origin.url, {"jwks": _public(client_key)})
    path = f"/cds-services/{SIGN}"
    token = reference_token(
        client_key, issuer=origin.url, jku=origin.url + JWKS_PATH, audience=BASE + path
    )
    try:
        answer = _call(app.test_client(), path, token, hook_body(prefetch=_oxycodone_prefetch()))
    finally:
        app.extensions["cds_hooks"].store.close()
    assert answer.status_code == 401
    assert sum(origin.hits.values()) == 0


class _NoNetwork(requests.Session):
    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        raise AssertionError("the service tried to fetch a JWK Set")


def _verifier(now: float) -> ClientVerifier:
    settings = load_settings(
        {"CDS_TRUSTED_CLIENTS": {reference_client.ISSUER: reference_client.trusted_client()}}
    )
    cache = JwksCache(ttl=300, min_refresh=0, timeout=1, session=_NoNetwork())
    return ClientVerifier(settings, cache, lambda issuer, jti, until: True, now=lambda: now)


def test_a_token_the_client_signed_is_accepted_with_the_documented_settings() -> None:
    verifier = _verifier(now=CAPTURED_IAT + 5)
    client = verifier.verify(f"Bearer {CAPTURED_TOKEN}", CAPTURED_AUDIENCE)
    assert client.issuer == reference_client.ISSUER


def test_the_documented_settings_refuse_a_token_signed_by_another_key(client_key: ECKey) -> None:
    token = reference_token(
        client_key,
        issuer=reference_client.ISSUER,
        jku=reference_client.JWKS_URL,
        audience=BASE + "/cds-services",
    )
    with pytest.raises(Unauthorized) as refused:
        _verifier(now=time.time()).verify(f"Bearer {token}", BASE + "/cds-services")
    assert refused.value.reason == "rejected-bad_signature"
    assert refused.value.issuer == reference_client.ISSUER


def test_the_docs_give_the_settings_the_demo_prints() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    assert "## Trying the service in the CDS Hooks Sandbox" in docs
    printed = reference_client.try_out_instructions("http://127.0.0.1:8102/cds-services", True)
    settings = [line.strip() for line in printed if line.strip().startswith("LDN_")]
    assert len(settings) == 2
    for line in settings:
        assert line.split("   ")[0] in docs
