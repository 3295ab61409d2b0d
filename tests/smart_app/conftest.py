"""A fake EHR (SMART discovery, token endpoint, JWKS) on a mocked transport, and the app."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import responses
from flask import Flask
from joserfc import jwt
from joserfc.jwk import RSAKey

from ldn_safety.app import create_app
from smart_app.launch import SmartConfiguration
from smart_app.registrations import ClientRegistration, load_registrations

ISS = "https://ehr.example.test/fhir"
CLIENT_ID = "ldn-app"


@dataclass
class FakeEhr:
    """What an EHR's authorization server serves, registered on the mocked transport."""

    http: responses.RequestsMock
    key: RSAKey
    iss: str = ISS
    authorize_url: str = "https://ehr.example.test/auth/authorize"
    token_url: str = "https://ehr.example.test/auth/token"
    jwks_url: str = "https://ehr.example.test/auth/jwks"
    discovery_url: str = f"{ISS}/.well-known/smart-configuration"

    def discovery(self, capabilities: tuple[str, ...] = ("permission-v2",)) -> dict[str, Any]:
        return {
            "issuer": self.iss,
            "jwks_uri": self.jwks_url,
            "authorization_endpoint": self.authorize_url,
            "token_endpoint": self.token_url,
            "capabilities": [
                "launch-ehr",
                "launch-standalone",
                "sso-openid-connect",
                *capabilities,
            ],
            "code_challenge_methods_supported": ["S256"],
        }

    def config(self, capabilities: tuple[str, ...] = ("permission-v2",)) -> SmartConfiguration:
        document = self.discovery(capabilities)
        return SmartConfiguration(
            iss=self.iss,
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            issuer=document["issuer"],
            jwks_uri=document["jwks_uri"],
            capabilities=tuple(document["capabilities"]),
        )

    def serve_discovery(self, **kwargs: Any) -> None:
        self.http.get(self.discovery_url, json=self.discovery(**kwargs))

    def serve_jwks(self) -> None:
        self.http.get(self.jwks_url, json={"keys": [self.key.as_dict(private=False)]})

    def id_token(self, nonce: str | None, key: RSAKey | None = None, **claims: Any) -> str:
        payload = {
            "iss": self.iss,
            "aud": CLIENT_ID,
            "sub": "practitioner-1",
            "fhirUser": f"{self.iss}/Practitioner/practitioner-1",
            "iat": int(time.time()),
            "exp": int(time.time()) + 300,
            "nonce": nonce,
            **claims,
        }
        present = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, present, key or self.key)

    def token_response(self, nonce: str | None, **overrides: Any) -> dict[str, Any]:
        body = {
            "access_token": "the-access-token",
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": "the-refresh-token",
            "scope": (
                "patient/Patient.r patient/MedicationStatement.rs patient/MedicationRequest.rs "
                "patient/MedicationDispense.rs patient/MedicationAdministration.rs "
                "patient/Medication.r patient/Condition.rs patient/CarePlan.rs patient/CarePlan.cu "
                "patient/DocumentReference.rs patient/DocumentReference.c launch openid "
                "fhirUser offline_access"
            ),
            "patient": "pat-123",
            "encounter": "enc-9",
            "fhirContext": [{"reference": "Encounter/enc-9"}],
            "need_patient_banner": False,
            "smart_style_url": "https://ehr.example.test/style.json",
            "id_token": self.id_token(nonce),
        }
        body.update(overrides)
        return {k: v for k, v in body.items() if v is not None}

    def serve_token(self, body: dict[str, Any], status: int = 200) -> None:
        self.http.post(self.token_url, json=body, status=status)


@pytest.fixture(scope="session")
def ehr_key() -> RSAKey:
    return RSAKey.generate_key(2048, auto_kid=True)


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    """Mock HTTP at the transport; a call nobody registered fails instead of going out."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def ehr(http: responses.RequestsMock, ehr_key: RSAKey) -> FakeEhr:
    return FakeEhr(http=http, key=ehr_key)


@pytest.fixture
def registrations() -> dict[str, ClientRegistration]:
    return load_registrations({ISS: {"client_id": CLIENT_ID}})


@pytest.fixture
def app_config(tmp_path) -> dict[str, Any]:
    """The settings of the app under test: one registered EHR, sessions in a fresh folder."""
    return {
        "TESTING": True,
        "SERVER_NAME": "app.example.test",
        "PREFERRED_URL_SCHEME": "https",
        "SESSION_DIR": str(tmp_path / "sessions"),
        "SMART_ISSUERS": {ISS: {"client_id": CLIENT_ID}},
    }


@pytest.fixture
def app(app_config: dict[str, Any]) -> Flask:
    return create_app(app_config)
