"""What a request through the FHIR proxy asks to do, and whether a token's scopes allow it.

SMART App Launch 2.x, "Scopes and Launch Context": ``patient/`` scopes reach only the token's
patient's compartment, ``user/`` and ``system/`` scopes reach any patient. The proxy decides on
each side of the call: before (the interaction, and the patient a search names or a body
belongs to) and after (every resource the server returned must lie in an allowed compartment),
because the server may ignore a search parameter it does not know and answer unfiltered.
Anything whose patient cannot be told is refused under ``patient/`` scopes: fail closed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fhir_profiles.syntax import FHIR_ID, ID_SYNTAX, RESOURCE_TYPE
from sandbox.auth import Interaction, TokenInfo

# Resources that belong to no patient's compartment: patient/ scopes reach them (a policy the
# sandbox authorization server leaves to the proxy). Anything else must name its patient.
SHARED_TYPES = frozenset(
    {
        "ActivityDefinition",
        "CodeSystem",
        "Library",
        "Location",
        "Medication",
        "Organization",
        "PlanDefinition",
        "Practitioner",
        "PractitionerRole",
        "Questionnaire",
        "StructureDefinition",
        "Substance",
        "ValueSet",
    }
)
# The elements that tie a resource to its patient, in the order they are looked at.
_PATIENT_ELEMENTS = ("subject", "patient", "beneficiary")
_PATIENT_REFERENCE = re.compile(rf"Patient/({ID_SYNTAX})")

Params = tuple[tuple[str, str], ...]
Json = Mapping[str, Any]


class BadFhirRequest(ValueError):
    """The request is not one the proxy understands (answered 400 with an OperationOutcome)."""


class AccessDenied(Exception):
    """The token's scopes do not allow the request (answered 403 with an OperationOutcome)."""


@dataclass(frozen=True, slots=True)
class Operation:
    """One FHIR interaction: what it does (c r u d s), on which type, which resource or query."""

    interaction: Interaction
    resource_type: str
    resource_id: str | None = None
    params: Params = ()
    resource: Json | None = None
    history: bool = False

    @property
    def conditional(self) -> bool:
        """Tell whether an update or delete finds its target by a search instead of an id."""
        return self.resource_id is None and self.interaction in ("u", "d")

    @property
    def path(self) -> str:
        """Return the request path below the FHIR base, rebuilt from checked parts."""
        parts = [self.resource_type]
        if self.resource_id is not None:
            parts.append(self.resource_id)
        if self.history:
            parts.append("_history")
        return "/".join(parts)


def parse_operation(
    method: str, segments: Sequence[str], params: Params, body: Json | None
) -> Operation:
    """Classify a request below the FHIR base (``segments`` = the path split on ``/``)."""
    if not segments or not RESOURCE_TYPE.fullmatch(segments[0]):
        raise BadFhirRequest("The path must start with a FHIR resource type.")
    resource_type, rest = segments[0], list(segments[1:])
    if method == "POST" and rest == ["_search"]:
        return Operation("s", resource_type, params=params)
    if not rest:
        by_method: dict[str, Interaction] = {"GET": "s", "POST": "c", "PUT": "u", "DELETE": "d"}
        if method not in by_method:
            raise BadFhirRequest(f"{method} is not supported on a resource type.")
        interaction = by_method[method]
        if interaction in ("u", "d") and not params:
            raise BadFhirRequest("A conditional update or delete needs search criteria.")
        resource = _body(resource_type, body) if interaction in ("c", "u") else None
        return Operation(interaction, resource_type, params=params, resource=resource)
    resource_id = rest.pop(0)
    if not FHIR_ID.fullmatch(resource_id):
        raise BadFhirRequest("The resource id is not a valid FHIR id.")
    if rest and (method != "GET" or rest[0] != "_history" or len(rest) > 2):
        raise BadFhirRequest("Only read, vread and instance history are supported here.")
    if rest:
        if len(rest) == 2 and not FHIR_ID.fullmatch(rest[1]):
            raise BadFhirRequest("The version id is not a valid FHIR id.")
        return Operation("r", resource_type, resource_id, history=True)
    if method == "GET":
        return Operation("r", resource_type, resource_id)
    if method == "PUT":
        resource = _body(resource_type, body)
        if resource.get("id") != resource_id:
            raise BadFhirRequest("The resource id in the body must match the id in the URL.")
        return Operation("u", resource_type, resource_id, resource=resource)
    if method == "DELETE":
        return Operation("d", resource_type, resource_id)
    raise BadFhirRequest(f"{method} is not supported on a resource.")


