"""Render a card's ``detail`` (GitHub Flavored Markdown) as HTML that cannot carry markup.

The text is HTML-escaped before Python-Markdown sees it, so no tag or attribute from the CDS
service survives; links keep only http(s) targets and open in a new tab; images become their
alt text (the EHR loads nothing from elsewhere). GFM backslash escapes of characters that
Python-Markdown does not treat as escapable (``\\<``, ``\\&``, ``\\|``, ``\\~``) are resolved
here so that a drug name like ``A|B <x>`` reads as written.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

import markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

_ESCAPED_ENTITY = re.compile(r"\\(&(?:lt|gt|amp|quot|#x27);)")
_ESCAPED_CHAR = re.compile(r"\\([|~\"'%$,:;=?@^])")
_SAFE_SCHEMES = ("http://", "https://")


class _SafeLinks(Treeprocessor):
    """Keep web links only (new tab, no referrer); turn images into their alt text."""

    def run(self, root: ET.Element) -> None:
        for parent in root.iter():
            for child in list(parent):
                if child.tag == "img":
                    _replace_image(parent, child)
                elif child.tag == "a":
                    _safe_link(child)


class _SafeExtension(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.treeprocessors.register(_SafeLinks(md), "ldn_safe_links", 0)


def render_detail(text: str) -> Markup:
    """Return the card detail as safe HTML (tables, emphasis, lists, web links)."""
    escaped = html.escape(text, quote=True)
    escaped = _ESCAPED_ENTITY.sub(r"\1", escaped)
    escaped = _ESCAPED_CHAR.sub(lambda m: f"&#{ord(m.group(1))};", escaped)
    rendered = markdown.markdown(escaped, extensions=["tables", "sane_lists", _SafeExtension()])
    return Markup(rendered)  # noqa: S704 -- every tag comes from Markdown, the text was escaped


def _safe_link(link: ET.Element) -> None:
    href = link.get("href", "")
    for name in list(link.attrib):
        del link.attrib[name]
    if href.lower().startswith(_SAFE_SCHEMES):
        link.set("href", href)
        link.set("target", "_blank")
        link.set("rel", "noopener noreferrer")
    else:
        link.tag = "span"


def _replace_image(parent: ET.Element, image: ET.Element) -> None:
    index = list(parent).index(image)
    alt = ET.Element("span")
    alt.text = image.get("alt", "")
    alt.tail = image.tail
    parent.remove(image)
    parent.insert(index, alt)
