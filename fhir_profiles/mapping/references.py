"""Resolve references to the Medication (or ingredient Substance) they point at.

US Core lets a server send the Medication contained in the resource (``#id``), as another entry
of the Bundle (``_include``), or as a separate resource; clients must support all three
(US Core 6.1.0, medication list guidance).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeGuard

from clinical.records import Medication
from fhir_profiles.mapping.fields import JsonObject

# Resource types that are looked up through references rather than mapped themselves.
REFERENCED_TYPES = frozenset({"Medication", "Substance"})


def is_referenced_type(resource: object) -> TypeGuard[JsonObject]:
    """Tell whether a resource is a Medication or Substance (material for resolution)."""
    if not isinstance(resource, dict):
        return False
    kind = resource.get("resourceType")
    return isinstance(kind, str) and kind in REFERENCED_TYPES


class References:
    """Medications and Substances that references can point at, by every name they go by.

    One read of many resources shares it; it also keeps the medications already read, by the
    JSON text they were read from, with the problems each noted: a chart names the same few
    products (and compounded Medications) hundreds of times, and each is then read once.
    """

    __slots__ = ("_by_reference", "medications", "named")

    def __init__(self) -> None:
        self._by_reference: dict[str, JsonObject] = {}
        self.medications: dict[bytes, tuple[Medication, tuple[str, ...]]] = {}
        # The ids of kept medications seen to name what they are (a code, display or text):
        # each is alive as long as ``medications``, so no other object can bear its id.
        self.named: set[int] = set()

    def add(self, resource: JsonObject, full_url: object = None) -> None:
        """Make ``resource`` findable by ``Type/id`` and, when given, by its Bundle fullUrl."""
        if isinstance(full_url, str) and full_url:
            self._by_reference[full_url] = resource
        kind, ident = resource.get("resourceType"), resource.get("id")
        if isinstance(kind, str) and isinstance(ident, str) and ident:
            self._by_reference[f"{kind}/{ident}"] = resource

    def add_all(self, medications: Mapping[str, object]) -> None:
        """Add resources passed separately, keyed by the reference that names them."""
        for key, resource in medications.items():
            if isinstance(resource, dict):
                self.add(resource, key)

    def resolve(self, reference: str, container: JsonObject) -> JsonObject | None:
        """Return the resource ``reference`` names: contained in ``container``, or known here."""
        if reference.startswith("#"):
            return _contained(container, reference[1:])
        # A versioned reference names the same resource as far as its code is concerned.
        return self._by_reference.get(reference.split("/_history/", 1)[0])


def _contained(container: JsonObject, ident: str) -> JsonObject | None:
    contained = container.get("contained")
    if not isinstance(contained, list):
        return None
    for resource in contained:
        if isinstance(resource, dict) and resource.get("id") == ident:
            return resource
    return None
