"""FHIR text in card Markdown and summaries."""

from __future__ import annotations

import pytest

from cds_hooks.markdown import md, summary


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("oxycodone 5 mg", "oxycodone 5 mg"),
        ("*bold* _it_ `code`", "\\*bold\\* \\_it\\_ \\`code\\`"),
        ("[x](https://evil.example)", "\\[x\\]\\(https://evil.example\\)"),
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
