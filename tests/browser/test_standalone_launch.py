"""Standalone launch: open the app directly, pick a patient at the EHR's sign-in, see the review."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import pytest
from playwright.sync_api import Page

from sandbox.demo import Demo
from sandbox.patients import expectations

KEY = "liver-disease"


@pytest.mark.browser
def test_a_standalone_launch_with_the_patient_picker_lands_on_the_review(
    page: Page, demo: Demo
) -> None:
    patient = demo.patient_ids[KEY]
    page.goto(f"{demo.urls.app_launch}?{urlencode({'iss': demo.urls.fhir})}")

    # The EHR's authorization server asks which patient, and for consent.
    assert urlsplit(page.url).hostname == "localhost"
    page.get_by_role(
        "heading", name="Allow LDN Opioid-Safety to use your sandbox session?"
    ).wait_for()
    choice = page.get_by_role("radio", name=f"Patient/{patient}")
    picked = page.locator("label.patient", has=choice).inner_text()
    choice.check()
    page.get_by_role("button", name="Allow").click()

    page.wait_for_url(f"{demo.urls.product}/review?launch_id=*")
    assert page.locator("#naltrexone-status").get_attribute("data-status") == (
        expectations(demo.today)[KEY].status
    )
    # A standalone launch has no EHR around it: the app shows whose chart this is.
    assert page.locator("#banner-id").inner_text() == patient
    name = page.locator("#banner-name").inner_text()
    assert name
    assert name in picked
    assert "Liver disease" in page.locator("#patient-conditions").inner_text()
