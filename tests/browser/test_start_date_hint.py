"""The start-date hint agrees with what the date field shows, whatever the browser's locale.

The field shows dates in the browser's own format, which follows the browser's language
(12/03/2026 in US English, 03/12/2026 in UK English), so a hint naming one format, or writing a
date in numbers, is wrong for someone: it writes its date in words. What the field
shows is read from the browser's own rendering of it (its user-agent shadow tree, through the
DevTools protocol), not assumed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from playwright.sync_api import Page

from sandbox.demo import Demo
from sandbox.patients import expectations
from tests.browser.page_tour import key_for_each_status, sign_in_standalone

# A date in numbers (2026-12-13, 12/13/2026, 13.12.2026) or a format (YYYY-MM-DD, dd/mm/yyyy).
NUMERIC_DATE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|\b[ymd]{1,4}[-/.][ymd]{1,4}", re.I)


def texts(node: dict[str, Any]) -> Iterator[str]:
    """Yield the text of a DevTools DOM node and its shadow trees, in order."""
    if node.get("nodeType") == 3:
        yield node["nodeValue"]
    for child in (*node.get("shadowRoots", ()), *node.get("children", ())):
        yield from texts(child)


def shown_in(page: Page, element_id: str) -> str:
    """Return the text the browser draws inside a form field (its user-agent shadow tree)."""
    cdp = page.context.new_cdp_session(page)
    root = cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})["root"]
    stack = [root]
    while stack:
        node = stack.pop()
        attributes = node.get("attributes", [])
        if dict(zip(attributes[::2], attributes[1::2], strict=True)).get("id") == element_id:
            return "".join(texts(node)).strip()
        stack.extend((*node.get("shadowRoots", ()), *node.get("children", ())))
    raise AssertionError(f"no #{element_id} on the page")


@pytest.mark.browser
@pytest.mark.parametrize("status", ["safe-to-start", "wait-until"])
def test_the_start_date_hint_writes_no_format_the_field_does_not_show(
    page: Page, demo: Demo, status: str
) -> None:
    key = key_for_each_status(demo)[status]
    sign_in_standalone(page, demo, key, lambda document, where: [])
    page.locator("#go-plan").click()
    field = page.locator("#start")
    start = date.fromisoformat(field.input_value())
    hint = page.locator("#start-hint").inner_text()

    # The field shows the start in numbers, in the browser's own order (12/03/2026 here).
    shown = shown_in(page, "start")
    assert sorted(re.findall(r"\d+", shown)) == sorted(
        [f"{start.day:02}", f"{start.month:02}", str(start.year)]
    ), shown
    # The hint describes the field and writes no date or format in numbers that could disagree.
    assert "start-hint" in (field.get_attribute("aria-describedby") or "").split()
    assert NUMERIC_DATE.search(hint) is None, hint
    earliest = expectations(demo.today)[key].earliest_start
    if earliest is not None:
        assert start == earliest
        assert f"Earliest safe start from the review: {earliest.day} {earliest:%B %Y}." in hint
