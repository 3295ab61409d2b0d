"""Saving to the chart: one transaction with conditional creates, no duplicates, safe retries."""

from __future__ import annotations

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from fhir_profiles.artefacts import (
    CAREPLAN_IDENTIFIER_SYSTEM,
    DOCUMENTREFERENCE_IDENTIFIER_SYSTEM,
)
from smart_app.review import MEDICATION_SOURCES
from tests.smart_app.pages_testkit import (
    APP,
    CSRF,
    ISS,
    FakeFhir,
    bundle,
    days,
    launch_context,
    saved_careplan,
    sign_in,
    statement,
)

PLAN_ID = "0b7a3c1e-5d4f-4a8b-9c2d-1e3f5a7b9c0d"
RESPONSE = {
    "resourceType": "Bundle",
    "type": "transaction-response",
    "entry": [
        {"response": {"status": "201 Created", "location": "CarePlan/cp-1/_history/1"}},
        {"response": {"status": "201 Created", "location": "DocumentReference/d-1/_history/1"}},
    ],
}


@pytest.fixture
def browser(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def fhir(http) -> FakeFhir:
    return FakeFhir(http)


def plan_values(**overrides: str) -> dict[str, str]:
    values = {
        "start": days(1),
        "interval": "7",
        "target": "3",
        "plan_id": PLAN_ID,
        "csrf_token": CSRF,
    }
    return {**values, **overrides}


def save(browser: FlaskClient, launch_id: str, **overrides: str):
    return browser.post(f"{APP}/plan/save?launch_id={launch_id}", data=plan_values(**overrides))


def serve_saved_plan(fhir: FakeFhir, **kwargs) -> None:
    fhir.careplans(saved_careplan(PLAN_ID, **kwargs))


def test_a_save_sends_one_transaction_of_two_conditional_creates(browser, fhir) -> None:
    fhir.chart()
    fhir.http.post(ISS, json=RESPONSE)
    launch_id = sign_in(browser)
    response = save(browser, launch_id)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(
        f"/plan/saved?launch_id={launch_id}&plan_id={PLAN_ID}"
    )
    (bundle,) = fhir.sent_json("POST")
    assert bundle["type"] == "transaction"
    kinds = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert kinds == ["CarePlan", "DocumentReference"]
    for entry in bundle["entry"]:
        assert entry["request"]["method"] == "POST"
        assert PLAN_ID in entry["request"]["ifNoneExist"]
    careplan = bundle["entry"][0]["resource"]
    assert careplan["identifier"] == [{"system": CAREPLAN_IDENTIFIER_SYSTEM, "value": PLAN_ID}]
    assert careplan["subject"]["reference"] == "Patient/pat-123"
    assert careplan["author"]["reference"] == "Practitioner/practitioner-1"
    assert careplan["period"]["start"] == days(1)
    assert careplan["status"] == "active"
    document = bundle["entry"][1]["resource"]
    assert document["context"]["related"][0]["reference"] == bundle["entry"][0]["fullUrl"]


def test_after_saving_the_plan_is_read_back_from_the_server(browser, fhir) -> None:
    fhir.chart()
    fhir.http.post(ISS, json=RESPONSE)
    serve_saved_plan(fhir)
    launch_id = sign_in(browser)
    response = browser.post(
        f"{APP}/plan/save?launch_id={launch_id}", data=plan_values(), follow_redirects=True
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="save-success"' in page
    assert f'data-plan-id="{PLAN_ID}"' in page
    assert '<dd class="saved-target">3 mg</dd>' in page
    search = fhir.calls("GET", "CarePlan")[-1]  # the first asked for the plans in effect
    assert (
        f"{CAREPLAN_IDENTIFIER_SYSTEM}%7C{PLAN_ID}".replace(":", "%3A").replace("/", "%2F")
        in search.url
    )


def test_a_double_submit_sends_the_same_identifiers_twice(browser, fhir) -> None:
    fhir.chart()
    fhir.http.post(ISS, json=RESPONSE)
    launch_id = sign_in(browser)
    save(browser, launch_id)
    save(browser, launch_id)
    first, second = fhir.sent_json("POST")
    assert [e["request"] for e in first["entry"]] == [e["request"] for e in second["entry"]]
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in second["entry"]]


def read_back(fhir: FakeFhir, *found: dict) -> None:
    """Serve the searches by identifier the app makes after a failed save."""
    for kind in ("CarePlan", "DocumentReference"):
        hits = [r for r in found if r["resourceType"] == kind]
        fhir.http.get(f"{ISS}/{kind}", json=bundle(*hits))


def document(plan_id: str) -> dict:
    return {
        "resourceType": "DocumentReference",
        "id": "d-1",
        "identifier": [{"system": DOCUMENTREFERENCE_IDENTIFIER_SYSTEM, "value": plan_id}],
    }


def test_a_failed_save_keeps_the_form_and_a_retry_succeeds(browser, fhir) -> None:
    fhir.chart()
    fhir.fail("", 500, method="POST")
    read_back(fhir)
    launch_id = sign_in(browser)
    failed = save(browser, launch_id, start=days(3), interval="14")
    page = failed.get_data(as_text=True)
    assert failed.status_code == 502
    assert 'id="save-error"' in page
    assert "Checked on the chart just now: nothing was written" in page
    assert f'value="{days(3)}"' in page
    assert '<option value="14" selected>' in page
    assert f'value="{PLAN_ID}"' in page
    fhir.http.remove("POST", ISS)
    fhir.http.post(ISS, json=RESPONSE)
    retried = save(browser, launch_id, start=days(3), interval="14")
    assert retried.status_code == 303
    first, second = fhir.sent_json("POST")
    assert first["entry"][0]["request"] == second["entry"][0]["request"]


def test_a_chart_unreadable_at_save_keeps_the_form_writes_nothing_and_a_retry_saves(
    browser, fhir
) -> None:
    fhir.chart()
    launch_id = sign_in(browser)
    for source in MEDICATION_SOURCES:
        fhir.fail(source, 503)
    failed = save(browser, launch_id, start=days(3), interval="14", acknowledge="yes")
    page = failed.get_data(as_text=True)
    assert failed.status_code == 502
    assert 'id="save-error"' in page
    assert "The plan was not saved" in page
    assert f'value="{days(3)}"' in page
    assert '<option value="14" selected>' in page
    assert f'value="{PLAN_ID}"' in page
    assert fhir.calls("POST") == []
    fhir.chart()
    fhir.http.post(ISS, json=RESPONSE)
    retried = save(browser, launch_id, start=days(3), interval="14")
    assert retried.status_code == 303
    assert len(fhir.sent_json("POST")) == 1


def test_a_timeout_says_the_plan_may_be_saved_and_retrying_is_safe(browser, fhir) -> None:
    fhir.chart()
    fhir.http.post(ISS, body=requests.Timeout("slow"))
    fhir.fail("DocumentReference", 503)  # the read-back fails too: the page cannot say more
    launch_id = sign_in(browser)
    response = save(browser, launch_id)
    page = response.get_data(as_text=True)
    assert response.status_code == 502
    assert "may or may not have been saved" in page
    assert "could not check the chart afterwards" in page
    assert "will not make a second copy" in page


def test_a_half_written_save_says_exactly_what_is_on_the_chart(browser, fhir) -> None:
    fhir.chart()
    fhir.fail("", 500, method="POST")
    read_back(fhir, saved_careplan(PLAN_ID))
    launch_id = sign_in(browser)
    response = save(browser, launch_id, start=days(3))
    page = response.get_data(as_text=True)
    assert response.status_code == 502
    assert "only the care plan was written, not the evidence summary" in page
    assert f'value="{days(3)}"' in page
    searched = [r.params["identifier"] for r in fhir.calls("GET", "DocumentReference")]
    assert searched == [f"{DOCUMENTREFERENCE_IDENTIFIER_SYSTEM}|{PLAN_ID}"]


def test_a_save_whose_answer_was_lost_but_is_on_the_chart_counts_as_saved(browser, fhir) -> None:
    fhir.chart()
    fhir.http.post(ISS, body=requests.ConnectionError("reset"))
    read_back(fhir, saved_careplan(PLAN_ID), document(PLAN_ID))
    launch_id = sign_in(browser)
    response = save(browser, launch_id)
    assert response.status_code == 303
    assert f"plan_id={PLAN_ID}" in response.headers["Location"]


def test_a_transaction_answer_that_is_not_a_transaction_response_is_checked(browser, fhir) -> None:
    fhir.chart()
    fhir.http.post(ISS, json={"resourceType": "Bundle", "type": "searchset"})
    read_back(fhir)
    launch_id = sign_in(browser)
    response = save(browser, launch_id)
    page = response.get_data(as_text=True)
    assert response.status_code == 502
    assert "not a transaction-response" in page
    assert "nothing was written" in page


def test_narrow_scopes_turn_saving_off_and_say_why(browser, fhir) -> None:
    fhir.chart()
    ctx = launch_context(
        granted_scopes=(
            "patient/Patient.r",
            "patient/MedicationStatement.rs",
            "patient/MedicationRequest.rs",
            "patient/Condition.rs",
            "patient/CarePlan.rs",
        )
    )
    launch_id = sign_in(browser, ctx)
    page = browser.get(f"{APP}/plan", query_string={"launch_id": launch_id}).get_data(as_text=True)
    assert 'id="save-disabled"' in page
    assert 'id="save-plan" class="primary" disabled' in page
    assert "permission to create care plans" in page
    assert "patient/DocumentReference.c" in page  # the scope that was asked for, not granted
    refused = save(browser, launch_id)
    assert refused.status_code == 403
    assert not fhir.calls("POST")


def test_without_a_signed_in_clinician_nothing_is_saved(browser, fhir) -> None:
    fhir.chart()
    launch_id = sign_in(browser, launch_context(fhir_user=f"{ISS}/Patient/pat-123"))
    response = save(browser, launch_id)
    assert response.status_code == 403
    assert "fhirUser" in response.get_data(as_text=True)
    assert not fhir.calls("POST")


def test_a_plan_against_the_review_is_saved_as_a_draft_with_the_acknowledgement(
    browser, fhir
) -> None:
    fhir.chart(statements=(statement("s1", "Oxycodone", code="7804"),))
    fhir.http.post(ISS, json=RESPONSE)
    launch_id = sign_in(browser)
    refused = save(browser, launch_id)
    assert refused.status_code == 422
    assert 'id="acknowledge-error"' in refused.get_data(as_text=True)
    assert save(browser, launch_id, acknowledge="yes").status_code == 303
    (bundle,) = fhir.sent_json("POST")
    careplan = bundle["entry"][0]["resource"]
    assert careplan["status"] == "draft"
    assert "confirmed they had reviewed the opioid findings" in careplan["note"][0]["text"]


def test_a_save_without_a_plan_identifier_is_refused(browser, fhir) -> None:
    fhir.chart()
    launch_id = sign_in(browser)
    response = save(browser, launch_id, plan_id="")
    assert response.status_code == 400
    assert "This plan link is not valid" in response.get_data(as_text=True)
    assert not fhir.calls("POST")


def test_saved_plans_are_listed_with_date_target_and_status(browser, fhir) -> None:
    fhir.chart()
    serve_saved_plan(fhir, status="draft")
    launch_id = sign_in(browser)
    page = browser.get(f"{APP}/plans", query_string={"launch_id": launch_id}).get_data(as_text=True)
    assert f'data-plan-id="{PLAN_ID}"' in page
    assert '<td data-label="Target">3 mg</td>' in page
    assert '<td data-label="Status">draft</td>' in page
    (search,) = fhir.calls("GET", "CarePlan")
    assert "patient=pat-123" in search.url


def test_a_failed_search_for_saved_plans_never_says_there_are_none(browser, fhir) -> None:
    fhir.chart()
    fhir.fail("CarePlan", 500)
    launch_id = sign_in(browser)
    page = browser.get(f"{APP}/plans", query_string={"launch_id": launch_id}).get_data(as_text=True)
    assert 'id="saved-plans-error"' in page
    assert 'id="no-saved-plans"' not in page


def test_a_plan_missing_on_the_server_is_a_clear_404(browser, fhir) -> None:
    fhir.chart()
    fhir.http.get(f"{ISS}/CarePlan", json={"resourceType": "Bundle", "type": "searchset"})
    launch_id = sign_in(browser)
    response = browser.get(
        f"{APP}/plan/saved", query_string={"launch_id": launch_id, "plan_id": PLAN_ID}
    )
    assert response.status_code == 404
    assert "The plan was not found on the chart" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "entries",
    ["abc", [], [{"response": {"status": "201 Created"}}], [{"response": {"status": "400"}}] * 2],
)
def test_a_transaction_answer_not_confirming_both_parts_is_read_back(
    browser, fhir, entries
) -> None:
    fhir.chart()
    fhir.http.post(ISS, json={**RESPONSE, "entry": entries})
    read_back(fhir)
    launch_id = sign_in(browser)
    response = save(browser, launch_id, start=days(2))
    page = response.get_data(as_text=True)
    assert response.status_code == 502
    assert "did not confirm each part of the save" in page
    assert "nothing was written" in page
    assert f'value="{days(2)}"' in page


def test_a_save_without_an_answer_and_nothing_on_the_chart_says_it_may_still_come(
    browser, fhir
) -> None:
    fhir.chart()
    fhir.http.post(ISS, body=requests.Timeout("slow"))
    read_back(fhir)
    launch_id = sign_in(browser)
    page = save(browser, launch_id).get_data(as_text=True)
    assert "nothing is there yet" in page
    assert "the EHR may still be saving it" in page
    assert "nothing was written" not in page