def bundle_operations(bundle: Json) -> list[Operation]:
    """Classify each entry of a transaction or batch Bundle."""
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") not in ("transaction", "batch"):
        raise BadFhirRequest("POST to the FHIR base takes a transaction or batch Bundle.")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise BadFhirRequest("Bundle.entry must be an array.")
    operations = []
    for index, entry in enumerate(entries):
        request = entry.get("request") if isinstance(entry, Mapping) else None
        if not isinstance(request, Mapping):
            raise BadFhirRequest(f"Bundle.entry[{index}].request is required.")
        method, url = request.get("method"), request.get("url")
        if not isinstance(method, str) or not isinstance(url, str):
            raise BadFhirRequest(f"Bundle.entry[{index}].request needs method and url.")
        parts = urlsplit(url)
        if parts.scheme or parts.netloc:
            raise BadFhirRequest(f"Bundle.entry[{index}].request.url must be relative.")
        segments = [s for s in parts.path.split("/") if s]
        params = tuple(parse_qsl(parts.query, keep_blank_values=True))
        operations.append(parse_operation(method, segments, params, entry.get("resource")))
    return operations


def compartment_of(resource: Json, token_patient: str | None) -> str | None:
    """Return the id of the patient whose compartment ``resource`` lies in (None: unknown)."""
    resource_type = resource.get("resourceType")
    if resource_type == "Patient":
        found = resource.get("id")
        return found if isinstance(found, str) else None
    if resource_type in SHARED_TYPES:
        return token_patient
    for element in _PATIENT_ELEMENTS:
        reference = resource.get(element)
        if isinstance(reference, Mapping):
            match = _PATIENT_REFERENCE.fullmatch(str(reference.get("reference", "")))
            if match:
                return match.group(1)
    return None


def search_compartment(resource_type: str, params: Params, token_patient: str | None) -> str | None:
    """Return the one patient a search is confined to by its parameters, or None."""
    if resource_type in SHARED_TYPES:
        return token_patient
    found = set()
    for name, value in params:
        if "," in value and name in ("_id", "patient", "subject"):
            return None  # a comma is OR: several patients
        if resource_type == "Patient":
            if name == "_id":
                found.add(value)
        elif name == "patient" or (name == "subject" and value.startswith("Patient/")):
            found.add(value.removeprefix("Patient/"))
    return found.pop() if len(found) == 1 else None


def require(
    token: TokenInfo, interaction: Interaction, resource_type: str, compartment: str | None
) -> None:
    """Raise AccessDenied unless the token's scopes allow this interaction in this compartment."""
    if token.scopes.allows(resource_type, interaction, compartment):
        return
    words = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}
    verb = words[interaction]
    if token.scopes.allows(resource_type, interaction, token.patient):
        raise AccessDenied(
            f"The token allows {verb} of {resource_type} only in its own patient's compartment."
        )
    raise AccessDenied(f"The token's scopes do not allow {verb} of {resource_type}.")


def check_before(token: TokenInfo, operation: Operation) -> None:
    """Check what can be checked before the call: interaction, searched or written patient."""
    kind, patient = operation.resource_type, token.patient
    if operation.interaction == "s":
        compartment = search_compartment(kind, operation.params, patient)
        if compartment is None and not token.scopes.allows(kind, "s", None):
            raise AccessDenied(
                f"With patient scopes a {kind} search must name the patient "
                "(patient=<id> or subject=Patient/<id>; _id=<id> for Patient)."
            )
        require(token, "s", kind, compartment)
    elif operation.interaction == "r":
        # The compartment is known once the resource is back (check_after); a Patient by id now.
        require(token, "r", kind, operation.resource_id if kind == "Patient" else patient)
    elif operation.resource is not None:
        require(token, operation.interaction, kind, compartment_of(operation.resource, patient))
    else:
        require(token, operation.interaction, kind, patient)


def check_existing(token: TokenInfo, operation: Operation, existing: Sequence[Json]) -> None:
    """Check the resources an update or delete would change (read before the call)."""
    for resource in existing:
        if resource.get("resourceType") == "OperationOutcome":
            continue
        compartment = compartment_of(resource, token.patient)
        require(token, operation.interaction, operation.resource_type, compartment)


def check_after(token: TokenInfo, operation: Operation, answer: Json) -> None:
    """Check every resource the server returned against the token's compartment.

    A conditional create that matched answers with the existing resource, which may be another
    patient's: writes are checked on the way back too.
    """
    if operation.interaction == "d":
        return
    for resource, interaction in _returned(answer, operation.interaction):
        kind = str(resource.get("resourceType", ""))
        require(token, interaction, kind, compartment_of(resource, token.patient))


def _returned(answer: Json, interaction: Interaction) -> Iterator[tuple[Json, Interaction]]:
    """Yield each resource of an answer; included resources need read, matches the search."""
    if answer.get("resourceType") != "Bundle":
        yield answer, interaction
        return
    for entry in answer.get("entry", []):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping) or resource.get("resourceType") == "OperationOutcome":
            continue
        mode = entry.get("search", {}).get("mode") if isinstance(entry, Mapping) else None
        yield from _returned(resource, "r" if mode == "include" else interaction)


def _body(resource_type: str, body: Json | None) -> Json:
    if not isinstance(body, Mapping):
        raise BadFhirRequest("The request needs a FHIR resource as its JSON body.")
    if body.get("resourceType") != resource_type:
        raise BadFhirRequest(f"The body must be a {resource_type} resource.")
    return body
