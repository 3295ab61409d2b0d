"""Remove everything the checker wrote to a FHIR server: the sample patients and the saved plans.

The samples are found by their ``ldn-sample`` tag; the plans by their business-identifier system,
and only those about a sample patient (a shared sandbox may hold plans the app saved for other
patients). Each resource is deleted by id, because a conditional delete may remove one match only
(SEKMET answers 412 to more). Records go before the Patient they point at, so that servers that
enforce referential integrity (HAPI does) accept every delete.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fhir_client import FhirClient
from fhir_profiles.artefacts import CAREPLAN_IDENTIFIER_SYSTEM, DOCUMENTREFERENCE_IDENTIFIER_SYSTEM
from sandbox.patients import TAG_CODE, TAG_SYSTEM

TAG_QUERY = f"{TAG_SYSTEM}|{TAG_CODE}"
PLAN_SYSTEMS = {
    "CarePlan": CAREPLAN_IDENTIFIER_SYSTEM,
    "DocumentReference": DOCUMENTREFERENCE_IDENTIFIER_SYSTEM,
}
# Referrers first, the Patient last.
DELETE_ORDER = (
    "DocumentReference",
    "CarePlan",
    "Practitioner",
    "MedicationAdministration",
    "MedicationDispense",
    "MedicationStatement",
    "MedicationRequest",
    "Condition",
    "Medication",
    "Patient",
)
_PAGE = "100"


@dataclass(frozen=True, slots=True)
class CleanupReport:
    """How many resources of each type were deleted, and how many tagged ones are left."""

    deleted: Mapping[str, int]
    remaining: int

    @property
    def total(self) -> int:
        """Return the number of resources deleted."""
        return sum(self.deleted.values())

    def describe(self) -> str:
        """Say it in one line: ``deleted 333 (Patient 12, ...); 0 left``."""
        counts = ", ".join(f"{kind} {n}" for kind, n in self.deleted.items() if n)
        return (
            f"deleted {self.total}"
            + (f" ({counts})" if counts else "")
            + f"; {self.remaining} left"
        )


def _of_type(resources: list[dict[str, Any]], resource_type: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in resources if r.get("resourceType") == resource_type and "id" in r}


def _tagged(client: FhirClient, resource_type: str) -> dict[str, dict[str, Any]]:
    return _of_type(
        client.search(resource_type, {"_tag": TAG_QUERY, "_count": _PAGE}), resource_type
    )


def _plans(client: FhirClient, resource_type: str, patient_ids: set[str]) -> dict[str, Any]:
    """Return the saved plan resources of ``resource_type`` about a sample patient."""
    found = client.search(
        resource_type, {"identifier": f"{PLAN_SYSTEMS[resource_type]}|", "_count": _PAGE}
    )
    return {
        ident: resource
        for ident, resource in _of_type(found, resource_type).items()
        if str((resource.get("subject") or {}).get("reference", "")).rsplit("/", 1)[-1]
        in patient_ids
    }


def tagged_resources(client: FhirClient) -> list[dict[str, Any]]:
    """Return every resource on the server that carries the sample tag."""
    return [resource for kind in DELETE_ORDER for resource in _tagged(client, kind).values()]


def count_left(client: FhirClient, patient_ids: set[str]) -> int:
    """Return how many tagged resources, and plans about ``patient_ids``, the server holds."""
    return len(tagged_resources(client)) + sum(
        len(_plans(client, kind, patient_ids)) for kind in PLAN_SYSTEMS
    )


def clean_up(client: FhirClient) -> CleanupReport:
    """Delete the sample patients, their records and the checker's plans; count what is left."""
    patient_ids = set(_tagged(client, "Patient"))
    deleted = {}
    for kind in DELETE_ORDER:
        doomed = _tagged(client, kind)
        if kind in PLAN_SYSTEMS:
            doomed.update(_plans(client, kind, patient_ids))
        for resource_id in doomed:
            client.delete(kind, resource_id)
        deleted[kind] = len(doomed)
    return CleanupReport(deleted=deleted, remaining=count_left(client, patient_ids))
