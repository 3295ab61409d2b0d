"""Standalone launch: the patient picker, the consent decision, authorize by POST."""

from __future__ import annotations

from sandbox.auth import PatientListError
from tests.sandbox.auth_testkit import AuthSandbox, query_of

STANDALONE_SCOPE = "openid fhirUser launch/patient patient/*.rs offline_access"


def test_the_picker_lists_patients_and_the_choice_becomes_the_context() -> None:
    sandbox = AuthSandbox.build()
    attempt = sandbox.attempt(scope=STANDALONE_SCOPE)
    page = sandbox.authorize(attempt)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Ada Example" in html
    assert "Ben Example" in html

    code = query_of(sandbox.decide(page, patient="pat-2"))["code"]
    token = sandbox.exchange(attempt, code).get_json()

    assert token["patient"] == "pat-2"
    assert "encounter" not in token
    assert token["need_patient_banner"] is True
    assert token["scope"] == STANDALONE_SCOPE
    info = sandbox.auth.introspect(token["access_token"])
    assert info is not None
    assert info.scopes.allows("Observation", "r", "pat-2")
    assert not info.scopes.allows("Observation", "r", "pat-1")


def test_a_patient_outside_the_list_is_refused_on_the_picker() -> None:
    sandbox = AuthSandbox.build()
    page = sandbox.authorize(sandbox.attempt(scope=STANDALONE_SCOPE))
    again = sandbox.decide(page, patient="pat-999")
    assert again.status_code == 400
    assert "Choose a patient from the list" in again.get_data(as_text=True)
    # the request is still held: a valid choice completes it
    assert query_of(sandbox.decide(again, patient="pat-1"))["code"]


def test_the_picker_is_shown_even_with_auto_approve() -> None:
    sandbox = AuthSandbox.build(auto_approve=True)
    page = sandbox.authorize(sandbox.attempt(scope=STANDALONE_SCOPE))
    assert page.status_code == 200
    assert "Ada Example" in page.get_data(as_text=True)


def test_a_standalone_launch_without_launch_patient_has_no_patient() -> None:
    sandbox = AuthSandbox.build()
    attempt = sandbox.attempt(scope="openid fhirUser user/*.rs")
    page = sandbox.authorize(attempt)
    assert "Ada Example" not in page.get_data(as_text=True)
    token = sandbox.exchange(attempt, query_of(sandbox.decide(page))["code"]).get_json()
    assert "patient" not in token
    assert "refresh_token" not in token


def test_denying_redirects_access_denied_with_state() -> None:
    sandbox = AuthSandbox.build()
    attempt = sandbox.attempt(scope=STANDALONE_SCOPE)
    response = sandbox.decide(sandbox.authorize(attempt), decision="deny")
    assert response.status_code == 302
    params = query_of(response)
    assert params["error"] == "access_denied"
    assert params["state"] == attempt.params["state"]
    assert "code" not in params


def test_a_decision_is_taken_once() -> None:
    sandbox = AuthSandbox.build()
    page = sandbox.authorize(sandbox.attempt(scope=STANDALONE_SCOPE))
    sandbox.decide(page, patient="pat-1")
    twice = sandbox.decide(page, patient="pat-1")
    assert twice.status_code == 400
    assert "already answered or has expired" in twice.get_data(as_text=True)


def test_an_unanswered_consent_expires() -> None:
    sandbox = AuthSandbox.build()
    page = sandbox.authorize(sandbox.attempt(scope=STANDALONE_SCOPE))
    sandbox.clock.advance(901)
    assert sandbox.decide(page).status_code == 400


def test_an_unreadable_patient_list_gives_a_clear_page() -> None:
    def no_patients() -> list:
        raise PatientListError("FHIR server down")

    sandbox = AuthSandbox.build(patients=no_patients)
    page = sandbox.authorize(sandbox.attempt(scope=STANDALONE_SCOPE))
    assert page.status_code == 503
    assert "patient list cannot be read" in page.get_data(as_text=True)


def test_the_authorize_request_may_be_posted() -> None:
    sandbox = AuthSandbox.build()
    attempt = sandbox.attempt(scope=STANDALONE_SCOPE)
    page = sandbox.http.post("/auth/authorize", data=attempt.params)
    assert page.status_code == 200
    code = query_of(sandbox.decide(page, patient="pat-1"))["code"]
    assert sandbox.exchange(attempt, code).status_code == 200
