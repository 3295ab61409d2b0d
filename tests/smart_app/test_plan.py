"""The titration plan form: defaults, validation that keeps what was entered, the editor page."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from clinical.assessment import AssessmentStatus, assess_naltrexone_order, decide
from clinical.exposure import ExposureReview
from clinical.opioids import OpioidKnowledge
from clinical.titration import TitrationProtocol
from smart_app.plan import (
    check_plan,
    days_to_show,
    form_from,
    is_plan_id,
    new_form,
    requires_acknowledgement,
)
from tests.clinical.medication_builders import coded, record
from tests.smart_app.pages_testkit import (
    APP,
    CSRF,
    FakeFhir,
    days,
    sign_in,
    statement,
)

TODAY = date(2026, 3, 16)
PROTOCOL = TitrationProtocol.load()
PLAN_ID = "0b7a3c1e-5d4f-4a8b-9c2d-1e3f5a7b9c0d"


def assessment(*, unchecked: tuple[str, ...] = ()):
    """A review that found nothing (safe), or could not check something (uncertain)."""
    return decide(None, ExposureReview((), (), (), 0), TODAY, unchecked=unchecked)


def values(**overrides: str) -> dict[str, str]:
    return {
        "start": "2026-03-20",
        "interval": "7",
        "target": "4.5",
        "plan_id": PLAN_ID,
        **overrides,
    }


@pytest.fixture
def browser(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def fhir(http) -> FakeFhir:
    return FakeFhir(http)


def test_a_new_form_starts_today_when_safe_with_the_protocol_defaults() -> None:
    form = new_form(assessment(), PROTOCOL, TODAY)
    assert (form.start, form.interval, form.target) == ("2026-03-16", "7", "4.5")
    assert is_plan_id(form.plan_id)
    assert new_form(assessment(), PROTOCOL, TODAY).plan_id != form.plan_id


def test_a_valid_form_becomes_a_dated_schedule() -> None:
    check = check_plan(form_from(values(interval="14")), assessment(), PROTOCOL, TODAY)
    assert check.errors == {}
    assert check.choice is not None
    steps = check.choice.schedule.steps
    assert [str(step.dose_mg) for step in steps] == ["1.5", "3.0", "4.5"]
    assert [step.first_day for step in steps] == [
        date(2026, 3, 20),
        date(2026, 4, 3),
        date(2026, 4, 17),
    ]
    assert days_to_show(check.choice.schedule) == 28 + 7


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("start", "", "Enter the start date."),
        ("start", "20/03/2026", "Enter the start date as a calendar date (YYYY-MM-DD)."),
        ("start", "2026-03-15", "The start date cannot be in the past (today is 2026-03-16)."),
        ("start", "9999-12-31", "The start date must be within a year from today."),
        ("interval", "10", "Choose a step of 7 or 14 days."),
        ("target", "6", "Choose a target of 1.5, 3 or 4.5 mg."),
        ("target", "<b>", "Choose a target of 1.5, 3 or 4.5 mg."),
    ],
)
def test_each_bad_value_gets_its_own_message_and_is_kept(field, value, message) -> None:
    form = form_from(values(**{field: value}))
    check = check_plan(form, assessment(), PROTOCOL, TODAY)
    assert check.errors == {field: message}
    assert check.choice is None
    assert getattr(check.form, field) == value


def test_an_uncertain_review_needs_an_explicit_acknowledgement() -> None:
    uncertain = assessment(unchecked=("MedicationRequest: server error",))
    assert uncertain.status is AssessmentStatus.UNCERTAIN
    refused = check_plan(form_from(values()), uncertain, PROTOCOL, TODAY)
    assert set(refused.errors) == {"acknowledge"}
    assert refused.schedule is not None  # the chart still previews the plan
    accepted = check_plan(form_from(values(acknowledge="yes")), uncertain, PROTOCOL, TODAY)
    assert accepted.choice is not None
    assert accepted.choice.acknowledged


def test_starting_before_the_earliest_safe_start_needs_an_acknowledgement() -> None:
    ended = record(coded("7804", "oxycodone"), "completed", ended=TODAY - timedelta(days=3))
    wait = assess_naltrexone_order(None, [ended], OpioidKnowledge.load(), TODAY)
    assert wait.status is AssessmentStatus.WAIT_UNTIL
    assert not requires_acknowledgement(wait, wait.earliest_start)
    assert requires_acknowledgement(wait, TODAY + timedelta(days=1))
    assert new_form(wait, PROTOCOL, TODAY).start == wait.earliest_start.isoformat()


def test_a_damaged_plan_id_is_replaced_not_trusted() -> None:
    form = form_from(values(plan_id="not-a-uuid"))
    assert is_plan_id(form.plan_id)
    assert form.plan_id != "not-a-uuid"
    assert not is_plan_id(PLAN_ID.upper())


def test_the_editor_defaults_to_the_earliest_safe_start(browser, fhir) -> None:
    ended = statement("s1", "Oxycodone", code="7804", status="completed", end=days(-3))
    fhir.chart(statements=(ended,))
    launch_id = sign_in(browser)
    page = browser.get(f"{APP}/plan", query_string={"launch_id": launch_id}).get_data(as_text=True)
    assert f'id="start" name="start" value="{days(7)}"' in page
    assert 'id="plan-id" name="plan_id" value="' in page
    assert 'id="acknowledge"' not in page
    assert 'id="form-errors"' not in page
    # 4.5 mg in 7-day steps: maintenance from day 15, shown for a week.
    assert page.count('class="dose-point"') == 14 + 7


def test_an_active_opioid_warns_and_asks_for_acknowledgement(browser, fhir) -> None:
    fhir.chart(statements=(statement("s1", "Oxycodone", code="7804"),))
    launch_id = sign_in(browser)
    page = browser.get(f"{APP}/plan", query_string={"launch_id": launch_id}).get_data(as_text=True)
    assert 'id="plan-warning"' in page
    assert 'id="acknowledge"' in page
    assert 'id="acknowledge-error"' not in page  # nothing entered yet: no error shown
    assert 'id="handout-link"' not in page


def test_validation_errors_are_shown_inline_and_keep_the_values(browser, fhir) -> None:
    fhir.chart()
    launch_id = sign_in(browser)
    response = browser.post(
        f"{APP}/plan?launch_id={launch_id}",
        data={**values(start="2026-02-30", interval="14", target="3"), "csrf_token": CSRF},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="start-error"' in page
    assert 'value="2026-02-30"' in page
    assert '<option value="14" selected>' in page
    assert '<option value="3" selected>' in page
    assert f'value="{PLAN_ID}"' in page


def test_an_updated_plan_redraws_the_chart_and_table(browser, fhir) -> None:
    fhir.chart()
    launch_id = sign_in(browser)
    response = browser.post(
        f"{APP}/plan?launch_id={launch_id}",
        data={**values(start=days(2), interval="14", target="3"), "csrf_token": CSRF},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.count('class="dose-point"') == 14 + 7
    assert page.count('class="dose-row"') == 14 + 7
    assert page.count('class="step-row"') == 2
    assert 'id="handout-link"' in page
