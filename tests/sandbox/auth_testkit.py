"""Test kit for the sandbox authorization server: an app, a clock, client keys, flow steps.

Every key here is generated when the tests run; none is stored.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from werkzeug.test import TestResponse

from sandbox.auth import AuthConfig, Client, PatientChoice, SandboxAuth, init_auth

FHIR_BASE = "http://localhost/fhir"
ISSUER = "http://localhost/auth"
TOKEN_URL = f"{ISSUER}/token"
REDIRECT_URI = "http://localhost:9000/callback"
APP_SCOPE = (
    "openid fhirUser launch patient/MedicationStatement.rs patient/CarePlan.c offline_access"
)
PATIENTS = (
    PatientChoice("pat-1", "Ada Example", "1970-01-01", "female"),
    PatientChoice("pat-2", "Ben Example"),
)
SECRET = "sandbox-test-secret"
CLIENT_KEY_IDS = {"ES384": "client-es384", "RS384": "client-rs384"}


class FakeClock:
    """A clock the tests move by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@cache
def client_keys() -> dict[str, ECKey | RSAKey]:
    """Return the private keys of the private_key_jwt test client, one per algorithm."""
    return {"ES384": ECKey.generate_key("P-384"), "RS384": RSAKey.generate_key(2048)}


def client_jwks() -> dict[str, Any]:
    """Return the public JWK Set the private_key_jwt test client registers."""
    keys = client_keys()
    return {
        "keys": [
            keys[alg].as_dict(private=False, kid=kid, alg=alg)
            for alg, kid in CLIENT_KEY_IDS.items()
        ]
    }


def client_registrations() -> list[dict[str, Any]]:
    """Return the test clients: public, narrow policy, secret, key pair."""
    return [
        {"client_id": "public-app", "redirect_uris": [REDIRECT_URI], "client_name": "Public App"},
        {
            "client_id": "narrow-app",
            "redirect_uris": [REDIRECT_URI],
            "scope": "openid launch launch/patient patient/MedicationStatement.rs offline_access",
        },
        {
            "client_id": "secret-app",
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "client_secret_basic",
            "client_secret": SECRET,
        },
        {
            "client_id": "jwt-app",
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": client_jwks(),
        },
    ]


def client_assertion(
    alg: str = "ES384",
    *,
    client_id: str = "jwt-app",
    aud: str = TOKEN_URL,
    now: float,
    lifetime: int = 240,
    jti: str | None = None,
    key: ECKey | RSAKey | None = None,
) -> str:
    """Sign a private_key_jwt client assertion as a SMART client would."""
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "exp": int(now) + lifetime,
        "jti": jti or str(uuid.uuid4()),
    }
    header = {"alg": alg, "kid": CLIENT_KEY_IDS[alg]}
    return jwt.encode(header, claims, key or client_keys()[alg], algorithms=[alg])


def basic_auth(client_id: str, secret: str) -> dict[str, str]:
    """Return an HTTP Basic Authorization header."""
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def pkce_pair() -> tuple[str, str]:
    """Return a PKCE verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(response: TestResponse) -> dict[str, str]:
    """Return the query parameters of a redirect's Location."""
    location = response.headers["Location"]
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


@dataclass
class Attempt:
    """One authorization attempt: the parameters sent and the PKCE verifier kept back."""

    params: dict[str, str]
    verifier: str


@dataclass
class AuthSandbox:
    """A Flask app with only the authorization server mounted, and helpers to drive it."""

    app: Flask
    http: FlaskClient
    clock: FakeClock
    auth: SandboxAuth

    @classmethod
    def build(
        cls,
        patients: Callable[[], Sequence[PatientChoice]] | None = None,
        **settings: Any,
    ) -> AuthSandbox:
        """Start the server on an app as the sandbox does, with test clients and a fake clock."""
        clock = FakeClock()
        config = AuthConfig(
            fhir_base=FHIR_BASE,
            issuer=ISSUER,
            clients=tuple(Client.from_dict(entry) for entry in client_registrations()),
            patients=patients or (lambda: PATIENTS),
            now=clock,
            **{"signing_alg": "ES384", **settings},
        )
        app = Flask(__name__, template_folder=str(files("ldn_safety.templates")))
        auth = init_auth(app, config)
        return cls(app=app, http=app.test_client(), clock=clock, auth=auth)

    def create_launch(self, **context: Any) -> str:
        """Ask the launch endpoint for a launch value, as the EHR page does."""
        body = {"patient": "pat-1", "user": "Practitioner/dr-1", "encounter": "enc-1", **context}
        response = self.http.post("/auth/launch", json=body)
        assert response.status_code == 201, response.get_data(as_text=True)
        return str(response.get_json()["launch"])

    def attempt(self, client_id: str = "public-app", **overrides: str | None) -> Attempt:
        """Prepare authorize parameters (PKCE S256, state, nonce); a None override drops one."""
        verifier, challenge = pkce_pair()
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": APP_SCOPE,
            "state": secrets.token_urlsafe(24),
            "nonce": secrets.token_urlsafe(12),
            "aud": FHIR_BASE,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **overrides,
        }
        return Attempt({k: v for k, v in params.items() if v is not None}, verifier)

    def authorize(self, attempt: Attempt) -> TestResponse:
        """Send the browser to the authorize endpoint."""
        return self.http.get("/auth/authorize", query_string=attempt.params)

    def decide(
        self, page: TestResponse, decision: str = "approve", patient: str | None = None
    ) -> TestResponse:
        """Press a button on the consent (or picker) page."""
        html = page.get_data(as_text=True)
        match = re.search(r'name="transaction" value="([^"]+)"', html)
        assert match, html
        form = {"transaction": match.group(1), "decision": decision}
        if patient is not None:
            form["patient"] = patient
        return self.http.post("/auth/consent", data=form)

    def code_for(self, attempt: Attempt, patient: str | None = None) -> str:
        """Run the authorize leg to the end (consent approved) and return the code."""
        page = self.authorize(attempt)
        assert page.status_code == 200, page.get_data(as_text=True)
        redirect = self.decide(page, patient=patient)
        assert redirect.status_code == 302, redirect.get_data(as_text=True)
        params = query_of(redirect)
        assert params["state"] == attempt.params["state"]
        return params["code"]

    def token(
        self, form: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> TestResponse:
        """POST to the token endpoint."""
        return self.http.post("/auth/token", data=dict(form), headers=dict(headers or {}))

    def exchange(
        self,
        attempt: Attempt,
        code: str,
        headers: Mapping[str, str] | None = None,
        **extra: str,
    ) -> TestResponse:
        """Redeem a code with the attempt's verifier."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": attempt.verifier,
            **extra,
        }
        if headers is None and "client_assertion" not in extra:
            form["client_id"] = attempt.params["client_id"]
        return self.token(form, headers)

    def id_token_claims(self, token: Mapping[str, Any]) -> dict[str, Any]:
        """Verify the response's id_token against the published JWKS and return its claims."""
        jwks = KeySet.import_key_set(self.http.get("/auth/jwks").get_json())
        return dict(jwt.decode(token["id_token"], jwks, algorithms=["RS256", "ES384"]).claims)

    def ehr_tokens(self, scope: str = APP_SCOPE, **launch_context: Any) -> dict[str, Any]:
        """Run a whole EHR launch for the public app and return the token response."""
        attempt = self.attempt(scope=scope, launch=self.create_launch(**launch_context))
        response = self.exchange(attempt, self.code_for(attempt))
        assert response.status_code == 200, response.get_data(as_text=True)
        return dict(response.get_json())
