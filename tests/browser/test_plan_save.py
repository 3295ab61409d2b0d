"""Editing the titration plan, saving it to the chart once, and what the chart then holds."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from playwright.sync_api import FrameLocator, Page, expect

from fhir_profiles.validation import validate
from sandbox.demo import Demo
from tests.browser.browser_kit import careplan_writes_fail, open_app_in_ehr, saved_for_plan

KEY = "fibromyalgia-no-opioids"
FAILED_SAVE_KEY = "aud-naltrexone"
# Post the given fields to the given action from the app's own page, as a form would.
SUBMIT_AGAIN = """(body, [action, fields]) => {
    const form = document.createElement("form");
    form.method = "post";
    form.action = action;
    for (const [name, value] of fields) {
        const input = document.createElement("input");
        input.type = "hidden";
        input.name = name;
        input.value = value;
        form.append(input);
    }
    body.append(form);
    form.submit();
}"""


def step_rows(app: FrameLocator) -> list[list[str]]:
    """Return the dose-step table as the clinician reads it: dose, from, to."""
    rows = app.locator("#step-table tr.step-row")
    return [rows.nth(n).locator("td").all_inner_texts() for n in range(rows.count())]


def dose_points(app: FrameLocator) -> list[str]:
    """Return the nightly dose of every point on the chart."""
    points = app.locator("#dose-chart circle.dose-point")
    return [points.nth(n).get_attribute("data-dose") or "" for n in range(points.count())]


@pytest.mark.browser
def test_a_plan_edited_to_14_days_and_3_mg_is_saved_once_and_reads_back(
    page: Page, demo: Demo, caplog: pytest.LogCaptureFixture
) -> None:
    app = open_app_in_ehr(page, demo, KEY)
    app.locator("#go-plan").click()
    app.locator("#plan-form").wait_for()
    start = date.fromisoformat(app.locator("#start").input_value())
    plan_id = app.locator("#plan-id").input_value()
    assert set(dose_points(app)) == {"1.5 mg", "3 mg", "4.5 mg"}  # the protocol's defaults

    app.locator("#interval").select_option("14")
    app.get_by_label("Target nightly dose").select_option(label="3 mg")
    app.locator("#update-plan").click()

    # The redrawn plan: 1.5 mg for two weeks, then 3 mg from day 15 on; never 4.5 mg.
    expect(app.locator("#step-table tr.step-row")).to_have_count(2)
    assert step_rows(app) == [
        ["1.5 mg", start.isoformat(), (start + timedelta(days=13)).isoformat()],
        ["3 mg", (start + timedelta(days=14)).isoformat(), "ongoing (maintenance)"],
    ]
    assert set(dose_points(app)) == {"1.5 mg", "3 mg"}
    assert app.locator("#interval").input_value() == "14"
    assert app.locator("#plan-id").input_value() == plan_id

    # Save clicked twice in a row, then the same form sent once more (a late duplicate, as
    # from a second tab or a resubmitted page): every submission is saved, none is a copy.
    fields = app.locator("#plan-form").evaluate("form => [...new FormData(form)]")
    action = app.locator("#save-plan").get_attribute("formaction")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    app.locator("#save-plan").dblclick()
    app.locator("#save-success").wait_for()
    with page.expect_response(lambda r: r.url.startswith(f"{demo.urls.product}/plan/saved")):
        app.locator("body").evaluate(SUBMIT_AGAIN, [action, fields])
    app.locator("#save-success").wait_for()

    saved = app.locator("#saved-plan")
    assert saved.get_attribute("data-plan-id") == plan_id
    assert saved.locator(".saved-target").inner_text() == "3 mg"
    assert saved.locator(".saved-start").inner_text() == start.isoformat()
    assert saved.locator(".saved-status").inner_text() == "active"
    assert "3 mg" in app.locator("#saved-steps").inner_text()
    saves = [url for url in posts if url.startswith(f"{demo.urls.product}/plan/save?")]
    events = [getattr(record, "event", None) for record in caplog.records]
    assert len(saves) >= 2
    assert events.count("smart_plan_saved") == len(saves)

    (careplan,), (document,) = saved_for_plan(demo, plan_id)
    for resource in (careplan, document):
        report = validate(resource)
        assert report.valid, report.summary()
    assert careplan["subject"]["reference"] == f"Patient/{demo.patient_ids[KEY]}"
    assert document["context"]["related"][0]["reference"] == f"CarePlan/{careplan['id']}"


@pytest.mark.browser
def test_a_save_the_fhir_server_fails_keeps_the_form_and_a_retry_saves_once(
    page: Page, demo: Demo
) -> None:
    app = open_app_in_ehr(page, demo, FAILED_SAVE_KEY)
    app.locator("#go-plan").click()
    start = date.fromisoformat(app.locator("#start").input_value()) + timedelta(days=3)
    plan_id = app.locator("#plan-id").input_value()
    app.get_by_label("Start date").fill(start.isoformat())
    app.get_by_label("Raise the dose every").select_option(label="14 days")
    app.get_by_label("Target nightly dose").select_option(label="1.5 mg")

    with careplan_writes_fail(demo):
        app.locator("#save-plan").click()
        error = app.locator("#save-error")
        error.wait_for()
        assert "The plan was not saved" in error.inner_text()
        assert "HTTP 500" in error.inner_text()
        assert saved_for_plan(demo, plan_id) == ([], [])  # neither: saved together or not at all

    # Every entry is still there, and the same plan is retried.
    assert app.locator("#start").input_value() == start.isoformat()
    assert app.locator("#interval").input_value() == "14"
    assert (
        app.get_by_label("Target nightly dose").locator("option:checked").inner_text() == "1.5 mg"
    )
    assert app.locator("#plan-id").input_value() == plan_id

    app.locator("#save-plan").click()
    app.locator("#save-success").wait_for()
    assert app.locator("#saved-plan .saved-start").inner_text() == start.isoformat()
    assert app.locator("#saved-plan .saved-target").inner_text() == "1.5 mg"
    careplans, documents = saved_for_plan(demo, plan_id)
    assert (len(careplans), len(documents)) == (1, 1)
