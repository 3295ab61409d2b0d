"""A new plan revises the plan in effect: the editor opens on it, saving replaces and ends it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from clinical.assessment import decide
from clinical.exposure import ExposureReview
from clinical.titration import TitrationProtocol, build_schedule
from fhir_profiles.careplan import build_careplan
from fhir_profiles.identifiers import AuthorReference
from tests.smart_app.pages_testkit import (
    APP,
    CSRF,
    ISS,
    FakeFhir,
    days,
    launch_context,
    sign_in,
    today,
)

OLD_PLAN = "11111111-2222-4333-8444-555555555555"
NEW_PLAN = "0b7a3c1e-5d4f-4a8b-9c2d-1e3f5a7b9c0d"
PROTOCOL = TitrationProtocol.load()
RESPONSE = {
    "resourceType": "Bundle",
    "type": "transaction-response",
    "entry": [
        {"response": {"status": "201 Created", "location": "CarePlan/cp-2/_history/1"}},
        {"response": {"status": "201 Created", "location": "DocumentReference/d-2/_history/1"}},
        {"response": {"status": "200 OK", "location": "CarePlan/cp-1/_history/2"}},
    ],
}


@pytest.fixture
def browser(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def fhir(http) -> FakeFhir:
    return FakeFhir(http)


def stored_plan(
    plan_id: str = OLD_PLAN, *, ident: str = "cp-1", interval: int = 14, target: str = "3"
) -> dict[str, Any]:
    """Return a plan as the app saved it and the server stores it (id, version)."""
    schedule = build_schedule(
        today() + timedelta(days=2), interval_days=interval, target_mg=target, protocol=PROTOCOL
    )
    resource = build_careplan(
        patient_id="pat-123",
        schedule=schedule,
        assessment=decide(None, ExposureReview((), (), (), 0), today()),
        author=AuthorReference("Practitioner/practitioner-1"),
        plan_identifier=plan_id,
        created=datetime(2026, 12, 3, 6, 38, 45, 303882, tzinfo=UTC),
    )
    return {**resource, "id": ident, "meta": {**resource["meta"], "versionId": "1"}}


def save(browser: FlaskClient, launch_id: str, revises: str = ""):
    values = {
        "start": days(3),
        "interval": "7",
        "target": "4.5",
        "plan_id": NEW_PLAN,
        "revises": revises,
        "csrf_token": CSRF,
    }
    return browser.post(f"{APP}/plan/save?launch_id={launch_id}", data=values)


def test_the_editor_opens_on_the_plan_in_effect_and_says_saving_replaces_it(browser, fhir) -> None:
    fhir.chart(careplans=(stored_plan(),))
    launch_id = sign_in(browser)
    page = browser.get(f"{APP}/plan", query_string={"launch_id": launch_id}).get_data(as_text=True)
    assert 'id="plan-revises"' in page
    assert "This patient already has an LDN plan in effect" in page
    assert "Saving a plan replaces it" in page
    assert '<option value="14" selected>' in page
    assert '<option value="3" selected>' in page
    assert f'value="{(today() + timedelta(days=2)).isoformat()}"' in page  # its start
    assert f'name="revises" value="{OLD_PLAN}"' in page
    # Saved times are shown as a time, not as the raw FHIR instant.
    assert '<time class="local-time" datetime="2026-12-03T06:38:45.303882' in page
    assert "2026-12-03 06:38 UTC</time>" in page


def test_without_a_plan_in_effect_the_editor_has_the_protocol_defaults(browser, fhir) -> None:
    ended = {**stored_plan(), "status": "revoked"}
    fhir.chart(careplans=(ended,))
    launch_id = sign_in(browser)
    page = browser.get(f"{APP}/plan", query_string={"launch_id": launch_id}).get_data(as_text=True)
    assert 'id="plan-revises"' not in page
    assert '<option value="7" selected>' in page
    assert '<option value="4.5" selected>' in page
    assert 'name="revises" value=""' in page


def test_saving_replaces_the_plan_in_effect_and_ends_it_in_the_same_transaction(
    browser, fhir
) -> None:
    fhir.chart(careplans=(stored_plan(),))
    fhir.http.post(ISS, json=RESPONSE)
    launch_id = sign_in(browser)
    response = save(browser, launch_id, revises=OLD_PLAN)
    assert response.status_code == 303
    (bundle,) = fhir.sent_json("POST")
    assert [(e["request"]["method"], e["request"]["url"]) for e in bundle["entry"]] == [
        ("POST", "CarePlan"),
        ("POST", "DocumentReference"),
        ("PUT", "CarePlan/cp-1"),
    ]
    new, _, old = (entry["resource"] for entry in bundle["entry"])
    assert new["replaces"] == [{"reference": "CarePlan/cp-1"}]
    assert new["status"] == "active"
    assert old["status"] == "revoked"
    assert old["id"] == "cp-1"
    assert "versionId" not in old.get("meta", {})
    assert {a["detail"]["status"] for a in old["activity"]} == {"cancelled"}
    assert old["identifier"] == stored_plan()["identifier"]  # otherwise as stored


def test_a_plan_saved_meanwhile_elsewhere_is_named_first_and_nothing_is_written(
    browser, fhir
) -> None:
    fhir.chart(careplans=(stored_plan(),))
    fhir.http.post(ISS, json=RESPONSE)
    launch_id = sign_in(browser)
    response = save(browser, launch_id, revises="")  # the form was opened before it was saved
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert not fhir.calls("POST")
    assert "Not saved: another LDN plan came into effect" in page
    assert f'data-plan-id="{OLD_PLAN}"' in page
    assert f'name="revises" value="{OLD_PLAN}"' in page  # the next save replaces it, knowingly
    assert f'value="{NEW_PLAN}"' in page  # the entries are kept
    assert f'value="{days(3)}"' in page

    assert save(browser, launch_id, revises=OLD_PLAN).status_code == 303
    (bundle,) = fhir.sent_json("POST")
    assert bundle["entry"][0]["resource"]["replaces"] == [{"reference": "CarePlan/cp-1"}]


def test_a_retry_of_a_save_that_went_through_does_not_replace_itself(browser, fhir) -> None:
    fhir.chart(careplans=(stored_plan(NEW_PLAN, ident="cp-2"),))
    # Nothing to end: the server answers the two creates only (found by conditional create).
    two = [{"response": {**e["response"], "status": "200 OK"}} for e in RESPONSE["entry"][:2]]
    fhir.http.post(ISS, json={**RESPONSE, "entry": two})
    launch_id = sign_in(browser)
    assert save(browser, launch_id).status_code == 303
    (bundle,) = fhir.sent_json("POST")
    assert len(bundle["entry"]) == 2
    assert "replaces" not in bundle["entry"][0]["resource"]


def test_when_the_saved_plans_cannot_be_read_nothing_is_saved(browser, fhir) -> None:
    fhir.chart()
    fhir.fail("CarePlan", 500)
    launch_id = sign_in(browser)
    response = save(browser, launch_id)
    page = response.get_data(as_text=True)
    assert response.status_code == 502
    assert not fhir.calls("POST")
    assert "The LDN plans already on the chart could not be read" in page
    assert f'value="{NEW_PLAN}"' in page


def test_each_saved_plan_prints_its_own_handout(browser, fhir) -> None:
    fhir.chart(careplans=(stored_plan(),))
    launch_id = sign_in(browser)
    response = browser.get(
        f"{APP}/plan/saved/handout", query_string={"launch_id": launch_id, "plan_id": OLD_PLAN}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "every 14 days" in page
    assert "until you reach 3 mg" in page
    assert "4.5 mg" not in page
    start = today() + timedelta(days=2)
    assert f'<strong id="handout-start">{start.isoformat()}</strong>' in page


def test_a_saved_plan_whose_steps_are_not_the_protocols_prints_no_handout(browser, fhir) -> None:
    damaged = stored_plan()
    damaged["activity"][1]["detail"]["dailyAmount"]["value"] = 2.25
    fhir.chart(careplans=(damaged,))
    launch_id = sign_in(browser)
    response = browser.get(
        f"{APP}/plan/saved/handout", query_string={"launch_id": launch_id, "plan_id": OLD_PLAN}
    )
    assert response.status_code == 422
    assert "No handout can be printed for this plan" in response.get_data(as_text=True)


def test_the_utc_time_reads_any_fhir_instant() -> None:
    from smart_app.times import utc_text

    assert utc_text("2026-12-03T06:38:45.303882Z") == "2026-12-03 06:38 UTC"
    assert utc_text("2026-12-03T08:38:45+02:00") == "2026-12-03 06:38 UTC"
    assert utc_text("2026-12-03") == "2026-12-03"
    assert utc_text("garbage") == "garbage"
    assert utc_text(None) == "unknown"
    assert date.fromisoformat("2026-12-03")  # a date alone stays as written


def test_without_access_to_search_care_plans_saving_is_turned_off(browser, fhir) -> None:
    fhir.chart()
    granted = tuple(
        s for s in launch_context().granted_scopes if not s.startswith("patient/CarePlan")
    )
    launch_id = sign_in(browser, launch_context(granted_scopes=(*granted, "patient/CarePlan.c")))
    page = browser.get(f"{APP}/plan", query_string={"launch_id": launch_id}).get_data(as_text=True)
    assert 'id="save-plan" class="primary" disabled' in page
    assert "could not replace the one already in effect" in page
    assert save(browser, launch_id).status_code == 403
    assert not fhir.calls("POST")
