"""Editing the titration plan, saving it to the chart once, and what the chart then holds."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from playwright.sync_api import Browser, BrowserContext, FrameLocator, Page, expect

from fhir_profiles.validation import validate
from sandbox.demo import Demo
from tests.browser.browser_kit import (
    WAIT_MS,
    careplan_writes_fail,
    open_app_in_ehr,
    saved_for_plan,
    upstream,
)

KEY = "fibromyalgia-no-opioids"
FAILED_SAVE_KEY = "aud-naltrexone"
HANDOUT_KEY = "hydrocodone-stopped"
TWO_LAUNCHES_KEY = "liver-disease"
LOCAL_TIME_KEY = "codeine-syrup-text"
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


@pytest.mark.browser
def test_the_handout_printed_after_saving_a_14_day_3_mg_plan_says_14_days_and_3_mg(
    page: Page, demo: Demo
) -> None:
    app = open_app_in_ehr(page, demo, HANDOUT_KEY)
    app.locator("#go-plan").click()
    app.get_by_label("Raise the dose every").select_option(label="14 days")
    app.get_by_label("Target nightly dose").select_option(label="3 mg")
    app.locator("#save-plan").click()
    app.locator("#save-success").wait_for()

    # The saved plan's own handout.
    app.locator("#saved-handout-link").click()
    handout = app.locator("#handout")
    handout.wait_for()
    text = handout.inner_text()
    assert "every 14 days (2 weeks), until you reach 3 mg" in text
    assert "4.5 mg" not in text
    assert "every 7 days" not in text

    # The plan tab now opens on the plan in effect, and its handout says the same.
    app.locator("#nav-plan").click()
    app.locator("#plan-revises").wait_for()
    assert app.locator("#interval").input_value() == "14"
    assert app.locator("#target").input_value() == "3"
    app.locator("#handout-link").click()
    text = app.locator("#handout").inner_text()
    assert "every 14 days (2 weeks), until you reach 3 mg" in text
    assert "4.5 mg" not in text


@pytest.mark.browser
def test_two_saves_from_two_launches_leave_one_plan_in_effect(
    context: BrowserContext, page: Page, demo: Demo
) -> None:
    first = open_app_in_ehr(page, demo, TWO_LAUNCHES_KEY)
    second_page = context.new_page()
    second = open_app_in_ehr(second_page, demo, TWO_LAUNCHES_KEY)
    for app in (first, second):  # both forms are open before either is saved
        app.locator("#go-plan").click()
        app.locator("#plan-form").wait_for()
    first_id = first.locator("#plan-id").input_value()
    second_id = second.locator("#plan-id").input_value()

    first.locator("#save-plan").click()
    first.locator("#save-success").wait_for()

    # The second launch did not know: it is told, and nothing is written yet.
    second.get_by_label("Target nightly dose").select_option(label="3 mg")
    second.locator("#save-plan").click()
    notice = second.locator("#plan-revise-confirm")
    notice.wait_for()
    assert "another LDN plan came into effect" in notice.inner_text()
    assert notice.locator(f"[data-plan-id='{first_id}']").count() == 1
    assert saved_for_plan(demo, second_id) == ([], [])
    assert second.locator("#target").input_value() == "3"  # the entry is kept

    second.locator("#save-plan").click()
    second.locator("#save-success").wait_for()
    assert "replaces the plan in effect" in second.locator("#saved-replaces").inner_text()

    patient = demo.patient_ids[TWO_LAUNCHES_KEY]
    plans = upstream(demo).search("CarePlan", {"patient": patient})
    in_effect = [p for p in plans if p["status"] in ("active", "draft", "on-hold")]
    (current,) = in_effect
    (old,) = [p for p in plans if p["id"] != current["id"]]
    assert current["identifier"][0]["value"] == second_id
    assert current["replaces"] == [{"reference": f"CarePlan/{old['id']}"}]
    assert old["identifier"][0]["value"] == first_id
    assert old["status"] == "revoked"
    for resource in (current, old):
        report = validate(resource)
        assert report.valid, report.summary()


@pytest.mark.browser
def test_saved_times_show_in_the_clinicians_own_time_zone(browser: Browser, demo: Demo) -> None:
    context = browser.new_context(timezone_id="America/New_York")
    context.set_default_timeout(WAIT_MS)
    try:
        app = open_app_in_ehr(context.new_page(), demo, LOCAL_TIME_KEY)
        app.locator("#go-plan").click()
        app.locator("#save-plan").click()
        saved = app.locator("#saved-plan .saved-created time")
        # The page shows the instant in UTC until its script, run once the page is parsed,
        # rewrites it in the browser's zone: New York's in December.
        expect(saved).to_contain_text("EST")
        instant = saved.get_attribute("datetime") or ""
        shown = saved.inner_text()
        assert instant.endswith(("Z", "+00:00"))  # the chart's instant, in UTC
        assert "UTC" not in shown
        assert instant not in shown
    finally:
        context.close()
