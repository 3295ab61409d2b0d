"""Hostile chart text shows as text in the EHR, on the card and in the app; nothing runs."""

from __future__ import annotations

import pytest
from playwright.sync_api import ConsoleMessage, FrameLocator, Locator, Page

from sandbox.demo import Demo
from tests.browser.browser_kit import open_app_in_ehr, open_order_page

KEY = "hostile-text"
# Elements and attributes the data would bring in if it were rendered as markup. The pages have
# none of their own but the app's scripts from its static folder (focus.js) and the EHR page's
# one iframe, the app (marked class="app").
INJECTED = (
    "script:not([src^='/app-static/']), img, svg, marquee, style, object, embed, iframe:not(.app), "
    "[onerror], [onload], a[href^='javascript:' i]"
)
# name.text, as written: the script tag shown as text, the templates not evaluated (no "49").
NAME = "<script>alert(1)</script> {{7*7}} ${7*7} <%= 7*7 %>"
MEDICATION = "**Oxycodone** 5 mg <img src=x onerror=alert(1)> [refill](javascript:alert(1))"
CONDITION = '<iframe src="javascript:alert(1)"></iframe> | col | col |'


def nothing_injected(scope: Page | FrameLocator) -> None:
    found = scope.locator(INJECTED).evaluate_all("elements => elements.map(e => e.outerHTML)")
    assert found == []


def text(locator: Locator) -> str:
    return " ".join(locator.all_inner_texts())


@pytest.mark.browser
def test_hostile_text_renders_as_text_in_the_ehr_the_card_and_the_app(
    page: Page, demo: Demo, dialogs: list[str]
) -> None:
    blocked: list[str] = []
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # A Content-Security-Policy report means markup from the data reached the parser.
        if "Content Security Policy" in message.text:
            blocked.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    patient = demo.patient_ids[KEY]

    page.goto(demo.urls.ehr)
    row = page.locator("tr", has=page.locator(f'a[href="/ehr/patients/{patient}"]'))
    listed = row.locator("td").first.inner_text()
    assert NAME in listed
    assert "49" not in listed
    nothing_injected(page)

    page.goto(f"{demo.urls.ehr}patients/{patient}")
    assert MEDICATION in text(page.locator("section[aria-labelledby=meds] li"))
    assert CONDITION in text(page.locator("section[aria-labelledby=conditions] li"))
    nothing_injected(page)

    open_order_page(page, demo, KEY)
    card = page.locator("article.card").first
    assert card.get_attribute("class") == "card critical"
    assert "oxycodone is active" in card.locator(".summary").inner_text()
    assert MEDICATION in card.locator(".detail").inner_text().replace("\u2060", "")
    nothing_injected(page)

    app = open_app_in_ehr(page, demo, KEY)
    assert app.locator("#naltrexone-status").get_attribute("data-status") == "do-not-start"
    assert MEDICATION in app.locator("#opioid-findings tr.opioid-row").inner_text()
    nothing_injected(app)
    nothing_injected(page)
    app.locator("#go-evidence").click()
    assert NAME in app.locator("#evidence-summary").inner_text()
    nothing_injected(app)

    assert dialogs == []
    assert blocked == []
    assert errors == []
