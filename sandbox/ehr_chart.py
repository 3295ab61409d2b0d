"""The sandbox EHR's own reads of its FHIR server: the patient list, a chart, a hook's prefetch.

The EHR talks to the server behind the proxy directly (it is the EHR's own database); apps and
the CDS service go through the proxy with tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fhir_client import FhirClient, FhirError
from sandbox.auth import PatientChoice, PatientListError
from sandbox.patients import Scenario, scenario_of

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
class MedicationLine:
    """One medication record as the chart lists it: name, kind, status and dates, in words."""

    name: str
    kind: str  # "statement", "order", "pharmacy fill" or "dose given" (by resource type)
    status: str
    dates: str


@dataclass(frozen=True, slots=True)
class Chart:
    """One patient's chart as the EHR shows it."""

    patient: PatientChoice
    medications: tuple[MedicationLine, ...]
    conditions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ListedPatient:
    """A patient on the EHR's list, with the sample scenario it shows (None for others)."""

    patient: PatientChoice
    scenario: Scenario | None


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


def patient_list(client: FhirClient) -> list[ListedPatient]:
    """Return every patient on the server with its scenario, by name (PatientListError if not)."""
    try:
        patients = client.search("Patient", {"_count": str(PATIENT_PAGE)})
    except FhirError as error:
        raise PatientListError(error.message) from error
    found = [
        ListedPatient(choice(p), scenario_of(p))
        for p in patients
        if p.get("resourceType") == "Patient"
    ]
    return sorted(found, key=lambda listed: listed.patient.name.casefold())


def list_patients(client: FhirClient) -> list[PatientChoice]:
    """Return every patient on the server, by name (raises PatientListError when it cannot)."""
    return [listed.patient for listed in patient_list(client)]


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
        _medication_line(r, key, _included_medications(data[key]))
        for key in MEDICATION_KEYS
        for r in _resources(data[key])
        if r.get("resourceType") != "Medication"
    ]
    conditions = [_text(r, "code") for r in _resources(data["conditions"])]
    return Chart(
        patient=choice(data["patient"]),
        medications=tuple(medications),
        conditions=tuple(_short(c) for c in conditions),
    )


def _included_medications(bundle: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {
        f"Medication/{r.get('id')}": r
        for r in _resources(bundle)
        if r.get("resourceType") == "Medication"
    }


def _medication_line(
    resource: Mapping[str, Any], key: str, included: Mapping[str, Mapping[str, Any]]
) -> MedicationLine:
    kind, dates = _KINDS[key]
    return MedicationLine(
        name=_short(_medication_name(resource, included)),
        kind=kind,
        status=str(resource.get("status") or "status not recorded"),
        dates=dates(resource),
    )


def _medication_name(resource: Mapping[str, Any], included: Mapping[str, Mapping[str, Any]]) -> str:
    """Name the drug: its concept, else the Medication referenced (contained or included)."""
    named = _text(resource, "medicationCodeableConcept")
    if named:
        return named
    reference = resource.get("medicationReference")
    if not isinstance(reference, Mapping):
        return "(medication not named)"
    target = str(reference.get("reference") or "")
    medication: Mapping[str, Any] | None = included.get(target)
    if target.startswith("#"):
        contained = resource.get("contained")
        medication = next(
            (
                item
                for item in (contained if isinstance(contained, list) else [])
                if isinstance(item, Mapping)
                and item.get("resourceType") == "Medication"
                and item.get("id") == target[1:]
            ),
            None,
        )
    found = _text(medication, "code") if medication is not None else ""
    return found or str(reference.get("display") or "") or "(medication not named)"


def _statement_dates(resource: Mapping[str, Any]) -> str:
    period = resource.get("effectivePeriod")
    if isinstance(period, Mapping) and (period.get("start") or period.get("end")):
        start, end = period.get("start"), period.get("end")
        return " ".join(
            part for part in (f"from {start}" if start else "", f"to {end}" if end else "") if part
        )
    if resource.get("effectiveDateTime"):
        return f"on {resource['effectiveDateTime']}"
    return "no dates recorded"


def _request_dates(resource: Mapping[str, Any]) -> str:
    parts = [f"ordered {resource['authoredOn']}"] if resource.get("authoredOn") else []
    dispense = resource.get("dispenseRequest")
    validity = dispense.get("validityPeriod") if isinstance(dispense, Mapping) else None
    if isinstance(validity, Mapping) and validity.get("end"):
        parts.append(f"valid to {validity['end']}")
    return ", ".join(parts) or "no dates recorded"


def _dispense_dates(resource: Mapping[str, Any]) -> str:
    parts = [f"handed over {resource['whenHandedOver']}"] if resource.get("whenHandedOver") else []
    supply = resource.get("daysSupply")
    if isinstance(supply, Mapping) and supply.get("value") is not None:
        parts.append(f"{supply['value']} days' supply")
    return ", ".join(parts) or "no dates recorded"


_KINDS: dict[str, tuple[str, Callable[[Mapping[str, Any]], str]]] = {
    "medicationStatements": ("statement", _statement_dates),
    "medicationRequests": ("order", _request_dates),
    "medicationDispenses": ("pharmacy fill", _dispense_dates),
    # An administration's effective[x] reads like a statement's.
    "medicationAdministrations": ("dose given", _statement_dates),
}


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


def _short(text: str) -> str:
    text = " ".join(text.split()) or "(not named)"
    return text if len(text) <= NAME_LIMIT else text[: NAME_LIMIT - 1] + "…"
