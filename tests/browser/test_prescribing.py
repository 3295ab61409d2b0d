"""Prescribing LDN in the EHR: the cards, accepting the suggestion, overriding with a reason."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page

from sandbox.demo import Demo
from tests.browser.browser_kit import feedback_rows, open_order_page


def card_uuid(card: Locator, decision: str) -> str:
    """Return the uuid of the card behind an Accept or Override form."""
    action = card.locator(f"form[action$='/{decision}']").first.get_attribute("action") or ""
    return action.split("/cards/", 1)[1].split("/", 1)[0]


@pytest.mark.browser
def test_the_critical_card_for_an_active_opioid_and_accepting_its_suggestion(
    page: Page, demo: Demo
) -> None:
    open_order_page(page, demo, "oxycodone-active")
    card = page.locator("article.card").first
    assert card.get_attribute("class") == "card critical"
    assert card.locator(".indicator").inner_text().lower() == "critical"
    summary = card.locator(".summary").inner_text()
    assert summary.startswith("Do not start low-dose naltrexone")
    assert "oxycodone" in summary
    # The detail's Markdown is rendered: bold text and one short block per opioid, no raw syntax.
    detail = card.locator(".detail")
    assert "withdrawal" in detail.locator("strong").first.inner_text()
    assert "oxycodone" in detail.locator("strong").nth(1).inner_text().lower()
    assert "Taking now" in detail.locator("li").first.inner_text()
    assert detail.locator("table").count() == 0
    assert "**" not in detail.inner_text()

    uuid = card_uuid(card, "accept")
    suggestion = card.locator("input[name=suggestion]").first.get_attribute("value")
    card.get_by_role("button", name="Accept: Remove the naltrexone order").click()

    page.get_by_text("No orders left: the draft was removed.").wait_for()
    assert page.get_by_role("button", name="Sign").count() == 0
    assert page.locator("article.card .decided").first.inner_text() == "Accepted."
    (row,) = feedback_rows(demo, uuid)
    assert row["outcome"] == "accepted"
    assert row["accepted_suggestions"] == [suggestion]


@pytest.mark.browser
def test_no_opioid_gives_an_info_card_and_the_order_signs(page: Page, demo: Demo) -> None:
    open_order_page(page, demo, "fibromyalgia-no-opioids")
    cards = page.locator("article.card")
    assert cards.count() == 1
    assert cards.first.get_attribute("class") == "card info"
    assert cards.first.locator(".summary").inner_text() == (
        "No opioid found before low-dose naltrexone 1.5 mg in the records checked."
    )
    assert cards.first.locator("form").count() == 0  # nothing to accept or override

    page.get_by_role("button", name="Sign").click()
    page.get_by_text("The order is signed").wait_for()


@pytest.mark.browser
def test_overriding_a_critical_card_with_a_reason_and_comment_stores_the_feedback(
    page: Page, demo: Demo
) -> None:
    open_order_page(page, demo, "hydrocodone-stopped")
    page.get_by_role("button", name="Sign").click()
    page.get_by_text("Signing is on hold: accept or override each card below.").wait_for()

    card = page.locator("article.card.critical").first
    uuid = card_uuid(card, "override")
    reason = card.get_by_label("Reason")
    reason.select_option(index=1)
    code = reason.input_value()
    comment = "Patient confirms the last hydrocodone dose was three weeks ago."
    card.get_by_label("Comment (optional)").fill(comment)
    card.get_by_role("button", name="Override").click()

    page.get_by_text("The order is signed").wait_for()
    (row,) = feedback_rows(demo, uuid)
    assert (row["outcome"], row["override_code"], row["user_comment"]) == (
        "overridden",
        code,
        comment,
    )


@pytest.mark.browser
def test_an_override_at_select_gives_a_reminder_not_a_second_card_at_sign(
    page: Page, demo: Demo
) -> None:
    open_order_page(page, demo, "oxycodone-active")
    card = page.locator("article.card.critical").first
    uuid = card_uuid(card, "override")
    card.get_by_label("Reason").select_option(index=1)
    card.get_by_role("button", name="Override").click()
    page.locator("article.card .decided").first.wait_for()

    page.get_by_role("button", name="Sign").click()
    page.get_by_role("heading", name="Decision support (order-sign)").wait_for()
    # The sign-time answer reminds, names the override, and asks for nothing a second time.
    reminder = page.locator("article.card").first
    assert reminder.get_attribute("class") == "card warning"
    assert reminder.locator(".summary").inner_text().startswith("Reminder: the opioid card")
    assert reminder.locator("form").count() == 0
    page.get_by_text("The order is signed").wait_for()
    assert page.locator("article.card.critical").count() == 0
    # One override in the EHR's feedback, not two.
    (row,) = feedback_rows(demo, uuid)
    assert row["outcome"] == "overridden"
