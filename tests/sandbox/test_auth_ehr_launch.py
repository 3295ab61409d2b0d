"""EHR launch: the EHR page creates a launch value, the app redeems it for patient context."""

from __future__ import annotations

import pytest

from sandbox.auth import LaunchContext, create_launch, introspect
from sandbox.auth.launch import APP_CONTEXT_LIMIT
from tests.sandbox.auth_testkit import APP_SCOPE, FHIR_BASE, ISSUER, AuthSandbox, query_of


def test_ehr_launch_gives_patient_encounter_and_a_verifiable_id_token() -> None:
    sandbox = AuthSandbox.build()
    launch = sandbox.create_launch(
        patient="pat-1",
        user="Practitioner/dr-1",
        encounter="enc-1",
        fhirContext=[{"reference": "MedicationRequest/mr-1"}],
    )
    attempt = sandbox.attempt(scope=APP_SCOPE, launch=launch)
    page = sandbox.authorize(attempt)
    assert page.status_code == 200
    assert "Public App" in page.get_data(as_text=True)
    redirect = sandbox.decide(page)
    assert redirect.headers["Location"].startswith(attempt.params["redirect_uri"])
    params = query_of(redirect)
    assert params["state"] == attempt.params["state"]

    response = sandbox.exchange(attempt, params["code"])

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    token = response.get_json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["scope"] == APP_SCOPE
    assert token["patient"] == "pat-1"
    assert token["encounter"] == "enc-1"
    assert token["fhirContext"] == [{"reference": "MedicationRequest/mr-1"}]
    assert token["need_patient_banner"] is False
    assert token["smart_style_url"] == f"{ISSUER}/smart-style.json"
    assert token["refresh_token"]

    claims = sandbox.id_token_claims(token)
    assert claims["iss"] == ISSUER
    assert claims["aud"] == "public-app"
    assert claims["sub"] == "Practitioner/dr-1"
    assert claims["fhirUser"] == f"{FHIR_BASE}/Practitioner/dr-1"
    assert claims["nonce"] == attempt.params["nonce"]
    assert claims["iat"] == int(sandbox.clock.now)
    assert claims["exp"] > claims["iat"]


def test_the_access_token_is_introspected_with_its_context_and_scopes() -> None:
    sandbox = AuthSandbox.build()
    token = sandbox.ehr_tokens()
    info = sandbox.auth.introspect(token["access_token"])
    assert info is not None
    assert (info.client_id, info.patient, info.encounter) == ("public-app", "pat-1", "enc-1")
    assert info.user == "Practitioner/dr-1"
    assert info.scopes.allows("MedicationStatement", "s", "pat-1")
    assert info.scopes.allows("CarePlan", "c", "pat-1")
    assert not info.scopes.allows("CarePlan", "c", "pat-2")
    assert not info.scopes.allows("Condition", "r", "pat-1")
    assert info.expires_at == int(sandbox.clock.now) + 3600

    sandbox.clock.advance(3601)
    assert sandbox.auth.introspect(token["access_token"]) is None
    assert sandbox.auth.introspect("never-issued") is None


def test_the_ehr_page_and_the_proxy_use_the_module_functions_in_the_app_context() -> None:
    sandbox = AuthSandbox.build()
    with sandbox.app.app_context():
        launch = create_launch(LaunchContext(patient="pat-2", user="Practitioner/dr-2"))
    attempt = sandbox.attempt(launch=launch)
    token = sandbox.exchange(attempt, sandbox.code_for(attempt)).get_json()
    with sandbox.app.app_context():
        info = introspect(token["access_token"])
    assert info is not None
    assert (info.patient, info.user, info.encounter) == ("pat-2", "Practitioner/dr-2", None)


def test_a_launch_value_works_once() -> None:
    sandbox = AuthSandbox.build()
    launch = sandbox.create_launch()
    sandbox.code_for(sandbox.attempt(launch=launch))

    again = sandbox.attempt(launch=launch)
    response = sandbox.authorize(again)

    assert response.status_code == 302
    params = query_of(response)
    assert params["error"] == "invalid_request"
    assert "launch" in params["error_description"]
    assert params["state"] == again.params["state"]


