"""The sample patients as one FHIR transaction Bundle, and what the product must say of each.

The patients live in ``sandbox/data/sample-patients.json``; dates there are relative to a given
day (``@today-5``), so the bundle is built for a ``today`` and tests stay deterministic. Every
resource carries a business identifier (``IDENTIFIER_SYSTEM``) and the ``ldn-sample`` tag: loading
is a conditional update on the identifier (no duplicates, dates move with ``today``), and
whatever the samples created can be found and removed by the tag.

``expectations(today)`` is the one source of truth for the expected outcome per patient, shared by
the tests of the CDS service, the app and the checker.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import urlencode

IDENTIFIER_SYSTEM = "http://ldn-safety.example.org/fhir/sample-id"
TAG_SYSTEM = "http://ldn-safety.example.org/fhir/tag"
TAG_CODE = "ldn-sample"
SAMPLE_TAG = {"system": TAG_SYSTEM, "code": TAG_CODE, "display": "LDN Opioid-Safety sample data"}

STATUSES = frozenset(
    {"safe-to-start", "wait-until", "specialist-guidance", "do-not-start", "uncertain"}
)
INFO_FLAGS = frozenset({"aud", "liver"})
# Warning cards beside the opioid card: opioid use disorder, naltrexone already taken.
CAUTION_FLAGS = frozenset({"oud", "naltrexone"})

_RELATIVE_DATE = re.compile(r"@today(?:([+-])(\d+))?")
_LOCAL_REFERENCE = "@ref:"
_HAS_SUBJECT = frozenset(
    {
        "Condition",
        "MedicationAdministration",
        "MedicationDispense",
        "MedicationRequest",
        "MedicationStatement",
    }
)
_DAYS_28 = {"value": 28, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}


@dataclass(frozen=True, slots=True)
class Expectation:
    """What the opioid check must conclude for one sample patient on a given day."""

    status: str
    earliest_start: date | None
    info: frozenset[str]
    cautions: frozenset[str]
    opioids: tuple[str, ...]
    why: str


def sample_keys() -> tuple[str, ...]:
    """Return the keys of the sample patients (their identifier values), in bundle order."""
    return tuple(spec["key"] for spec in _samples()["patients"])


def expectations(today: date) -> dict[str, Expectation]:
    """Return the expected outcome for each sample patient, keyed by patient key."""
    out = {}
    for spec in _samples()["patients"]:
        expected = spec["expected"]
        days = expected["earliestStartInDays"]
        out[spec["key"]] = Expectation(
            status=expected["status"],
            earliest_start=None if days is None else today + timedelta(days=days),
            info=frozenset(expected["info"]),
            cautions=frozenset(expected["cautions"]),
            opioids=tuple(expected["opioids"]),
            why=expected["why"],
        )
    return out


@dataclass(frozen=True, slots=True)
class Scenario:
    """Which rule a sample patient shows, for the EHR's patient list."""

    key: str
    outcome: str  # the expected review status, in words ("do not start")
    why: str


def scenario_of(patient: Mapping[str, Any]) -> Scenario | None:
    """Return the scenario of a sample Patient resource (None for any other patient)."""
    identifiers = patient.get("identifier")
    values = [
        item.get("value")
        for item in (identifiers if isinstance(identifiers, list) else [])
        if isinstance(item, Mapping) and item.get("system") == IDENTIFIER_SYSTEM
    ]
    specs = {spec["key"]: spec for spec in _samples()["patients"]}
    spec = next((specs[value] for value in values if value in specs), None)
    if spec is None:
        return None
    expected = spec["expected"]
    return Scenario(spec["key"], expected["status"].replace("-", " "), expected["why"])


def sample_bundle(today: date) -> dict[str, Any]:
    """Build the transaction Bundle that creates or refreshes every sample patient for ``today``."""
    entries = []
    for spec in _samples()["patients"]:
        entries.extend(_patient_entries(spec, today))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def identifier_query(resource_type: str, value: str) -> str:
    """Return the conditional URL that finds the sample resource with this identifier value."""
    return f"{resource_type}?{urlencode({'identifier': f'{IDENTIFIER_SYSTEM}|{value}'})}"


