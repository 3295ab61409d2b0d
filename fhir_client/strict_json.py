"""Parse JSON strictly: one parser for FHIR server answers and for CDS Hooks request bodies.

Refused: invalid UTF-8, lone surrogates, ``NaN`` and ``Infinity``, numbers out of range, nesting
deeper than the parser allows, and an object naming a key twice. RFC 8259 section 4 leaves a
duplicated name's meaning to the receiver: taken last-wins, ``{"entry": [<opioid>], "entry":
[]}`` (or a prefetch key sent twice, the opioid first) would read as "no records"; a parser that
kept the first would read it differently from another. Neither is safe, so the JSON is refused
(FHIR JSON forbids duplicates too).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import orjson

# A \uD800-\uDFFF escape: the stdlib accepts a lone surrogate, orjson does not.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class InvalidJson(ValueError):
    """The body is not JSON, or not JSON every parser reads the same way."""


class DuplicateKey(InvalidJson):
    """An object names ``key`` twice."""

    def __init__(self, key: str) -> None:
        super().__init__(f"a JSON object repeats the key {key[:100]!r}")
        self.key = key


# Text values shorter than this are shared within one parse (``_objects``).
_SHARED_BELOW = 64


def _objects() -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """Return the object hook of one parse: refuses a repeated key, and shares short texts.

    FHIR JSON repeats the same short values thousands of times in a long chart (code systems,
    statuses, units, references to the patient, dates): one string object each instead of
    one per occurrence makes the parsed body about a fifth smaller, for about a tenth more
    parse time (``python -m benchmarks``, part 2). Keys are shared by the parser already.
    """
    shared: dict[str, str] = {}

    def read(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        value = dict(pairs)
        if len(value) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    raise DuplicateKey(key)
                seen.add(key)
        for key, item in pairs:
            if type(item) is str and len(item) < _SHARED_BELOW:
                value[key] = shared.setdefault(item, item)
        return value

    return read


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidJson("a number is out of range")
    return value


def _constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not a JSON number")


def loads(content: bytes) -> Any:
    """Return the parsed JSON ``content``; raise InvalidJson on bad or ambiguous JSON."""
    return loads_text(decode(content))


def decode(content: bytes) -> str:
    """Return ``content`` as text; raise InvalidJson when it is not UTF-8.

    With ``loads_text`` this lets a caller drop the bytes before the parse builds its objects
    (a large body is then never held twice while it is parsed).
    """
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJson("the body is not JSON") from exc


def loads_text(text: str) -> Any:
    """Return the parsed JSON ``text``; raise InvalidJson on bad or ambiguous JSON."""
    try:
        value = json.loads(
            text, object_pairs_hook=_objects(), parse_float=_finite, parse_constant=_constant
        )
        if _SURROGATE_ESCAPE.search(text):
            # Strict about surrogates: only well-formed pairs pass (the escape is ASCII text).
            orjson.loads(text)
    except InvalidJson:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, orjson
        raise InvalidJson("the body is not JSON") from exc
    return value
