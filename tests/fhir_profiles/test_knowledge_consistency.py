"""The published ValueSets and CodeSystems say what the runtime rules do, code for code."""

from __future__ import annotations

import pytest

from clinical.conditions import ConditionGroup, ConditionKnowledge, classify_conditions
from clinical.evidence import EvidenceKnowledge
from clinical.naltrexone import recognise_naltrexone
from clinical.opioids import DurationClass, OpioidKnowledge, identify_opioid
from clinical.records import (
    ICD10CM,
    SNOMED,
    Coding,
    Concept,
    ConditionRecord,
    Medication,
    MedicationRecord,
    Source,
)
from fhir_profiles.artefacts import canonical, load_artefact

OPIOIDS = OpioidKnowledge.load()
CONDITIONS = ConditionKnowledge.load()


def _expansion(value_set_id: str) -> list[dict[str, str]]:
    return load_artefact(canonical("ValueSet", value_set_id))["expansion"]["contains"]


def _code_only(system: str, code: str) -> Medication:
    return Medication(concept=Concept(codings=(Coding(system=system, code=code),)))


@pytest.mark.parametrize("value_set_id", ["opioid-products", "opioid-ingredients"])
def test_every_code_in_an_opioid_value_set_is_flagged_by_the_rules(value_set_id: str) -> None:
    missed = [
        entry["code"]
        for entry in _expansion(value_set_id)
        if identify_opioid(_code_only(entry["system"], entry["code"]), OPIOIDS) is None
    ]
    assert missed == []


def test_no_naloxone_only_product_is_flagged_by_the_rules() -> None:
    flagged = [
        entry["code"]
        for entry in _expansion("naloxone-only-products")
        if identify_opioid(_code_only(entry["system"], entry["code"]), OPIOIDS) is not None
    ]
    assert flagged == []


def test_every_naltrexone_product_is_recognised_as_an_order() -> None:
    missed = []
    for entry in _expansion("naltrexone-products"):
        record = MedicationRecord(
            source=Source.REQUEST,
            id="draft",
            status="draft",
            medication=_code_only(entry["system"], entry["code"]),
        )
        if recognise_naltrexone(record, OPIOIDS) is None:
            missed.append(entry["code"])
    assert missed == []


@pytest.mark.parametrize("group", list(ConditionGroup))
def test_every_code_in_a_condition_value_set_is_classified_in_its_group(
    group: ConditionGroup,
) -> None:
    value_set_id = "condition-" + group.value.replace("_", "-").replace("crohns", "crohns-disease")
    missed = []
    for entry in _expansion(value_set_id):
        assert entry["system"] in (SNOMED, ICD10CM)
        condition = ConditionRecord(
            id="c", code=Concept(codings=(Coding(system=entry["system"], code=entry["code"]),))
        )
        if group not in classify_conditions([condition], CONDITIONS):
            missed.append(entry["code"])
    assert missed == []


@pytest.mark.parametrize(
    ("code_system_id", "codes"),
    [
        ("opioid-duration-class", {c.value for c in DurationClass}),
        ("ldn-evidence-grade", {g.code for g in EvidenceKnowledge.load().grades}),
    ],
)
def test_code_systems_define_exactly_the_codes_the_rules_use(
    code_system_id: str, codes: set[str]
) -> None:
    concepts = load_artefact(canonical("CodeSystem", code_system_id))["concept"]
    assert {concept["code"] for concept in concepts} == codes
