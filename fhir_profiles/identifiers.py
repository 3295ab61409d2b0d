"""Identifiers, references and times of the resources the app writes, checked before use.

The CarePlan and its evidence DocumentReference are created together, each with a business
identifier, by conditional create (``ifNoneExist``), so a retried save finds what the first one
wrote instead of writing it twice: writes are idempotent. The caller makes one UUID per plan; the
DocumentReference's identifier and both transaction ``fullUrl`` values are derived from it, so a
retry sends exactly the same transaction.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from fhir_profiles.artefacts import (
    CAREPLAN_IDENTIFIER_SYSTEM,
    DOCUMENTREFERENCE_IDENTIFIER_SYSTEM,
)
from fhir_profiles.syntax import ID_SYNTAX, is_fhir_id

# A literal reference: relative ``Type/id`` or absolute ``http(s)://base/Type/id``, either with an
# optional ``/_history/version``.
_LITERAL_REFERENCE = re.compile(
    rf"(?:https?://[^\s/]+(?:/[^\s/]+)*/)?(?P<type>[A-Z][A-Za-z]+)/(?P<id>{ID_SYNTAX})"
    rf"(?:/_history/{ID_SYNTAX})?"
)
_URN_UUID = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# Whom the two profiles accept as author (the DocumentReference profile follows US Core).
AUTHOR_TYPES = frozenset({"Practitioner", "PractitionerRole", "Organization", "Device"})


class InvalidResourceInput(ValueError):
    """An input for a resource we write is not valid; the message says which one and why."""


@dataclass(frozen=True, slots=True)
class Identifier:
    """A business identifier: ``system`` and ``value``."""

    system: str
    value: str

    def to_fhir(self) -> dict[str, str]:
        """Return the FHIR Identifier JSON."""
        return {"system": self.system, "value": self.value}

    @property
    def search(self) -> str:
        """The ``identifier`` search query that finds the resource, e.g. for ``ifNoneExist``."""
        return "identifier=" + quote(f"{self.system}|{self.value}", safe=":/|")

    @property
    def full_url(self) -> str:
        """A ``urn:uuid`` fullUrl for a transaction entry, the same on every retry."""
        return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{self.system}|{self.value}')}"


@dataclass(frozen=True, slots=True)
class AuthorReference:
    """Who wrote a resource: the clinician (SMART ``fhirUser``) or the app as Device/Organization.

    ``reference`` is a literal reference, relative (``Practitioner/123``) or absolute, as the EHR
    gives ``fhirUser``.
    """

    reference: str
    display: str | None = None

    def __post_init__(self) -> None:
        kind = reference_type(self.reference, "author")
        if kind not in AUTHOR_TYPES:
            raise InvalidResourceInput(
                f"The author must be one of {', '.join(sorted(AUTHOR_TYPES))}, "
                f"not a {kind} ({self.reference!r})."
            )

    @property
    def resource_type(self) -> str:
        """The author's resource type (``Practitioner``, ``Device``...)."""
        return reference_type(self.reference, "author")

    def to_fhir(self) -> dict[str, str]:
        """Return the FHIR Reference JSON."""
        return _reference(self.reference, self.display)


def reference_type(reference: str, what: str) -> str:
    """Return the resource type a literal reference names; raise if it is not one."""
    match = _LITERAL_REFERENCE.fullmatch(reference) if isinstance(reference, str) else None
    if match is None:
        raise InvalidResourceInput(
            f"The {what} reference must look like 'Type/id' or 'https://server/Type/id', "
            f"not {reference!r}."
        )
    return match["type"]


def check_fhir_id(value: str, what: str) -> str:
    """Return ``value`` if it is a valid FHIR id (letters, digits, '-', '.', at most 64)."""
    if not is_fhir_id(value):
        raise InvalidResourceInput(
            f"The {what} id must be 1 to 64 letters, digits, '-' or '.', not {value!r}."
        )
    return value


def check_aware(moment: datetime, what: str) -> datetime:
    """Return ``moment`` if it is a datetime with a time zone (FHIR needs one with a time)."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise InvalidResourceInput(f"The {what} time must be a datetime with a time zone.")
    return moment


def optional_text(value: str | None, what: str) -> str | None:
    """Return free text stripped, or None when absent or blank; anything but text is refused."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidResourceInput(f"The {what} must be text, not {type(value).__name__}.")
    return value.strip() or None


def local_reference(resource_type: str, resource_id: str, display: str | None) -> dict[str, str]:
    """Return a Reference to ``resource_type/resource_id`` (the id is checked)."""
    return _reference(f"{resource_type}/{check_fhir_id(resource_id, resource_type)}", display)


def plan_reference(reference: str, display: str | None) -> dict[str, str]:
    """Return a Reference to a CarePlan: ``CarePlan/id``, an absolute URL, or a ``urn:uuid``."""
    if not (isinstance(reference, str) and _URN_UUID.fullmatch(reference)):
        kind = reference_type(reference, "CarePlan")
        if kind != "CarePlan":
            raise InvalidResourceInput(f"The plan reference names a {kind}, not a CarePlan.")
    return _reference(reference, display)


def _reference(reference: str, display: str | None) -> dict[str, str]:
    return {"reference": reference, "display": display} if display else {"reference": reference}


def _plan_value(plan_identifier: str) -> str:
    # Only the canonical lower-case form: another spelling of the same UUID would not match the
    # identifier search of a retry, and the plan would be written twice.
    try:
        canonical = str(uuid.UUID(plan_identifier))
    except (TypeError, ValueError, AttributeError):
        canonical = None
    if canonical != plan_identifier:
        raise InvalidResourceInput(
            "The plan identifier must be a UUID in lower-case canonical form "
            f"(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), not {plan_identifier!r}."
        )
    return plan_identifier


def careplan_identifier(plan_identifier: str) -> Identifier:
    """Return the CarePlan's business identifier for the caller's plan UUID."""
    return Identifier(CAREPLAN_IDENTIFIER_SYSTEM, _plan_value(plan_identifier))


def document_identifier(plan_identifier: str) -> Identifier:
    """Return the evidence DocumentReference's identifier, derived from the plan UUID."""
    return Identifier(DOCUMENTREFERENCE_IDENTIFIER_SYSTEM, _plan_value(plan_identifier))


def careplan_full_url(plan_identifier: str) -> str:
    """Return the CarePlan's ``urn:uuid`` in the save transaction (for the document to point at)."""
    return careplan_identifier(plan_identifier).full_url
