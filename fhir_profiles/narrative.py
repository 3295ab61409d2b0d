"""Build the XHTML narrative (``text.div``) of the resources we write, escaped by construction.

The narrative is assembled as an ElementTree and serialised by it, so any text (a patient name,
a drug name from the chart, a clinician's note) can only ever become character data, never markup.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence

XHTML = "http://www.w3.org/1999/xhtml"
# Characters XML 1.0 cannot carry at all; FHIR strings should not hold them, but a chart might.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean(text: str) -> str:
    """Drop the characters XML cannot represent."""
    return _NOT_XML.sub("", text)


class Narrative:
    """A ``<div xmlns="http://www.w3.org/1999/xhtml">`` built from paragraphs, lists and tables."""

    def __init__(self) -> None:
        self._div = ET.Element("div", {"xmlns": XHTML})

    def heading(self, text: str) -> None:
        """Add a bold lead paragraph."""
        ET.SubElement(ET.SubElement(self._div, "p"), "b").text = clean(text)

    def paragraph(self, text: str, *, label: str | None = None) -> None:
        """Add a paragraph, optionally led by a bold ``label``."""
        para = ET.SubElement(self._div, "p")
        if label is None:
            para.text = clean(text)
            return
        ET.SubElement(para, "b").text = clean(label)
        para[0].tail = " " + clean(text)

    def bullets(self, items: Iterable[str]) -> None:
        """Add a bulleted list (nothing when there are no items)."""
        texts = [clean(item) for item in items]
        if texts:
            ul = ET.SubElement(self._div, "ul")
            for text in texts:
                ET.SubElement(ul, "li").text = text

    def table(self, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
        """Add a table with a header row."""
        table = ET.SubElement(self._div, "table")
        head = ET.SubElement(ET.SubElement(table, "thead"), "tr")
        for cell in header:
            ET.SubElement(head, "th").text = clean(cell)
        body = ET.SubElement(table, "tbody")
        for row in rows:
            tr = ET.SubElement(body, "tr")
            for cell in row:
                ET.SubElement(tr, "td").text = clean(cell)

    def to_fhir(self) -> dict[str, str]:
        """Return the FHIR Narrative JSON (status ``generated``: it is built from the data)."""
        return {"status": "generated", "div": ET.tostring(self._div, encoding="unicode")}
