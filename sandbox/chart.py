"""The sandbox EHR's own reads of its FHIR server: the patient list, a chart, a hook's prefetch.

The EHR talks to the server behind the proxy directly (it is the EHR's own database); apps and
the CDS service go through the proxy with tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fhir_client import FhirClient, FhirError
from sandbox.auth import PatientChoice, PatientListError

NAME_LIMIT = 80
PATIENT_PAGE = 200
# The CDS service's prefetch templates (its discovery document), each run for the patient with
# the referenced Medications included: the sandbox sends them complete, never a first page only.
PREFETCH_SEARCHES = {
    "medicationStatements": ("MedicationStatement", "MedicationStatement:medication"),
    "medicationRequests": ("MedicationRequest", "MedicationRequest:medication"),
    "medicationDispenses": ("MedicationDispense", "MedicationDispense:medication"),
    "medicationAdministrations": (
        "MedicationAdministration",
        "MedicationAdministration:medication",
    ),
    "conditions": ("Condition", None),
}
MEDICATION_KEYS = tuple(key for key in PREFETCH_SEARCHES if key.startswith("medication"))


class ChartUnavailable(Exception):
    """The EHR's FHIR server could not give what a page needs."""


@dataclass(frozen=True, slots=True)
class Chart:
    """One patient's chart as the EHR shows it."""

    patient: PatientChoice
    medications: tuple[str, ...]
    conditions: tuple[str, ...]


def display_name(patient: Mapping[str, Any]) -> str:
    """Return a patient's name for display, cut to ``NAME_LIMIT`` characters."""
    names = patient.get("name") or [{}]
    name = names[0] if isinstance(names[0], Mapping) else {}
    given = name.get("given") or []
    text = name.get("text") or " ".join(str(part) for part in [*given, name.get("family", "")])
    text = " ".join(str(text).split()) or "(no name)"
    return text if len(text) <= NAME_LIMIT else text[: NAME_LIMIT - 1] + "…"


def choice(patient: Mapping[str, Any]) -> PatientChoice:
    """Return the list entry of one Patient resource."""
    return PatientChoice(
        id=str(patient.get("id")),
        name=display_name(patient),
        birth_date=patient.get("birthDate"),
        gender=patient.get("gender"),
    )


def list_patients(client: FhirClient) -> list[PatientChoice]:
    """Return every patient on the server, by name (raises PatientListError when it cannot)."""
    try:
        patients = client.search("Patient", {"_count": str(PATIENT_PAGE)})
    except FhirError as error:
        raise PatientListError(error.message) from error
    found = [choice(p) for p in patients if p.get("resourceType") == "Patient"]
    return sorted(found, key=lambda p: p.name.casefold())


def prefetch(client: FhirClient, patient_id: str) -> dict[str, Any]:
    """Run the CDS service's prefetch queries for one patient; every Bundle holds all pages."""
    try:
        found: dict[str, Any] = {"patient": client.read("Patient", patient_id)}
        for key, (resource_type, include) in PREFETCH_SEARCHES.items():
            params = {"patient": patient_id, "_count": "100"}
            if include:
                params["_include"] = include
            found[key] = _searchset(client.search(resource_type, params))
    except FhirError as error:
        raise ChartUnavailable(error.message) from error
    return found


def chart(data: Mapping[str, Any]) -> Chart:
    """Summarise a prefetch for the chart page: the patient, medications and conditions."""
    medications = [
        _text(r, "medicationCodeableConcept") or _reference_display(r, "medicationReference")
        for key in MEDICATION_KEYS
        for r in _resources(data[key])
        if r.get("resourceType") != "Medication"
    ]
    conditions = [_text(r, "code") for r in _resources(data["conditions"])]
    return Chart(
        patient=choice(data["patient"]),
        medications=tuple(_short(m) for m in medications),
        conditions=tuple(_short(c) for c in conditions),
    )


def _searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": resource} for resource in resources],
    }


def _resources(bundle: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [entry["resource"] for entry in bundle.get("entry", [])]


def _text(resource: Mapping[str, Any], element: str) -> str:
    concept = resource.get(element)
    if not isinstance(concept, Mapping):
        return ""
    codings = concept.get("coding") or [{}]
    return str(concept.get("text") or codings[0].get("display") or "")


def _reference_display(resource: Mapping[str, Any], element: str) -> str:
    reference = resource.get(element)
    if not isinstance(reference, Mapping):
        return "(medication not named)"
    return str(reference.get("display") or reference.get("reference") or "")


def _short(text: str) -> str:
    text = " ".join(text.split()) or "(not named)"
    return text if len(text) <= NAME_LIMIT else text[: NAME_LIMIT - 1] + "…"
