"""The keyboard, as a keyboard user has it: what has focus (in any frame), and Tab to a control.

Playwright sees into the app's cross-origin frame, so the focused control is looked for in
every frame of the page: the one whose document has focus and whose focused element is not
itself a frame.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page

MAX_TABS = 120
# The focused element of this document, if the document has focus: its text, the live region it
# is in, its focus ring and the backgrounds around it; null when focus is elsewhere (another
# frame, or this frame's iframe element).
FOCUSED = """() => {
    const el = document.activeElement;
    if (!document.hasFocus() || !el || el === document.body || el.tagName === "IFRAME") return null;
    const backgrounds = start => {
        const layers = [];
        for (let n = start; n; n = n.parentElement) {
            const colour = getComputedStyle(n).backgroundColor;
            layers.push(colour);
            if (/^rgb\\(/.test(colour)) break;
        }
        return layers;
    };
    const style = getComputedStyle(el);
    const all = [...document.querySelectorAll("*")];
    const label = (el.getAttribute("aria-label") || el.textContent || el.value || "").trim();
    const live = el.closest("[aria-live], [role=status], [role=alert]");
    return {
        id: el.id,
        text: label.replace(/\\s+/g, " "),
        live: live && (live.getAttribute("aria-live") || live.getAttribute("role")),
        key: location.href + " " + all.indexOf(el) + (el.matches(":focus") ? "" : " (inner part)"),
        name: `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""} "${label.slice(0, 40)}"`
            + (el.matches(":focus") ? "" : " (its inner button)"),
        style: style.outlineStyle,
        width: parseFloat(style.outlineWidth),
        colour: style.outlineColor,
        offset: parseFloat(style.outlineOffset),
        around: backgrounds(el.parentElement),
        inside: backgrounds(el),
    };
}"""


def focused(page: Page) -> dict[str, Any] | None:
    """Return the focused control, in whichever frame of the page holds focus."""
    for frame in page.frames:
        found: dict[str, Any] | None = frame.evaluate(FOCUSED)
        if found is not None:
            return found
    return None


def tab_to(
    page: Page, text: str | re.Pattern[str] | None = None, *, field: str | None = None
) -> dict[str, Any]:
    """Press Tab until focus is on the control with this text, or the field with this id."""
    pattern = re.compile(re.escape(text)) if isinstance(text, str) else text
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        stop = focused(page)
        if stop is None:
            continue
        if field is not None and stop["id"] == field:
            return stop
        if pattern is not None and pattern.search(stop["text"]):
            return stop
    raise AssertionError(f"the Tab key never reached {field or text!r}")
