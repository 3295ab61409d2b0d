"""Hostile FHIR text through the service's Markdown escaping and the EHR's GFM renderer.

The CDS service puts drug names and ids from the EHR's data into card Markdown with
``cds_hooks.markdown.md``; the sandbox EHR renders card Markdown with a GFM parser
(``sandbox.card_markdown``). Whatever the text, the clinician must see it exactly as written
(whitespace folded to single spaces): never as HTML, a link, emphasis, a list or a table.
"""

from __future__ import annotations

import html
import re

from hypothesis import example, given
from hypothesis import strategies as st

from cds_hooks.markdown import md
from sandbox.card_markdown import render_detail

# Every Markdown-significant character, often, among any other text.
MARKUP = st.sampled_from([*"\\`*_{}[]()<>#|~!&-+=.:;/\"' \t\n1", "www.", "http://"])
HOSTILE = st.lists(st.one_of(MARKUP, st.text(max_size=3)), max_size=40).map("".join)
PARAGRAPH = re.compile(r"<p>([^<]*)</p>\n")


def _shown(text: str) -> str:
    """Return what a reader must see: whitespace folded, NUL as U+FFFD (CommonMark's rule)."""
    return re.sub(r"\s+", " ", text).strip().replace("\x00", "\ufffd")


@given(HOSTILE)
@example("<script>alert(1)</script>")
@example("[click](javascript:alert(1)) ![x](https://evil.example/x.png)")
@example("**oxycodone** _5 mg_ | 10 mg | ~~none~~")
@example("1. first\n- second\n# third\n> quote\n    code")
@example("&lt;b&gt; &amp; &#x27; &copy;")
@example("<https://evil.example> <mailto:a@b.example>")
@example("a\\\\*b\\")
@example("\u2060")
@example("www.\u2060example.org")
def test_fhir_text_is_shown_verbatim_never_as_markup(text: str) -> None:
    rendered = str(render_detail(md(text)))
    expected = _shown(text)
    if not expected:
        assert rendered == ""
        return
    paragraph = PARAGRAPH.fullmatch(rendered)
    assert paragraph is not None, rendered  # one paragraph, no other tag: no HTML, no link
    # md() puts an invisible WORD JOINER inside bare addresses so that no renderer links them;
    # the reader sees the text unchanged (a joiner in the FHIR text itself is as invisible).
    shown = html.unescape(paragraph.group(1)).replace("\u2060", "")
    assert shown == expected.replace("\u2060", "")
