"""What an action changed is announced: focus moves to the result, which sits in a live region.

Every action here loads a new page (a form post), so a live region alone would not be read out:
focus goes to the message itself (the EHR by ``autofocus``; the app by ``autofocus`` and, inside
the EHR's cross-origin frame where browsers ignore it, by its ``focus.js``). A screen reader
reads the focused message; a keyboard user goes on from there.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Frame, Page

from sandbox.demo import Demo
from tests.browser.browser_kit import careplan_writes_fail, open_order_page
from tests.browser.keyboard_kit import focused
from tests.browser.page_tour import (
    app_url,
    key_for_each_status,
    keys_with_status,
    open_framed_app,
    sign_in_standalone,
)


def focus_lands_on(page: Page, document: Page | Frame, element_id: str) -> dict[str, Any]:
    """Wait until focus is on ``#element_id`` in ``document``; return the focused element."""
    document.wait_for_function(
        "id => document.hasFocus() && document.activeElement?.id === id", arg=element_id
    )
    stop = focused(page)
    assert stop is not None
    return stop


@pytest.mark.browser
def test_the_cards_and_each_card_outcome_are_announced(page: Page, demo: Demo) -> None:
    open_order_page(page, demo, key_for_each_status(demo)["do-not-start"])
    cards = focus_lands_on(page, page, "cards")
    assert cards["text"] == "Decision support (order-select)"

    page.get_by_role("button", name=re.compile("^Accept: ")).first.click()
    accepted = focus_lands_on(page, page, "order-outcome")
    assert accepted["live"] == "polite"
    assert "Accepted: Remove the naltrexone order." in accepted["text"]

    open_order_page(page, demo, key_for_each_status(demo)["wait-until"])
    page.get_by_role("button", name="Sign").click()
    held = focus_lands_on(page, page, "order-outcome")
    assert "Signing is on hold: accept or override each card below." in held["text"]
    card = page.locator("article.card.critical").first
    card.get_by_label("Reason").select_option(index=1)
    card.get_by_role("button", name="Override").click()
    page.get_by_text("The order is signed").wait_for()
    signed = focus_lands_on(page, page, "order-outcome")
    assert signed["live"] == "polite"
    assert "The order is signed" in signed["text"]
    assert "Overridden: " in signed["text"]


@pytest.mark.browser
def test_each_save_result_is_announced_inside_the_ehr_frame(page: Page, demo: Demo) -> None:
    app = open_framed_app(page, demo, key_for_each_status(demo)["safe-to-start"])
    app.goto(app_url(app, demo, "/plan"))
    app.locator("#start").fill("")
    app.locator("#update-plan").click()
    errors = focus_lands_on(page, app, "form-errors")
    assert errors["live"] == "alert"
    assert "Enter the start date." in errors["text"]

    app.goto(app_url(app, demo, "/plan"))
    with careplan_writes_fail(demo):
        app.locator("#save-plan").click()
        failed = focus_lands_on(page, app, "save-error")
    assert failed["live"] == "alert"
    assert "The plan was not saved" in failed["text"]

    app.locator("#save-plan").click()
    saved = focus_lands_on(page, app, "save-success")
    assert saved["live"] == "status"
    assert "The plan is on the chart" in saved["text"]


@pytest.mark.browser
def test_the_save_result_is_announced_standalone(page: Page, demo: Demo) -> None:
    sign_in_standalone(page, demo, keys_with_status(demo, "safe-to-start")[0], lambda d, w: [])
    page.goto(app_url(page, demo, "/plan"))
    page.locator("#save-plan").click()
    saved = focus_lands_on(page, page, "save-success")
    assert saved["live"] == "status"
    assert "The plan is on the chart" in saved["text"]
