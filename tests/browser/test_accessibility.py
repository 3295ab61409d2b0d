"""WCAG 2.1 AA over every page and state: axe-core's A/AA rules, and one h1 per page.

Each test tours a part of the product (``page_tour``) and reports every failing page at once,
with axe-core's rule id, impact and the selectors of the elements at fault.
"""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import Page

from sandbox.demo import Demo
from sandbox.patients import expectations
from tests.browser.axe_kit import axe_violations, describe
from tests.browser.browser_kit import INDICATOR_FOR_STATUS
from tests.browser.page_tour import (
    Document,
    card_decisions,
    cards_for_every_patient,
    key_for_each_status,
    open_framed_app,
    sign_in_error,
    tour_app,
    tour_app_errors,
    tour_ehr,
    tour_standalone_app,
)


def wcag_problems(document: Document, where: str) -> list[str]:
    """Return the axe-core WCAG 2.1 A/AA violations of a page, and a missing or second h1."""
    problems = []
    violations = axe_violations(document)
    if violations:
        problems.append(describe(where, violations))
    headings = document.locator("h1").all_inner_texts()
    if len(headings) != 1:
        problems.append(f"{where}: {len(headings)} h1 headings instead of one: {headings}")
    return problems


def test_the_sample_patients_reach_every_card_indicator() -> None:
    # The card tour below covers each decision only if the sample patients do.
    statuses = {expected.status for expected in expectations(date.today()).values()}
    assert {"do-not-start", "wait-until", "uncertain", "safe-to-start"} <= statuses
    assert {INDICATOR_FOR_STATUS[s] for s in statuses} == {"critical", "warning", "info"}


@pytest.mark.browser
def test_the_ehr_pages_and_error_pages_meet_wcag_21_aa(page: Page, demo: Demo) -> None:
    problems = tour_ehr(page, demo, key_for_each_status(demo)["do-not-start"], wcag_problems)
    problems += tour_app_errors(page, demo, wcag_problems)
    problems += sign_in_error(page, demo, wcag_problems)
    assert not problems, "\n".join(problems)


@pytest.mark.browser
def test_the_card_for_every_sample_patient_meets_wcag_21_aa(page: Page, demo: Demo) -> None:
    problems = cards_for_every_patient(page, demo, wcag_problems)
    assert not problems, "\n".join(problems)


@pytest.mark.browser
def test_the_cards_after_each_decision_meet_wcag_21_aa(page: Page, demo: Demo) -> None:
    problems = card_decisions(page, demo, wcag_problems)
    assert not problems, "\n".join(problems)


@pytest.mark.browser
def test_every_app_page_in_the_ehr_frame_meets_wcag_21_aa(page: Page, demo: Demo) -> None:
    problems = []
    for status, key in key_for_each_status(demo).items():
        app = open_framed_app(page, demo, key)
        problems += wcag_problems(app, f"framed app, {status}: review")
        app.locator("#go-plan").click()
        app.locator("#plan-form").wait_for()
        problems += wcag_problems(app, f"framed app, {status}: plan")
    app = open_framed_app(page, demo, key_for_each_status(demo)["safe-to-start"])
    problems += tour_app(app, demo, "framed app", wcag_problems)
    assert not problems, "\n".join(problems)


@pytest.mark.browser
def test_every_app_page_standalone_and_the_sign_in_meet_wcag_21_aa(page: Page, demo: Demo) -> None:
    problems = tour_standalone_app(page, demo, wcag_problems)
    assert not problems, "\n".join(problems)


@pytest.mark.browser
def test_a_violation_fails_with_its_rule_impact_and_element(page: Page, demo: Demo) -> None:
    # The check is real: a start-date field stripped of its label is reported as such.
    app = open_framed_app(page, demo, key_for_each_status(demo)["safe-to-start"])
    app.locator("#go-plan").click()
    app.locator("label[for=start]").evaluate("label => label.remove()")
    problems = wcag_problems(app, "plan without its start-date label")
    assert len(problems) == 1
    report = problems[0]
    assert report.startswith("plan without its start-date label: 1 WCAG 2.1 A/AA violation(s)")
    assert "- label (critical): Form elements must have labels" in report
    assert "\n    #start  " in report
