"""Narrow windows and large text lose nothing: WCAG 1.4.10 (reflow) and 1.4.4 (resize text).

At 320 px wide, and at 640 px wide with text at 200%, no page scrolls sideways, nothing is cut
off at the window's edge or clipped by its box, and every table fits the window: its cells wrap,
or it turns into one block per row, instead of making the reader scroll.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page

from sandbox.demo import Demo
from tests.browser.page_tour import (
    Check,
    Document,
    card_decisions,
    cards_for_every_patient,
    key_for_each_status,
    tour_ehr,
    tour_standalone_app,
)

# What a reader of this document would miss or have to scroll sideways for; text as the reader
# sees it, elements by tag, id and class. Elements moved wholly off-screen on purpose (the skip
# link, a stacked table's header row, read by screen readers only) are not content lost.
LOST_CONTENT = """() => {
    const width = document.documentElement.clientWidth;
    const problems = [];
    const page = document.documentElement.scrollWidth;
    if (page > width + 1) problems.push(`the page scrolls sideways (${page} px in ${width} px)`);
    const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
        + [...el.classList].map(c => "." + c).join("")
        + ` "${(el.innerText || "").trim().replace(/\\s+/g, " ").slice(0, 40)}"`;
    const reported = new Set();
    for (const el of document.body.querySelectorAll("*")) {
        if (reported.has(el.parentElement)) { reported.add(el); continue; }
        const style = getComputedStyle(el);
        const box = el.getBoundingClientRect();
        if (style.visibility === "hidden" || box.width === 0 || box.right <= 0) continue;
        let problem = null;
        if (el.tagName === "TABLE" && box.right > width + 1) {
            problem = `table ${name(el)} is ${Math.round(box.width)} px wide`;
        } else if (box.right > width + 1) {
            problem = `${name(el)} reaches ${Math.round(box.right)} px`;
        } else if (/hidden|clip/.test(style.overflowX + style.overflowY)
                   && (el.scrollWidth > el.clientWidth + 1
                       || el.scrollHeight > el.clientHeight + 1)) {
            problem = `${name(el)} clips its content`;
        }
        if (problem) { problems.push(problem); reported.add(el); }
    }
    return problems;
}"""
DOUBLE_TEXT = "() => { document.documentElement.style.fontSize = '200%'; }"


def lost_content(setup: str | None) -> Check:
    """Return a check for content lost in the current window, after ``setup`` ran in the page."""

    def check(document: Document, where: str) -> list[str]:
        if setup is not None:
            document.evaluate(setup)
        found: list[str] = document.evaluate(LOST_CONTENT)
        return [f"{where}: {problem}" for problem in found]

    return check


TOURS: dict[str, Callable[[Page, Demo, Check], list[str]]] = {
    "ehr": lambda page, demo, check: tour_ehr(
        page, demo, key_for_each_status(demo)["do-not-start"], check
    ),
    "cards": cards_for_every_patient,
    "card decisions": card_decisions,
    "app": tour_standalone_app,
}


@pytest.mark.browser
@pytest.mark.parametrize("tour", TOURS)
def test_at_320_px_nothing_scrolls_sideways_and_tables_wrap(
    page: Page, demo: Demo, tour: str
) -> None:
    page.set_viewport_size({"width": 320, "height": 640})
    problems = TOURS[tour](page, demo, lost_content(None))
    assert not problems, "\n".join(problems)


@pytest.mark.browser
@pytest.mark.parametrize("tour", TOURS)
def test_at_640_px_with_text_at_200_percent_nothing_is_lost(
    page: Page, demo: Demo, tour: str
) -> None:
    page.set_viewport_size({"width": 640, "height": 720})
    problems = TOURS[tour](page, demo, lost_content(DOUBLE_TEXT))
    assert not problems, "\n".join(problems)
