"""Token endpoint: code reuse, refresh rotation, client authentication, RFC 6749 §5.2 errors."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc.jwk import ECKey

from tests.sandbox.auth_testkit import (
    ISSUER,
    REDIRECT_URI,
    AuthSandbox,
    basic_auth,
    client_assertion,
)

SCOPE = "openid launch/patient patient/*.rs offline_access"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _refresh(sandbox: AuthSandbox, refresh_token: str, **extra: str) -> Any:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": "public-app",
    }
    return sandbox.token({**form, **extra})


def _standalone_tokens(sandbox: AuthSandbox) -> dict[str, Any]:
    attempt = sandbox.attempt(scope=SCOPE)
    response = sandbox.exchange(attempt, sandbox.code_for(attempt, patient="pat-1"))
    assert response.status_code == 200
    return dict(response.get_json())


def test_a_reused_code_is_refused_and_revokes_what_it_issued() -> None:
    sandbox = AuthSandbox.build()
    attempt = sandbox.attempt(scope=SCOPE)
    code = sandbox.code_for(attempt, patient="pat-1")
    first = sandbox.exchange(attempt, code).get_json()

    second = sandbox.exchange(attempt, code)

    assert second.status_code == 400
    assert second.get_json()["error"] == "invalid_grant"
    assert sandbox.auth.introspect(first["access_token"]) is None
    assert _refresh(sandbox, first["refresh_token"]).status_code == 400


def test_an_expired_code_is_refused() -> None:
    sandbox = AuthSandbox.build()
    attempt = sandbox.attempt(scope=SCOPE)
    code = sandbox.code_for(attempt, patient="pat-1")
    sandbox.clock.advance(121)
    assert sandbox.exchange(attempt, code).get_json()["error"] == "invalid_grant"


def test_a_code_is_bound_to_its_client_and_redirect_uri() -> None:
    sandbox = AuthSandbox.build()
    attempt = sandbox.attempt(scope=SCOPE)
    code = sandbox.code_for(attempt, patient="pat-1")
    wrong_uri = sandbox.exchange(attempt, code, redirect_uri="http://localhost:9000/other")
    assert wrong_uri.get_json()["error"] == "invalid_grant"


def test_refresh_rotates_and_the_old_refresh_token_stops_working() -> None:
    sandbox = AuthSandbox.build()
    first = _standalone_tokens(sandbox)

    refreshed = _refresh(sandbox, first["refresh_token"])

    assert refreshed.status_code == 200
    second = refreshed.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == SCOPE
    assert second["patient"] == "pat-1"
    claims = sandbox.id_token_claims(second)
    assert claims["sub"] == "Practitioner/sandbox-clinician"
    assert "nonce" not in claims, "the nonce belongs to the authorization request only"
    info = sandbox.auth.introspect(second["access_token"])
    assert info is not None
    assert info.patient == "pat-1"

    replay = _refresh(sandbox, first["refresh_token"])
    assert replay.status_code == 400
    assert replay.get_json()["error"] == "invalid_grant"
    # replaying a spent refresh token is treated as theft: the whole grant is revoked
    assert sandbox.auth.introspect(second["access_token"]) is None
    assert _refresh(sandbox, second["refresh_token"]).status_code == 400


def test_refresh_may_narrow_the_scope() -> None:
    sandbox = AuthSandbox.build()
    first = _standalone_tokens(sandbox)
    narrowed = _refresh(sandbox, first["refresh_token"], scope="patient/Observation.rs")
    assert narrowed.status_code == 200
    token = narrowed.get_json()
    assert token["scope"] == "patient/Observation.rs"
    assert "refresh_token" not in token, "offline_access was not asked for again"
    info = sandbox.auth.introspect(token["access_token"])
    assert info is not None
    assert not info.scopes.allows("Condition", "r", "pat-1")


def test_refresh_may_not_widen_the_scope_and_the_token_survives_the_attempt() -> None:
    sandbox = AuthSandbox.build()
    first = _standalone_tokens(sandbox)
    widened = _refresh(sandbox, first["refresh_token"], scope="patient/*.cruds offline_access")
    assert widened.status_code == 400
    assert widened.get_json()["error"] == "invalid_scope"
    assert _refresh(sandbox, first["refresh_token"]).status_code == 200


def test_a_refresh_token_belongs_to_its_client() -> None:
    sandbox = AuthSandbox.build()
    first = _standalone_tokens(sandbox)
    response = _refresh(sandbox, first["refresh_token"], client_id="narrow-app")
    assert response.get_json()["error"] == "invalid_grant"


def test_an_expired_refresh_token_is_refused() -> None:
    sandbox = AuthSandbox.build()
    first = _standalone_tokens(sandbox)
    sandbox.clock.advance(86401)
    assert _refresh(sandbox, first["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_client_secret_basic_authenticates_a_confidential_client() -> None:
    sandbox = AuthSandbox.build()
    attempt = sandbox.attempt("secret-app", scope=SCOPE)
    code = sandbox.code_for(attempt, patient="pat-1")
    response = sandbox.exchange(attempt, code, basic_auth("secret-app", "sandbox-test-secret"))
    assert response.status_code == 200


def test_a_wrong_secret_is_invalid_client_401_with_www_authenticate() -> None:
    sandbox = AuthSandbox.build()
    attempt = sandbox.attempt("secret-app", scope=SCOPE)
    code = sandbox.code_for(attempt, patient="pat-1")
    response = sandbox.exchange(attempt, code, basic_auth("secret-app", "wrong"))
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_a_confidential_client_cannot_act_as_a_public_one() -> None:
    sandbox = AuthSandbox.build()
    attempt = sandbox.attempt("secret-app", scope=SCOPE)
    code = sandbox.code_for(attempt, patient="pat-1")
    response = sandbox.exchange(attempt, code, client_id="secret-app")
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def _jwt_exchange(sandbox: AuthSandbox, assertion: str) -> Any:
    attempt = sandbox.attempt("jwt-app", scope=SCOPE)
    code = sandbox.code_for(attempt, patient="pat-1")
    return sandbox.exchange(
        attempt, code, client_assertion_type=JWT_BEARER, client_assertion=assertion
    )


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_private_key_jwt_authenticates_with_a_registered_key(alg: str) -> None:
    sandbox = AuthSandbox.build()
    response = _jwt_exchange(sandbox, client_assertion(alg, now=sandbox.clock.now))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["patient"] == "pat-1"


@pytest.mark.parametrize(
    ("assertion_options", "words"),
    [
        ({"key": ECKey.generate_key("P-384")}, "not valid"),
        ({"aud": f"{ISSUER}/authorize"}, "not valid"),
        ({"lifetime": -60}, "not valid"),
        ({"lifetime": 3600}, "five minutes"),
        ({"client_id": "secret-app"}, "no client registered for private_key_jwt"),
    ],
)
def test_a_bad_client_assertion_is_invalid_client(
    assertion_options: dict[str, Any], words: str
) -> None:
    sandbox = AuthSandbox.build()
    assertion = client_assertion("ES384", now=sandbox.clock.now, **assertion_options)
    response = _jwt_exchange(sandbox, assertion)
    assert response.status_code == 401
    answer = response.get_json()
    assert answer["error"] == "invalid_client"
    assert words in answer["error_description"]


def test_a_replayed_client_assertion_is_refused() -> None:
    sandbox = AuthSandbox.build()
    assertion = client_assertion("ES384", now=sandbox.clock.now, jti="only-once")
    assert _jwt_exchange(sandbox, assertion).status_code == 200
    replay = _jwt_exchange(sandbox, assertion)
    assert replay.status_code == 401
    assert "already used" in replay.get_json()["error_description"]


def test_a_client_assertion_needs_its_type() -> None:
    sandbox = AuthSandbox.build()
    attempt = sandbox.attempt("jwt-app", scope=SCOPE)
    code = sandbox.code_for(attempt, patient="pat-1")
    response = sandbox.exchange(
        attempt, code, client_assertion=client_assertion(now=sandbox.clock.now)
    )
    assert response.status_code == 401
    assert "client_assertion_type" in response.get_json()["error_description"]


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "password", "client_id": "public-app"}, 400, "unsupported_grant_type"),
        ({}, 400, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "client_id": "public-app"}, 400, "invalid_request"),
        (
            {"grant_type": "authorization_code", "client_id": "public-app", "code": "made-up"},
            400,
            "invalid_grant",
        ),
        ({"grant_type": "authorization_code", "code": "x"}, 401, "invalid_client"),
        ({"grant_type": "refresh_token", "client_id": "public-app"}, 400, "invalid_request"),
    ],
)
def test_token_errors_follow_rfc_6749(form: dict[str, str], status: int, error: str) -> None:
    sandbox = AuthSandbox.build()
    response = sandbox.token({"redirect_uri": REDIRECT_URI, **form})
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == error
    assert response.headers["Cache-Control"] == "no-store"
