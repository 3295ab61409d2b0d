"""Put text from FHIR resources safely into card Markdown and summaries.

Drug names and ids come from the EHR's data: a ``*``, ``|``, ``[`` or ``<`` in them must show as
itself, never become emphasis, a table cell, a link or HTML in the EHR's card renderer. Nor may
a bare URL, ``www.`` name, domain or e-mail address in them become a link: GFM's autolink
extension and linkify-style renderers turn those into links without any markup (GFM spec
§6.9). A backslash before the ``:`` of ``://`` and before each dot of a domain stops the
inline matchers (CommonMark lets a backslash escape any ASCII punctuation; the text reads the
same); e-mail autolinks are found after escapes are resolved, so a word joiner (U+2060, not
shown) goes before the ``@``.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Characters with an inline meaning in GitHub Flavored Markdown (emphasis, code, links, images,
# HTML, entities, tables, strikethrough); GFM lets a backslash escape any of them.
_INLINE = re.compile(r"([\\`*_{}\[\]()<>#|~!&])")
# A list marker or heading at the start of the text would open a block.
_BLOCK_START = re.compile(r"^(\d+)([.)])|^([-+=])")
_SPACE = re.compile(r"\s+")
# What autolinkers look for: a scheme's "://", a dot inside a host name, an e-mail's "@".
_SCHEME_SLASHES = re.compile(r":(?=//)")
_HOST_DOT = re.compile(r"(?<=[A-Za-z0-9])\.(?=[A-Za-z])")
_AT = "@"
_WORD_JOINER = "\u2060"

SUMMARY_LIMIT = 139  # CDS Hooks: summary "<140 characters"


def md(text: object) -> str:
    """Escape ``text`` for GFM inline use: markup characters escaped, line breaks folded."""
    words = str(text)
    # The same drug names, statuses and guidance recur on every card: short ones are escaped
    # once (a pure function of the text, kept in a bounded cache).
    return _escaped(words) if len(words) <= _KEPT_LONGEST else _escape(words)


_KEPT_LONGEST = 512


@lru_cache(maxsize=2048)
def _escaped(text: str) -> str:
    return _escape(text)


def _escape(text: str) -> str:
    escaped = _INLINE.sub(r"\\\1", _SPACE.sub(" ", text).strip())
    escaped = _HOST_DOT.sub(r"\\.", _SCHEME_SLASHES.sub(r"\\:", escaped))
    escaped = escaped.replace(_AT, _WORD_JOINER + _AT)
    return _BLOCK_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", escaped)


def summary(text: str) -> str:
    """Return ``text`` on one line and under 140 characters (cut with an ellipsis when longer)."""
    line = _SPACE.sub(" ", text).strip()
    if len(line) <= SUMMARY_LIMIT:
        return line
    return line[: SUMMARY_LIMIT - 1].rstrip() + "…"
