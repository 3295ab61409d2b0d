"""Every CDC opioid code is caught whatever FHIR shape carries it, from JSON to the decision.

The clinical tests prove the rules on records; this proves the whole read path a server's data
takes: FHIR JSON -> ``fhir_profiles.mapping`` -> ``clinical.exposure``. One active resource per
code of each shared CDC opioid value set (naloxone-only products excluded), in five shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from clinical.exposure import assess_exposures
from clinical.opioids import OpioidKnowledge
from clinical.records import RXNORM
from fhir_profiles.mapping import read_bundle
from tests.clinical.medication_builders import cdc_value_sets, naloxone_only

KNOWLEDGE = OpioidKnowledge.load()
SUBJECT = {"reference": "Patient/p1"}
TODAY = date(2026, 3, 16)


def _statement(index: int, medication: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "resourceType": "MedicationStatement",
            "id": f"ms{index}",
            "status": "active",
            "subject": SUBJECT,
            "medicationCodeableConcept": medication,
        }
    ]


def _coded_with_display(index: int, code: str, display: str) -> list[dict[str, Any]]:
    return _statement(index, {"coding": [{"system": RXNORM, "code": code, "display": display}]})


def _code_only(index: int, code: str, display: str) -> list[dict[str, Any]]:
    return _statement(index, {"coding": [{"system": RXNORM, "code": code}]})


def _text_only(index: int, code: str, display: str) -> list[dict[str, Any]]:
    return _statement(index, {"text": display})


def _contained(index: int, code: str, display: str) -> list[dict[str, Any]]:
    return [
        {
            "resourceType": "MedicationRequest",
            "id": f"mr{index}",
            "status": "active",
            "intent": "order",
            "subject": SUBJECT,
            "contained": [
                {
                    "resourceType": "Medication",
                    "id": "med",
                    "code": {"coding": [{"system": RXNORM, "code": code}]},
                }
            ],
            "medicationReference": {"reference": "#med"},
        }
    ]


def _referenced(index: int, code: str, display: str) -> list[dict[str, Any]]:
    return [
        {
            "resourceType": "MedicationRequest",
            "id": f"mr{index}",
            "status": "active",
            "intent": "order",
            "subject": SUBJECT,
            "medicationReference": {"reference": f"Medication/m{index}"},
        },
        {
            "resourceType": "Medication",
            "id": f"m{index}",
            "code": {"coding": [{"system": RXNORM, "code": code, "display": display}]},
        },
    ]


SHAPES: dict[str, Callable[[int, str, str], list[dict[str, Any]]]] = {
    "coded with display": _coded_with_display,
    "code only": _code_only,
    "text only": _text_only,
    "contained Medication": _contained,
    "referenced Medication": _referenced,
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("value_set", sorted(cdc_value_sets()))
def test_every_cdc_opioid_code_in_every_fhir_shape_is_an_active_exposure(
    value_set: str, shape: str
) -> None:
    concepts = [c for c in cdc_value_sets()[value_set] if c[0] not in naloxone_only()]
    resources = [
        resource
        for index, (code, display) in enumerate(concepts)
        for resource in SHAPES[shape](index, code, display)
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }
    result = read_bundle(bundle)
    assert result.problems == ()
    review = assess_exposures(result.records, KNOWLEDGE, today=TODAY)
    found = {exposure.reference for exposure in review.exposures}
    missed = [record.reference for record in result.records if record.reference not in found]
    assert len(result.records) == len(concepts)
    assert missed == []
    assert review.unchecked == ()
