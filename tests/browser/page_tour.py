"""Tours of every page and state a user can reach, calling a check on each one on the way.

The accessibility tests run their checks (axe-core, headings, focus rings, reflow, text size)
over the same pages: the EHR's patient list, chart, order pages and error page; the card for
each decision and after each decision; the sandbox sign-in (patient picker, consent, error);
every app page, in the EHR's frame and standalone, with its error pages. A check takes the
document (a page, or the app's frame inside the EHR) and a name for it, and returns the
problems it found; a tour returns them all, so one run reports every page that fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlencode

import requests
from playwright.sync_api import Frame, Page

from sandbox.demo import Demo
from sandbox.patients import expectations
from tests.browser.browser_kit import careplan_writes_fail, ehr_base, open_order_page

Document = Page | Frame
Check = Callable[[Document, str], list[str]]


def key_for_each_status(demo: Demo) -> dict[str, str]:
    """Return one sample patient for each decision the review can reach, from the expectations."""
    chosen: dict[str, str] = {}
    for key, expected in expectations(demo.today).items():
        chosen.setdefault(expected.status, key)
    return chosen


def keys_with_status(demo: Demo, status: str) -> list[str]:
    """Return the sample patients whose review reaches ``status``, in the samples' order."""
    return [key for key, expected in expectations(demo.today).items() if expected.status == status]


def app_frame(page: Page, demo: Demo) -> Frame:
    """Return the app's frame inside the EHR page."""
    frame = page.frame(url=re.compile(re.escape(demo.urls.product)))
    assert frame is not None, "the EHR page holds no app frame"
    return frame


def open_framed_app(page: Page, demo: Demo, key: str) -> Frame:
    """Launch the app from the EHR for ``key``; return its frame, on the review."""
    page.goto(f"{demo.urls.ehr}patients/{demo.patient_ids[key]}/app")
    page.frame_locator("iframe.app").locator("#naltrexone-status").wait_for()
    return app_frame(page, demo)


def sign_in_standalone(page: Page, demo: Demo, key: str, check: Check) -> list[str]:
    """Launch the app standalone, checking the sign-in pages; pick ``key`` and allow."""
    page.goto(f"{demo.urls.app_launch}?{urlencode({'iss': demo.urls.fhir})}")
    page.get_by_role("button", name="Allow").wait_for()
    problems = check(page, "sign-in: patient picker and consent")
    # Allow with no patient chosen (the browser's own check taken away): the page says so.
    page.locator("input[name=patient]").evaluate_all(
        "radios => radios.forEach(r => r.removeAttribute('required'))"
    )
    page.get_by_role("button", name="Allow").click()
    page.get_by_text("Choose a patient from the list.").wait_for()
    problems += check(page, "sign-in: patient picker saying a patient is missing")
    page.get_by_role("radio", name=f"Patient/{demo.patient_ids[key]}").check()
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{demo.urls.product}/review?launch_id=*")
    return problems


def sign_in_error(page: Page, demo: Demo, check: Check) -> list[str]:
    """Check the sign-in's error page (an authorization request it refuses)."""
    session = requests.Session()
    session.trust_env = False
    authorize = session.get(demo.urls.smart_configuration, timeout=30).json()
    page.goto(f"{authorize['authorization_endpoint']}?redirect_uri=not%20a%20uri")
    page.get_by_role("heading", name="Authorization stopped").wait_for()
    return check(page, "sign-in: error page")


def app_url(app: Document, demo: Demo, path: str) -> str:
    """Return the app's URL for ``path`` in the launch ``app`` is showing."""
    launch_id = re.search(r"launch_id=([^&]+)", app.url)
    assert launch_id is not None, f"no launch on {app.url}"
    return f"{demo.urls.product}{path}?launch_id={launch_id.group(1)}"


