"""Focus rings a keyboard user can see: at least 3:1 against what surrounds them (WCAG 1.4.11).

Each page is walked with the Tab key, as a keyboard user does, from the first focusable control
until focus comes back round; at every stop the focused control's outline is read from its
computed style and measured against the background the ring is drawn on (the first opaque
background behind it, translucent layers composed; and the control's own background when the
ring touches it). The date field's calendar button counts as a stop of its own.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from sandbox.demo import Demo
from tests.browser.contrast import WHITE, composite, parse, ratio
from tests.browser.keyboard_kit import focused
from tests.browser.page_tour import (
    Document,
    card_decisions,
    key_for_each_status,
    keys_with_status,
    sign_in_error,
    sign_in_standalone,
    tour_app_errors,
    tour_ehr,
    tour_standalone_app,
)

MIN_RATIO = 3.0
MIN_WIDTH_PX = 2.0
MAX_STOPS = 120
HAS_CONTROLS = """() => document.querySelector(
    "a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]") !== null"""


def ring_problem(stop: dict[str, Any]) -> str | None:
    """Say what is wrong with the focus ring of one control, or None when it is good."""
    if stop["style"] not in ("solid", "double") or stop["width"] < MIN_WIDTH_PX:
        return f"{stop['name']}: no focus ring of its own ({stop['style']} {stop['width']}px)"
    ring, alpha = parse(stop["colour"])
    if alpha < 1:
        return f"{stop['name']}: a translucent focus ring ({stop['colour']})"
    surroundings = [composite(stop["around"])]
    if stop["offset"] <= 0:  # the ring touches the control itself
        surroundings.append(composite(stop["inside"]))
    worst = min(ratio(ring, colour) for colour in surroundings)
    if worst < MIN_RATIO:
        return f"{stop['name']}: focus ring {stop['colour']} is {worst:.2f}:1 on its background"
    return None


def focus_ring_problems(document: Document, where: str) -> list[str]:
    """Tab through the whole page once; return each stop whose focus ring falls short."""
    page = document if isinstance(document, Page) else document.page
    page.evaluate("() => { document.activeElement?.blur(); window.focus(); }")
    seen: list[str] = []
    problems = []
    for _ in range(MAX_STOPS):
        page.keyboard.press("Tab")
        stop = focused(page)
        if stop is None:
            continue
        if stop["key"] in seen and stop["key"] != seen[-1]:
            break  # round once (the date field's parts share one key, one after the other)
        seen.append(stop["key"])
        problem = ring_problem(stop)
        if problem:
            problems.append(f"{where}: {problem}")
    if not seen and any(frame.evaluate(HAS_CONTROLS) for frame in page.frames):
        problems.append(f"{where}: the Tab key reached none of the page's controls")
    return problems


def test_contrast_is_measured_as_wcag_defines_it() -> None:
    assert ratio((0, 0, 0), WHITE) == pytest.approx(21)
    # The rings this product had: the EHR's orange and the app's yellow on white.
    assert ratio(parse("rgb(251, 143, 68)")[0], WHITE) == pytest.approx(2.3, abs=0.01)
    assert ratio(parse("rgb(255, 191, 71)")[0], WHITE) == pytest.approx(1.64, abs=0.01)
    assert composite(["rgba(0, 0, 0, 0.5)", "rgba(0, 0, 0, 0)"]) == (127.5, 127.5, 127.5)


@pytest.mark.browser
def test_every_control_of_the_ehr_and_the_cards_shows_a_3_to_1_focus_ring(
    page: Page, demo: Demo
) -> None:
    problems = tour_ehr(page, demo, key_for_each_status(demo)["do-not-start"], focus_ring_problems)
    problems += card_decisions(page, demo, focus_ring_problems)
    assert not problems, "\n".join(problems)


@pytest.mark.browser
def test_every_control_of_the_app_and_sign_in_shows_a_3_to_1_focus_ring(
    page: Page, demo: Demo
) -> None:
    problems = tour_standalone_app(page, demo, focus_ring_problems)
    problems += tour_app_errors(page, demo, focus_ring_problems)
    problems += sign_in_error(page, demo, focus_ring_problems)
    assert not problems, "\n".join(problems)


@pytest.mark.browser
def test_the_date_fields_calendar_button_has_a_ring_of_its_own(page: Page, demo: Demo) -> None:
    # Without this, the walk above could pass by never reaching the calendar button.
    sign_in_standalone(page, demo, keys_with_status(demo, "safe-to-start")[0], lambda d, w: [])
    page.locator("#go-plan").click()
    page.locator("#start").focus()
    stops = []
    for _ in range(5):
        page.keyboard.press("Tab")
        stop = focused(page)
        assert stop is not None
        stops.append(stop)
        if not stop["name"].startswith("input#start"):
            break
    inner = [stop for stop in stops if stop["name"].endswith("(its inner button)")]
    assert len(inner) == 1
    assert ring_problem(inner[0]) is None
