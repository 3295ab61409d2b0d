"""Authorization requests the server refuses: PKCE, aud, client, redirect_uri, scope."""

from __future__ import annotations

import pytest

from tests.sandbox.auth_testkit import FHIR_BASE, AuthSandbox, basic_auth, query_of

SCOPE = "openid launch/patient patient/*.rs"


@pytest.mark.parametrize(
    ("overrides", "error", "words"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request", "PKCE"),
        ({"code_challenge_method": None}, "invalid_request", "S256"),
        ({"code_challenge_method": "plain"}, "invalid_request", "S256"),
        ({"code_challenge": "too-short"}, "invalid_request", "code_challenge"),
        ({"aud": "http://elsewhere.example/fhir"}, "invalid_request", "aud"),
        ({"aud": None}, "invalid_request", "aud"),
        ({"response_type": "token"}, "unsupported_response_type", "token"),
        ({"scope": None}, "invalid_scope", ""),
    ],
)
def test_a_refused_request_is_redirected_with_error_and_state(
    overrides: dict[str, str | None], error: str, words: str
) -> None:
    sandbox = AuthSandbox.build()
    attempt = sandbox.attempt(**{"scope": SCOPE, **overrides})
    response = sandbox.authorize(attempt)
    assert response.status_code == 302
    params = query_of(response)
    assert params["error"] == error
    assert words in params.get("error_description", "")
    assert params["state"] == attempt.params["state"]
    assert "code" not in params


def test_a_trailing_slash_on_aud_is_the_same_fhir_base() -> None:
    sandbox = AuthSandbox.build()
    response = sandbox.authorize(sandbox.attempt(scope=SCOPE, aud=f"{FHIR_BASE}/"))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"client_id": "nobody"}, "client does not exist"),
        ({"client_id": None}, "client_id"),
        ({"redirect_uri": "http://attacker.example/cb"}, "not supported by client"),
        ({"redirect_uri": None}, "redirect_uri"),
        ({"redirect_uri": 'http://localhost:9000/"cb'}, "not a valid URI"),
    ],
)
def test_without_a_trusted_redirect_uri_the_error_is_a_page(
    overrides: dict[str, str | None], words: str
) -> None:
    sandbox = AuthSandbox.build()
    response = sandbox.authorize(sandbox.attempt(scope=SCOPE, **overrides))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"
    assert words in response.get_data(as_text=True)


def test_a_missing_verifier_is_refused_even_for_a_confidential_client() -> None:
    sandbox = AuthSandbox.build()
    attempt = sandbox.attempt("secret-app", scope=SCOPE)
    code = sandbox.code_for(attempt, patient="pat-1")
    response = sandbox.token(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": attempt.params["redirect_uri"],
        },
        basic_auth("secret-app", "sandbox-test-secret"),
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_a_wrong_verifier_is_invalid_grant() -> None:
    sandbox = AuthSandbox.build()
    attempt = sandbox.attempt(scope=SCOPE)
    code = sandbox.code_for(attempt, patient="pat-1")
    response = sandbox.exchange(attempt, code, code_verifier="x" * 50)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_a_narrower_grant_is_reported_in_scope() -> None:
    sandbox = AuthSandbox.build()
    requested = "openid fhirUser launch/patient patient/MedicationStatement.rs patient/CarePlan.c"
    attempt = sandbox.attempt("narrow-app", scope=requested)
    page = sandbox.authorize(attempt)
    assert "CarePlan" not in page.get_data(as_text=True), "the consent page shows the grant"
    code = query_of(sandbox.decide(page, patient="pat-1"))["code"]
    token = sandbox.exchange(attempt, code).get_json()

    assert token["scope"] == "openid launch/patient patient/MedicationStatement.rs"
    info = sandbox.auth.introspect(token["access_token"])
    assert info is not None
    assert not info.scopes.allows("CarePlan", "c", "pat-1")
    assert "fhirUser" not in sandbox.id_token_claims(token), "fhirUser was not granted"


def test_nothing_grantable_is_invalid_scope() -> None:
    sandbox = AuthSandbox.build()
    attempt = sandbox.attempt("narrow-app", scope="user/*.cruds")
    assert query_of(sandbox.authorize(attempt))["error"] == "invalid_scope"


def test_v1_scopes_are_granted_as_asked_and_mean_their_v2_equivalents() -> None:
    sandbox = AuthSandbox.build()
    scope = "launch/patient patient/MedicationStatement.read patient/CarePlan.write"
    attempt = sandbox.attempt(scope=scope)
    code = sandbox.code_for(attempt, patient="pat-1")
    token = sandbox.exchange(attempt, code).get_json()
    assert token["scope"] == scope
    info = sandbox.auth.introspect(token["access_token"])
    assert info is not None
    assert info.scopes.allows("MedicationStatement", "s", "pat-1")
    assert info.scopes.allows("CarePlan", "u", "pat-1")
    assert not info.scopes.allows("CarePlan", "r", "pat-1")


def test_plain_http_off_loopback_is_refused_clearly_not_with_a_500() -> None:
    sandbox = AuthSandbox.build()
    page = sandbox.http.get(
        "/auth/authorize",
        query_string=sandbox.attempt(scope=SCOPE).params,
        base_url="http://ehr.example",
    )
    assert page.status_code == 400
    assert "https" in page.get_data(as_text=True)
    token = sandbox.http.post(
        "/auth/token", data={"grant_type": "refresh_token"}, base_url="http://ehr.example"
    )
    assert token.status_code == 400
    assert token.get_json()["error"] == "insecure_transport"