def test_a_launch_value_expires() -> None:
    sandbox = AuthSandbox.build()
    launch = sandbox.create_launch()
    sandbox.clock.advance(301)
    response = sandbox.authorize(sandbox.attempt(launch=launch))
    assert query_of(response)["error"] == "invalid_request"


def test_an_ehr_launch_needs_the_launch_scope() -> None:
    sandbox = AuthSandbox.build()
    attempt = sandbox.attempt(scope="openid patient/*.rs", launch=sandbox.create_launch())
    assert query_of(sandbox.authorize(attempt))["error"] == "invalid_scope"


def test_the_launch_scope_needs_a_launch_value() -> None:
    sandbox = AuthSandbox.build()
    attempt = sandbox.attempt(scope="launch patient/*.rs")
    assert query_of(sandbox.authorize(attempt))["error"] == "invalid_request"


def test_the_banner_flag_follows_the_launch() -> None:
    sandbox = AuthSandbox.build()
    assert sandbox.ehr_tokens(need_patient_banner=True)["need_patient_banner"] is True


def test_launch_encounter_is_granted_only_with_an_encounter() -> None:
    sandbox = AuthSandbox.build()
    scope = "launch launch/encounter patient/*.rs"
    with_encounter = sandbox.ehr_tokens(scope=scope)
    assert with_encounter["scope"] == scope
    without = sandbox.ehr_tokens(scope=scope, encounter=None)
    assert without["scope"] == "launch patient/*.rs"
    assert "encounter" not in without


def test_auto_approve_skips_the_consent_page_for_an_ehr_launch() -> None:
    sandbox = AuthSandbox.build(auto_approve=True)
    attempt = sandbox.attempt(launch=sandbox.create_launch())
    response = sandbox.authorize(attempt)
    assert response.status_code == 302
    assert query_of(response)["code"]


CARD_CONTEXT = '{"hookInstance":"h-1","order":"MedicationRequest/draft-1","status":"do-not-start"}'


def test_a_launch_from_a_card_hands_its_app_context_to_the_app_untouched() -> None:
    sandbox = AuthSandbox.build()
    token = sandbox.ehr_tokens(appContext=CARD_CONTEXT)
    assert token["appContext"] == CARD_CONTEXT  # a string, exactly as the card sent it
    assert token["patient"] == "pat-1"

    refreshed = sandbox.token(
        {
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": "public-app",
        }
    ).get_json()
    assert refreshed["appContext"] == CARD_CONTEXT  # the launch's context stays the launch's


def test_a_launch_without_app_context_sends_none() -> None:
    sandbox = AuthSandbox.build()
    assert "appContext" not in sandbox.ehr_tokens()
    with sandbox.app.app_context():
        launch = create_launch(LaunchContext(patient="pat-2", app_context="opaque text"))
    attempt = sandbox.attempt(launch=launch)
    token = sandbox.exchange(attempt, sandbox.code_for(attempt)).get_json()
    assert token["appContext"] == "opaque text"  # not JSON: passed on all the same


def test_app_context_up_to_the_limit_is_accepted() -> None:
    sandbox = AuthSandbox.build()
    largest = "é" * (APP_CONTEXT_LIMIT // 2)  # two bytes each in UTF-8
    assert sandbox.ehr_tokens(appContext=largest)["appContext"] == largest


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "JSON object"),
        ({"user": "Practitioner/dr-1"}, "patient"),
        ({"patient": "bad id!"}, "patient"),
        ({"patient": "pat-1", "user": "dr-1"}, "user"),
        ({"patient": "pat-1", "need_patient_banner": "yes"}, "need_patient_banner"),
        ({"patient": "pat-1", "fhirContext": [{"reference": "nonsense"}]}, "fhirContext"),
        ({"patient": "pat-1", "appContext": {"order": "MedicationRequest/1"}}, "appContext"),
        ({"patient": "pat-1", "appContext": "x" * (APP_CONTEXT_LIMIT + 1)}, "appContext"),
        ({"patient": "pat-1", "appContext": "\ud800"}, "appContext"),
    ],
)
def test_a_malformed_launch_request_gets_a_clear_400(body: object, message: str) -> None:
    sandbox = AuthSandbox.build()
    response = sandbox.http.post("/auth/launch", json=body)
    assert response.status_code == 400
    answer = response.get_json()
    assert answer["error"] == "invalid_request"
    assert message in answer["error_description"]
