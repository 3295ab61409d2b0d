"""A card's links, opened from the EHR: the patient named, the evidence link on the evidence."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page

from sandbox.demo import Demo
from sandbox.patients import expectations
from tests.browser.browser_kit import open_order_page


def open_card_link(context: BrowserContext, page: Page, name: str) -> Page:
    """Click the card link called ``name``; return the new tab it opens, loaded."""
    with context.expect_page() as opened:
        page.get_by_role("link", name=name).first.click()
    tab = opened.value
    tab.wait_for_load_state()
    return tab


@pytest.mark.browser
def test_a_card_link_opened_in_a_new_tab_names_the_patient(
    context: BrowserContext, page: Page, demo: Demo
) -> None:
    open_order_page(page, demo, "oxycodone-active")
    tab = open_card_link(context, page, "Open the LDN opioid review")
    tab.locator("#naltrexone-status").wait_for()
    assert tab.url.startswith(f"{demo.urls.product}/review")
    # The compact line names the patient, and outside the EHR's frame the full banner follows.
    assert tab.locator("#patient-line-name").inner_text() == "Dana Marie Whitfield"
    assert tab.locator("#patient-line-birth-date").inner_text() == "1971-03-14"
    assert tab.locator("#banner-name").inner_text() == "Dana Marie Whitfield"
    assert tab.locator("#banner-gender").inner_text() == "female"


@pytest.mark.browser
def test_the_evidence_link_lands_on_the_evidence_and_the_source_link_on_the_about_page(
    context: BrowserContext, page: Page, demo: Demo
) -> None:
    open_order_page(page, demo, "aud-naltrexone")
    assert "aud" in expectations(demo.today)["aud-naltrexone"].info
    tab = open_card_link(context, page, "Open the LDN evidence summary")
    tab.locator("#evidence-summary").wait_for()
    assert tab.url.startswith(f"{demo.urls.product}/evidence")
    assert tab.locator("#nav-evidence").get_attribute("aria-current") == "page"
    assert tab.locator("#patient-line-name").inner_text() != "Name not available"

    about = open_card_link(context, page, "LDN Opioid-Safety")
    assert about.url == f"{demo.urls.product}/about"
    heading = about.get_by_role("heading", level=1)
    assert heading.inner_text() == "About LDN Opioid-Safety"
    assert "Version 0.1.0" in about.locator("#about-version").inner_text()
    checks = about.locator("#about-checks").inner_text()
    assert "order-select" in checks
    assert "order-sign" in checks
    assert "7\N{EN DASH}10 days" in checks  # the washout table, from the data the checks use
    assert "Separating Evidence from Enthusiasm" in about.locator("#about-source").inner_text()
