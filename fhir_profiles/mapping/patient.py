"""Patient to the few facts the patient banner shows."""

from __future__ import annotations

from dataclasses import dataclass

from fhir_profiles.mapping.dates import date_range
from fhir_profiles.mapping.fields import Fields, JsonObject, describe
from fhir_profiles.mapping.resources import map_resources
from fhir_profiles.mapping.result import MappingResult, Problem

# Which HumanName to show first (FHIR name-use codes); "old" and "maiden" names come last.
_NAME_USE_ORDER = {"official": 0, "usual": 1, None: 2, "nickname": 3, "temp": 4, "anonymous": 5}


@dataclass(frozen=True, slots=True)
class PatientBanner:
    """Who the chart belongs to, as the banner shows it (text exactly as sent)."""

    id: str | None
    name: str | None = None
    birth_date: str | None = None  # a FHIR date as sent: "1980", "1980-04" or "1980-04-02"
    gender: str | None = None


def _patient(resource: JsonObject) -> tuple[PatientBanner | None, list[str]]:
    fields = Fields()
    birth_date = fields.string(resource, "birthDate", "")
    if birth_date is not None and date_range(birth_date) is None:
        fields.note("birthDate is not a valid FHIR date")
        birth_date = None
    banner = PatientBanner(
        id=fields.string(resource, "id", ""),
        name=_name(fields, resource),
        birth_date=birth_date,
        gender=fields.string(resource, "gender", ""),
    )
    return banner, fields.problems


def _name(fields: Fields, resource: JsonObject) -> str | None:
    """Return the best HumanName as one line: its ``text``, else given names then family."""
    names: list[tuple[int, str]] = []
    for path, name in fields.objects(resource, "name", ""):
        use = fields.string(name, "use", path)
        text = fields.string(name, "text", path)
        if not text:
            given = fields.strings(name, "given", path)
            family = fields.string(name, "family", path)
            text = " ".join([*given, *([family] if family else [])])
        if text:
            names.append((_NAME_USE_ORDER.get(use, 9), text))
    return min(names, key=lambda ranked: ranked[0])[1] if names else None


def read_patient(resource: object) -> MappingResult[PatientBanner]:
    """Read a Patient resource into a banner; anything else (or nothing) is reported."""
    if resource is None:
        return MappingResult(problems=(Problem("patient", "is missing"),))
    result = map_resources([("patient", resource)], {"Patient": _patient})
    if not result.records and not result.problems:
        # An informational OperationOutcome in place of the Patient is still no Patient.
        problem = Problem("patient", f"is {describe(resource)}, not a Patient")
        return MappingResult(problems=(problem,))
    return result
