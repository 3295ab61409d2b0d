"""Parse JSON from a FHIR server strictly: a duplicated key or a non-JSON number is refused.

Last-wins parsing would let ``{"entry": [<opioid>], "entry": []}`` read as "no records"; a
parser that kept the first would read it differently from another: neither is safe, so the
answer is refused (RFC 8259 section 4 leaves duplicate names to the parser; FHIR JSON forbids
them).
"""

from __future__ import annotations

import json
from typing import Any


class InvalidJson(ValueError):
    """The body is not JSON, or not JSON every parser reads the same way."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise InvalidJson("a JSON object repeats a key")
    return value


def _constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not a JSON number")


def loads(content: bytes) -> Any:
    """Return the parsed JSON ``content``; raise InvalidJson on bad or ambiguous JSON."""
    try:
        return json.loads(content, object_pairs_hook=_object, parse_constant=_constant)
    except InvalidJson:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise InvalidJson("the body is not JSON") from exc
