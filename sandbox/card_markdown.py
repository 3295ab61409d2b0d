"""Render a card's ``detail`` (GitHub Flavored Markdown) as HTML that cannot carry markup.

markdown-it-py parses it as CommonMark with the GFM tables and strikethrough, with raw HTML off:
a tag from the CDS service shows as text, never as markup. Links keep only http(s) targets and
open in a new tab without a referrer (any other target becomes plain text); images become
their alt text, so the EHR loads nothing from elsewhere. Autolinked bare URLs (GFM's
"autolink literal") are not made: the card's own links are written as links.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markupsafe import Markup

_SAFE_SCHEMES = ("http://", "https://")


def _safe_links_and_images(state: StateCore) -> None:
    """Keep web links only (new tab, no referrer); turn images into their alt text."""
    for block in state.tokens:
        if block.type == "inline" and block.children:
            block.children = _safe_inline(block.children)


def _safe_inline(tokens: list[Token]) -> list[Token]:
    kept: list[Token] = []
    links_kept: list[bool] = []  # one entry per open link: was it kept as a link?
    for token in tokens:
        if token.type == "link_open":
            href = str(token.attrGet("href") or "")
            links_kept.append(href.lower().startswith(_SAFE_SCHEMES))
            if links_kept[-1]:
                token.attrs = {"href": href, "rel": "noopener noreferrer", "target": "_blank"}
            else:
                token.tag, token.attrs = "span", {}
        elif token.type == "link_close" and not links_kept.pop():
            token.tag = "span"
        elif token.type == "image":
            alt = "".join(child.content for child in token.children or ())
            token = Token("text", "", 0, content=alt)
        kept.append(token)
    return kept


_PARSER = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_PARSER.enable(["table", "strikethrough"])
_PARSER.core.ruler.push("ldn_safe_links_and_images", _safe_links_and_images)
# Parse every link target, then keep http(s) only: a refused target (javascript:, data:, ...)
# shows its label as plain text, like any other non-web link.
_PARSER.validateLink = lambda url: True  # type: ignore[method-assign]


def render_detail(text: str) -> Markup:
    """Return the card detail as safe HTML (tables, emphasis, lists, web links)."""
    return Markup(_PARSER.render(text))  # noqa: S704 -- raw HTML is off: every tag is the parser's
