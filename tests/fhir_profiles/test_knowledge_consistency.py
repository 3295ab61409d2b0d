"""The published ValueSets and CodeSystems say what the runtime rules do, code for code."""

from __future__ import annotations

import pytest

from clinical.assessment import AssessmentStatus
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


def test_the_duration_class_code_system_defines_exactly_the_rules_classes() -> None:
    concepts = load_artefact(canonical("CodeSystem", "opioid-duration-class"))["concept"]
    assert {concept["code"] for concept in concepts} == {c.value for c in DurationClass}


def test_the_evidence_grade_code_system_says_what_the_summary_says() -> None:
    concepts = load_artefact(canonical("CodeSystem", "ldn-evidence-grade"))["concept"]
    published = {concept["code"]: concept["display"] for concept in concepts}
    assert published == {g.code: g.display for g in EvidenceKnowledge.load().grades}


def test_the_review_outcome_code_system_defines_exactly_the_assessment_statuses() -> None:
    concepts = load_artefact(canonical("CodeSystem", "opioid-review-outcome"))["concept"]
    assert {concept["code"] for concept in concepts} == {s.value for s in AssessmentStatus}