@cache
def _samples() -> dict[str, Any]:
    text = files("sandbox").joinpath("data/sample-patients.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _patient_entries(spec: dict[str, Any], today: date) -> list[dict[str, Any]]:
    key = spec["key"]
    patient = copy.deepcopy(spec["patient"])
    if "familyNameLength" in spec:
        name = patient["name"][0]
        name["family"] = _stretch(name["family"], spec["familyNameLength"])
    patient_entry = _entry(patient, key)
    records = [(record["key"], record["resource"]) for record in spec["records"]]
    if "filler" in spec:
        filler = _filler(spec["filler"])
        at = spec["filler"]["insertRecordsAt"]
        records = filler[:at] + records + filler[at:]
    local = {record_key: _full_url(f"{key}.{record_key}") for record_key, _ in records}
    entries = [patient_entry]
    for record_key, template in records:
        resource = _resolve(copy.deepcopy(template), today, local)
        if resource["resourceType"] in _HAS_SUBJECT:
            resource["subject"] = {"reference": patient_entry["fullUrl"]}
        entries.append(_entry(resource, f"{key}.{record_key}"))
    return entries


def _entry(resource: dict[str, Any], value: str) -> dict[str, Any]:
    resource_type = resource.pop("resourceType")
    tagged = {
        "resourceType": resource_type,
        "meta": {"tag": [SAMPLE_TAG]},
        "identifier": [{"system": IDENTIFIER_SYSTEM, "value": value}],
        **resource,
    }
    return {
        "fullUrl": _full_url(value),
        "resource": tagged,
        "request": {"method": "PUT", "url": identifier_query(resource_type, value)},
    }


def _full_url(value: str) -> str:
    # Deterministic, so that the same day always builds the same bundle.
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{IDENTIFIER_SYSTEM}|{value}')}"


def _resolve(node: Any, today: date, local: dict[str, str]) -> Any:
    """Replace relative dates and local references anywhere in a resource template."""
    if isinstance(node, dict):
        return {name: _resolve(value, today, local) for name, value in node.items()}
    if isinstance(node, list):
        return [_resolve(value, today, local) for value in node]
    if isinstance(node, str):
        if match := _RELATIVE_DATE.fullmatch(node):
            sign, days = match.groups()
            offset = int(days or 0) * (-1 if sign == "-" else 1)
            return (today + timedelta(days=offset)).isoformat()
        if node.startswith(_LOCAL_REFERENCE):
            return local[node.removeprefix(_LOCAL_REFERENCE)]
    return node


def _stretch(text: str, length: int) -> str:
    return (text * (length // len(text) + 1))[:length]


def _filler(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Build ``count`` non-opioid records, alternating MedicationStatement and MedicationRequest.

    Each lasted four weeks, the earliest about five years ago; the last one per medication is
    still active (a current medication list among years of history).
    """
    medications = spec["medications"]
    count = spec["count"]
    records = []
    for n in range(count):
        concept = medications[n % len(medications)]
        active = n >= count - len(medications)
        start = f"@today-{1800 - 5 * n}"
        period = {"start": start} if active else {"start": start, "end": f"@today-{1772 - 5 * n}"}
        if n % 2 == 0:
            resource = {
                "resourceType": "MedicationStatement",
                "status": "active" if active else "completed",
                "medicationCodeableConcept": concept,
                "effectivePeriod": period,
            }
        else:
            resource = {
                "resourceType": "MedicationRequest",
                "status": "active" if active else "completed",
                "intent": "order",
                "medicationCodeableConcept": concept,
                "authoredOn": start,
                "dispenseRequest": {
                    "validityPeriod": period,
                    "expectedSupplyDuration": _DAYS_28,
                },
            }
        records.append((f"filler-{n + 1:03d}", resource))
    return records