def tour_app(app: Document, demo: Demo, where: str, check: Check) -> list[str]:
    """Visit every app page and state from the review on, checking each one.

    The patient's review must clear a start (no acknowledgement needed), so the plan saves.
    """
    problems = check(app, f"{where}: review")
    app.goto(app_url(app, demo, "/plan"))
    app.locator("#plan-form").wait_for()
    problems += check(app, f"{where}: plan")
    app.locator("#start").fill("")
    app.locator("#update-plan").click()
    app.locator("#form-errors").wait_for()
    problems += check(app, f"{where}: plan with a field to correct")
    app.goto(app_url(app, demo, "/plan"))
    app.locator("#handout-link").click()
    app.locator("#handout").wait_for()
    problems += check(app, f"{where}: patient handout")
    app.goto(app_url(app, demo, "/plan"))
    with careplan_writes_fail(demo):
        app.locator("#save-plan").click()
        app.locator("#save-error").wait_for()
    problems += check(app, f"{where}: plan the FHIR server failed to save")
    app.locator("#save-plan").click()
    app.locator("#save-success").wait_for()
    problems += check(app, f"{where}: saved plan")
    app.goto(app_url(app, demo, "/plans"))
    app.locator("#saved-plans").wait_for()
    problems += check(app, f"{where}: saved plans")
    app.goto(app_url(app, demo, "/evidence"))
    app.locator("#evidence-summary").wait_for()
    problems += check(app, f"{where}: evidence summary")
    return problems


def tour_standalone_app(page: Page, demo: Demo, check: Check) -> list[str]:
    """Sign in standalone (checking the sign-in pages), then visit every app page."""
    problems = sign_in_standalone(page, demo, keys_with_status(demo, "safe-to-start")[0], check)
    return problems + tour_app(page, demo, "standalone app", check)


def tour_app_errors(page: Page, demo: Demo, check: Check) -> list[str]:
    """Check the app's error pages: a launch it refuses, a lost launch, a broken handout link."""
    page.goto(f"{demo.urls.app_launch}?{urlencode({'iss': 'https://unknown.invalid/fhir'})}")
    page.locator("#error").wait_for()
    problems = check(page, "app error: launch from an unknown EHR")
    page.goto(f"{demo.urls.product}/review?launch_id=gone")
    page.locator("#error").wait_for()
    problems += check(page, "app error: launch no longer open")
    return problems


def tour_ehr(page: Page, demo: Demo, key: str, check: Check) -> list[str]:
    """Visit the EHR's pages for ``key``: patient list, chart, new order, app frame, error."""
    page.goto(demo.urls.ehr)
    problems = check(page, "EHR: patient list")
    page.goto(f"{demo.urls.ehr}patients/{demo.patient_ids[key]}")
    problems += check(page, "EHR: chart")
    page.get_by_role("link", name="Prescribe naltrexone").click()
    page.get_by_role("button", name="Select").wait_for()
    problems += check(page, "EHR: new order")
    open_framed_app(page, demo, key)
    problems += check(page, "EHR: page framing the app")
    page.goto(f"{ehr_base(demo)}/ehr/patients/no-such-patient")
    page.get_by_role("heading", name="Something went wrong").wait_for()
    problems += check(page, "EHR: error page")
    return problems


def cards_for_every_patient(page: Page, demo: Demo, check: Check) -> list[str]:
    """Draft LDN for every sample patient and check the page with its cards."""
    problems = []
    for key, expected in expectations(demo.today).items():
        open_order_page(page, demo, key)
        page.locator("article.card").first.wait_for()
        problems += check(page, f"card for {key} ({expected.status})")
    return problems


def card_decisions(page: Page, demo: Demo, check: Check) -> list[str]:
    """Check the order page after each decision: accepted, held at signing, overridden, signed."""
    statuses = key_for_each_status(demo)
    open_order_page(page, demo, statuses["do-not-start"])
    page.get_by_role("button", name=re.compile("^Accept: ")).first.click()
    page.locator("article.card .decided").first.wait_for()
    problems = check(page, "card accepted")

    open_order_page(page, demo, statuses["wait-until"])
    page.get_by_role("button", name="Sign").click()
    page.get_by_text("Signing is on hold").wait_for()
    problems += check(page, "order held at signing")
    card = page.locator("article.card.critical").first
    card.get_by_label("Reason").select_option(index=1)
    card.get_by_role("button", name="Override").click()
    page.get_by_text("The order is signed").wait_for()
    problems += check(page, "card overridden, order signed")

    open_order_page(page, demo, statuses["safe-to-start"])
    page.get_by_role("button", name="Sign").click()
    page.get_by_text("The order is signed").wait_for()
    problems += check(page, "info card, order signed")
    return problems
