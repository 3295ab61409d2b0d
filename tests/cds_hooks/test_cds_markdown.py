"""FHIR text in card Markdown and summaries."""

from __future__ import annotations

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options
from markdown_it import MarkdownIt

from cds_hooks.markdown import md, summary

# Two real renderers of card Markdown: GitHub's own cmark-gfm with its extensions (autolink
# included) and markdown-it with linkify, which also links bare domain names.
_LINKIFY = MarkdownIt("commonmark", {"linkify": True}).enable(["linkify", "table"])


def _renderings(markdown: str) -> list[str]:
    return [
        cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE),
        _LINKIFY.render(markdown),
    ]


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("oxycodone 5 mg", "oxycodone 5 mg"),
        ("*bold* _it_ `code`", "\\*bold\\* \\_it\\_ \\`code\\`"),
        ("[x](https://evil.example)", "\\[x\\]\\(https\\://evil\\.example\\)"),
        ("a | b", "a \\| b"),
        ("<script>", "\\<script\\>"),
        ("&amp;", "\\&amp;"),
        ("1. not a list", "1\\. not a list"),
        ("- not a list", "\\- not a list"),
        ("# not a heading", "\\# not a heading"),
        ("line\n\n## two", "line \\#\\# two"),
        ("back\\slash", "back\\\\slash"),
    ],
)
def test_markdown_escapes_what_would_change_the_rendering(text: str, escaped: str) -> None:
    assert md(text) == escaped


def test_summary_stays_under_140_characters_on_one_line() -> None:
    assert summary("short\nline") == "short line"
    cut = summary("x" * 200)
    assert len(cut) == 139
    assert cut.endswith("…")


HOSTILE_TEXT = [
    "oxycodone https://evil.com/refill?x=1 now",
    "see http://localhost:8080/x",
    "ftp://files.evil.com/a",
    "call www.evil.com today",
    "WWW.EVIL.COM",
    "evil.com and pharmacy.evil.co.uk",
    "mail refills@evil.com",
    "mailto:refills@evil.com",
    "xmpp:bot@evil.com",
    "<https://evil.com>",
    "[click](https://evil.com)",
    "![x](https://evil.com/t.png)",
]


@pytest.mark.parametrize("text", HOSTILE_TEXT)
def test_no_url_domain_or_address_in_fhir_text_becomes_a_link(text: str) -> None:
    escaped = md(text)
    for html in _renderings(escaped):
        assert "<a " not in html, html
        assert "<img" not in html, html
    # As a control, the raw text is linked by at least one of the renderers.
    assert any("<a " in html or "<img" in html for html in _renderings(text))


@pytest.mark.parametrize("text", [*HOSTILE_TEXT, "oxycodone 5 mg (e.g. OxyContin), 1.5 mg"])
def test_escaped_text_reads_as_written(text: str) -> None:
    html = cmarkgfm.github_flavored_markdown_to_html(md(text))
    shown = html.removeprefix("<p>").removesuffix("</p>\n").replace("\u2060", "")
    unescaped = shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert unescaped == text


def test_dose_text_is_not_escaped_more_than_needed() -> None:
    assert md("naltrexone 1.5 mg at 22:00") == "naltrexone 1.5 mg at 22:00"
