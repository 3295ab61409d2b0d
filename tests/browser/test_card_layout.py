"""Every sample patient's cards read in a narrow EHR card pane: nothing overflows, no word breaks.

An EHR shows CDS cards in a side pane; 600 px is a common width. A card that needs sideways
scrolling, or that breaks "oxycodone" into "oxycod" and "one", is hard to read at a glance.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from sandbox.demo import Demo
from sandbox.patients import sample_keys
from tests.browser.browser_kit import open_order_page

PANE_WIDTH = 600

# For each card: elements wider than their box, and words laid out on more than one line.
_MEASURE = """
(card) => {
  const overflowing = [];
  for (const el of [card, ...card.querySelectorAll("*")]) {
    if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== "visible") {
      overflowing.push(el.tagName + ": " + el.textContent.slice(0, 60));
    }
  }
  if (card.getBoundingClientRect().right > document.documentElement.clientWidth + 1) {
    overflowing.push("card: wider than the pane");
  }
  const broken = [];
  const walker = document.createTreeWalker(card, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    // A word is a run of letters and digits: a line may end after a hyphen or a slash (record
    // ids, "5/325"), never inside "oxycodone".
    const re = /[\\p{L}\\p{N}]+/gu;
    let m;
    while ((m = re.exec(node.data)) !== null) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
      if (lines.size > 1) broken.push(m[0]);
    }
  }
  return {overflowing, broken};
}
"""


@pytest.mark.browser
@pytest.mark.parametrize("key", sample_keys())
def test_cards_fit_a_600px_pane_without_breaking_words(page: Page, demo: Demo, key: str) -> None:
    page.set_viewport_size({"width": PANE_WIDTH, "height": 900})
    open_order_page(page, demo, key)
    cards = page.locator("article.card")
    assert cards.count() >= 1
    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= PANE_WIDTH, "the page scrolls sideways"
    for index in range(cards.count()):
        found = cards.nth(index).evaluate(_MEASURE)
        assert found == {"overflowing": [], "broken": []}, (key, index, found)
