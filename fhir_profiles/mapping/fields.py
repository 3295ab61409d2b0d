"""Typed reads from FHIR JSON that note, instead of raise, what has the wrong shape.

The mapping runs on parsed JSON (``orjson.loads``), never on FHIR models: it is on the CDS hot path.
Every reader takes the parent object, the key and the parent's path, and returns ``None`` (or an
empty list) when the element is absent or malformed; malformed elements are noted on ``problems``
with their path so the caller can report them.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from fhir_profiles.mapping.dates import date_range

JsonObject = dict[str, Any]


def join(path: str, key: str) -> str:
    """Return the FHIRPath-like path of ``key`` under ``path``."""
    return f"{path}.{key}" if path else key


_NO_DATES: tuple[date | None, date | None] = (None, None)
# Beyond 64 bits a JSON integer is not a clinical amount, and float() of it could overflow.
_LARGEST_INT = 2**63


def is_number(value: object) -> bool:
    """Tell whether a JSON value is a finite number (JSON booleans are not numbers)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < _LARGEST_INT


class Fields:
    """Collect what is malformed in one resource while its elements are read."""

    __slots__ = ("problems",)

    def __init__(self) -> None:
        self.problems: list[str] = []

    def note(self, message: str) -> None:
        """Record one problem in words."""
        self.problems.append(message)

    def string(self, parent: JsonObject, key: str, path: str) -> str | None:
        """Return a string element, or ``None`` when absent or not a string."""
        value = parent.get(key)
        if value is None or isinstance(value, str):
            return value
        self.problems.append(f"{join(path, key)} is not a string")
        return None

    def strings(self, parent: JsonObject, key: str, path: str) -> list[str]:
        """Return the strings of a repeating string element, noting anything else."""
        value = parent.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problems.append(f"{join(path, key)} is not an array")
            return []
        if all(isinstance(item, str) for item in value):
            return value
        self.problems.append(f"{join(path, key)} holds values that are not strings")
        return [item for item in value if isinstance(item, str)]

    def number(self, parent: JsonObject, key: str, path: str) -> float | None:
        """Return a numeric element, or ``None`` when absent or not a finite number."""
        value = parent.get(key)
        if value is None:
            return None
        if is_number(value):
            return float(value)
        self.problems.append(f"{join(path, key)} is not a number")
        return None

    def object(self, parent: JsonObject, key: str, path: str) -> JsonObject | None:
        """Return a JSON object element, or ``None`` when absent or not an object."""
        value = parent.get(key)
        if value is None or isinstance(value, dict):
            return value
        self.problems.append(f"{join(path, key)} is not an object")
        return None

    def objects(self, parent: JsonObject, key: str, path: str) -> list[tuple[str, JsonObject]]:
        """Return ``(path, object)`` for each object in a repeating element, noting the rest.

        A lone object where an array belongs is read as a one-item array: senders do this (the
        CDS Hooks specification's own order-sign example does it with ``doseAndRate``), and the
        content is unambiguous, so refusing it would only turn readable data into "unchecked".
        """
        value = parent.get(key)
        if value is None:
            return []
        prefix = join(path, key)
        if isinstance(value, dict):
            return [(prefix, value)]
        if not isinstance(value, list):
            self.problems.append(f"{prefix} is not an array")
            return []
        found = [(f"{prefix}[{i}]", item) for i, item in enumerate(value) if isinstance(item, dict)]
        if len(found) < len(value):
            self.problems.extend(
                f"{prefix}[{i}] is not an object"
                for i, item in enumerate(value)
                if not isinstance(item, dict)
            )
        return found

    def dates(self, parent: JsonObject, key: str, path: str) -> tuple[date | None, date | None]:
        """Return the first and last day a (possibly partial) FHIR date element can mean."""
        text = parent.get(key)
        if text is None:
            return _NO_DATES
        if not isinstance(text, str):
            self.problems.append(f"{join(path, key)} is not a string")
            return _NO_DATES
        days = date_range(text)
        if days is None:
            self.problems.append(f"{join(path, key)} is not a valid FHIR date")
            return _NO_DATES
        return days

    def start_date(self, parent: JsonObject, key: str, path: str) -> date | None:
        """Return the earliest day a date element can mean (see ``dates`` module)."""
        text = parent.get(key)
        if text is None:
            return None
        # A well-formed date read in one step; anything else through ``dates``, which notes it.
        days = date_range(text) if type(text) is str else None
        return (days or self.dates(parent, key, path))[0]

    def end_date(self, parent: JsonObject, key: str, path: str) -> date | None:
        """Return the latest day a date element can mean (see ``dates`` module)."""
        text = parent.get(key)
        if text is None:
            return None
        days = date_range(text) if type(text) is str else None
        return (days or self.dates(parent, key, path))[1]


def shorten(text: str, limit: int = 80) -> str:
    """Cut a value quoted in a problem message, so one hostile string cannot flood a report."""
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def describe(resource: object) -> str:
    """Name a resource for a problem report: ``MedicationStatement/abc`` or what the JSON is."""
    if not isinstance(resource, dict):
        return f"a JSON {_JSON_KINDS.get(type(resource), 'value')}, not a resource"
    kind = resource.get("resourceType")
    if not isinstance(kind, str):
        return "an object without resourceType"
    ident = resource.get("id")
    name = shorten(kind, 40)
    return f"{name}/{shorten(ident, 64)}" if isinstance(ident, str) and ident else f"{name} (no id)"


_JSON_KINDS: dict[type, str] = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}
