"""The opioid review of every sample patient, and that the CDS card says the same thing."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page

from sandbox.demo import Demo
from sandbox.patients import expectations, sample_keys
from tests.browser.browser_kit import INDICATOR_FOR_STATUS, card_status, cds_cards, open_app_in_ehr


@pytest.mark.browser
@pytest.mark.parametrize("key", sample_keys())
def test_the_review_shows_the_expected_decision_and_matches_the_cds_card(
    page: Page, demo: Demo, key: str
) -> None:
    expected = expectations(demo.today)[key]
    app = open_app_in_ehr(page, demo, key)

    status = app.locator("#naltrexone-status")
    shown = status.get_attribute("data-status")
    assert shown == expected.status, expected.why
    if expected.earliest_start is not None:
        assert expected.earliest_start.isoformat() in status.inner_text()

    opioid_tables = app.locator("#opioid-findings, #past-opioids")
    if expected.opioids:
        named = " ".join(opioid_tables.all_inner_texts()).lower()
        for opioid in expected.opioids:
            assert opioid in named
    else:
        assert app.locator("tr.opioid-row").count() == 0
        assert app.locator("#no-findings").is_visible()

    # The card the EHR would show for an LDN order carries the same decision.
    cards = cds_cards(demo, key)
    (opioid_card,) = [
        card
        for card in cards
        if any("status" in json.loads(link.app_context) for link in card.links if link.app_context)
    ]
    others = [card for card in cards if card is not opioid_card]
    assert card_status(opioid_card) == shown
    assert opioid_card.indicator == INDICATOR_FOR_STATUS[expected.status]
    extra = ["warning"] * len(expected.cautions) + ["info"] * len(expected.info)
    assert sorted(card.indicator for card in others) == sorted(extra)
    # The review raises the same cautions as the cards.
    shown_cautions = app.locator("#cautions .caution")
    assert shown_cautions.count() == len(expected.cautions)
    assert app.locator("#ask-unrecorded").is_visible()
    if expected.earliest_start is not None:
        assert f"until {expected.earliest_start.isoformat()}" in opioid_card.summary

    # Field by field, the review's words for each finding are the card's words.
    card_text = re.sub(r"\\(.)", r"\1", opioid_card.detail or "")
    for row in app.locator("#opioid-findings tr.opioid-row").all():
        for field in ("drug", "status", "washout", "earliest"):
            phrase = row.locator(f".{field}").inner_text().strip()
            assert phrase in card_text, (field, phrase)
