"""Keyboard only: accept a card, override one, edit a plan and save it, without a mouse.

Every step is a key a keyboard user presses (Tab to a control, Enter, arrow keys, typing); the
pages are opened by address only where a clinician would arrive by link from elsewhere.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from sandbox.demo import Demo
from sandbox.patients import expectations
from tests.browser.browser_kit import feedback_rows, saved_for_plan
from tests.browser.keyboard_kit import tab_to
from tests.browser.page_tour import app_frame, key_for_each_status

# Which part of the browser's date field is the day: the field follows the page's locale.
DAY_POSITION = """() => new Intl.DateTimeFormat(undefined, {year: "numeric", month: "2-digit",
    day: "2-digit"}).formatToParts(new Date()).filter(p => p.type !== "literal")
    .findIndex(p => p.type === "day")"""


def order_by_keyboard(page: Page, demo: Demo, key: str) -> None:
    """From the chart, draft LDN 1.5 mg (the first product, chosen already) with the keyboard."""
    page.goto(f"{demo.urls.ehr}patients/{demo.patient_ids[key]}")
    tab_to(page, "Prescribe naltrexone")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Select").wait_for()
    tab_to(page, re.compile("^Select$"))
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Decision support (order-select)").wait_for()


def card_uuid_of(page: Page, decision: str) -> str:
    """Return the uuid of the first card that offers ``decision`` (accept or override)."""
    form = page.locator(f"article.card form[action$='/{decision}']").first
    action = form.get_attribute("action") or ""
    return action.split("/cards/", 1)[1].split("/", 1)[0]


@pytest.mark.browser
def test_accepting_a_card_by_keyboard(page: Page, demo: Demo) -> None:
    order_by_keyboard(page, demo, key_for_each_status(demo)["do-not-start"])
    uuid = card_uuid_of(page, "accept")
    tab_to(page, re.compile("^Accept: "))
    page.keyboard.press("Enter")

    page.get_by_text("No orders left: the draft was removed.").wait_for()
    assert page.locator("article.card .decided").first.inner_text() == "Accepted."
    (row,) = feedback_rows(demo, uuid)
    assert row["outcome"] == "accepted"


@pytest.mark.browser
def test_overriding_a_card_by_keyboard(page: Page, demo: Demo) -> None:
    order_by_keyboard(page, demo, key_for_each_status(demo)["wait-until"])
    tab_to(page, re.compile("^Sign$"))
    page.keyboard.press("Enter")
    page.get_by_text("Signing is on hold: accept or override each card below.").wait_for()
    uuid = card_uuid_of(page, "override")

    reason = page.locator("article.card.critical select[name=reason]").first
    comment_box = page.locator("article.card.critical textarea[name=comment]").first
    tab_to(page, field=reason.get_attribute("id"))
    page.keyboard.press("ArrowDown")  # the first reason
    code = reason.input_value()
    assert code
    tab_to(page, field=comment_box.get_attribute("id"))
    comment = "Confirmed by phone: last dose three weeks ago."
    page.keyboard.type(comment)
    tab_to(page, re.compile("^Override$"))
    page.keyboard.press("Enter")

    page.get_by_text("The order is signed").wait_for()
    (row,) = feedback_rows(demo, uuid)
    assert (row["outcome"], row["override_code"], row["user_comment"]) == (
        "overridden",
        code,
        comment,
    )


@pytest.mark.browser
def test_editing_and_saving_a_plan_by_keyboard_in_the_ehr_frame(page: Page, demo: Demo) -> None:
    # A safe-to-start patient of its own: a plan saved here must not be the plan in effect that
    # another test's editor opens on (test_plan_save uses the first safe-to-start patient).
    key = [k for k, e in expectations(demo.today).items() if e.status == "safe-to-start"][-1]
    page.goto(f"{demo.urls.ehr}patients/{demo.patient_ids[key]}/app")
    page.frame_locator("iframe.app").locator("#naltrexone-status").wait_for()
    tab_to(page, "Plan the titration")
    page.keyboard.press("Enter")
    app = app_frame(page, demo)
    app.locator("#plan-form").wait_for()
    start = date.fromisoformat(app.locator("#start").input_value())
    plan_id = app.locator("#plan-id").input_value()

    # The start date one day later: arrow keys on the date field's day part.
    tab_to(page, field="start")
    for _ in range(app.evaluate(DAY_POSITION)):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowUp")
    last_day = calendar.monthrange(start.year, start.month)[1]
    later = start.replace(day=start.day % last_day + 1)
    assert app.locator("#start").input_value() == later.isoformat()
    tab_to(page, field="interval")
    page.keyboard.press("ArrowDown")  # 14 days
    tab_to(page, field="target")
    page.keyboard.press("ArrowUp")  # 3 mg, one below the 4.5 mg default
    tab_to(page, "Update the plan")
    page.keyboard.press("Enter")
    expect(app.locator("#step-table tr.step-row")).to_have_count(2)
    assert app.locator("#step-table td").all_inner_texts() == [
        "1.5 mg",
        later.isoformat(),
        (later + timedelta(days=13)).isoformat(),
        "3 mg",
        (later + timedelta(days=14)).isoformat(),
        "ongoing (maintenance)",
    ]

    tab_to(page, "Save to chart")
    page.keyboard.press("Enter")
    app.locator("#save-success").wait_for()
    assert app.locator("#saved-plan .saved-target").inner_text() == "3 mg"
    assert app.locator("#saved-plan .saved-start").inner_text() == later.isoformat()
    careplans, documents = saved_for_plan(demo, plan_id)
    assert (len(careplans), len(documents)) == (1, 1)
