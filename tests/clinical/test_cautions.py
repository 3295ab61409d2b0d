"""Cautions beside the opioid decision: opioid use disorder and naltrexone already taken."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from clinical.cautions import CautionKind, CautionKnowledge, find_cautions
from clinical.conditions import ConditionKnowledge, match_conditions
from clinical.knowledge import load_knowledge
from clinical.records import ICD10CM, Coding, Concept, ConditionRecord, MedicationRecord, Source
from tests.clinical.medication_builders import coded, named, record

TODAY = date(2026, 6, 15)
KNOWN = load_knowledge()
DATA = Path(__file__).parents[2] / "clinical" / "data"


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def cautions(
    records: list[MedicationRecord], conditions: list[ConditionRecord] = ()
) -> dict[CautionKind, tuple[str, ...]]:
    matches = match_conditions(conditions, ConditionKnowledge.load())
    found = find_cautions(records, matches, KNOWN.opioids, KNOWN.cautions, KNOWN.windows, TODAY)
    return {caution.kind: caution.found for caution in found}


def oud(clinical_status: str | None = "active") -> ConditionRecord:
    code = Concept((Coding(ICD10CM, "F11.20", "Opioid dependence, uncomplicated"),))
    return ConditionRecord("c1", code, clinical_status=clinical_status)


@pytest.mark.parametrize(
    ("status", "raised"),
    [
        ("active", True),
        (None, True),
        ("recurrence", True),
        ("resolved", False),
        ("inactive", False),
    ],
)
def test_opioid_use_disorder_on_the_chart_raises_a_caution(
    status: str | None, raised: bool
) -> None:
    found = cautions([], [oud(status)])
    assert (CautionKind.OPIOID_USE_DISORDER in found) is raised
    if raised:
        assert found[CautionKind.OPIOID_USE_DISORDER] == (
            "Opioid dependence, uncomplicated (Condition/c1)",
        )


NALTREXONE_50 = coded("1483744", "naltrexone hydrochloride 50 MG Oral Tablet")
VIVITROL = named("Vivitrol 380 mg extended-release injectable suspension")


@pytest.mark.parametrize(
    ("chart", "raised"),
    [
        (record(NALTREXONE_50, "active", source=Source.REQUEST), True),
        (record(NALTREXONE_50, "completed", started=days_ago(20), supply_days=30), True),
        (record(NALTREXONE_50, "completed", started=days_ago(100), ended=days_ago(70)), False),
        (record(NALTREXONE_50, "draft", source=Source.REQUEST), False),
        (record(NALTREXONE_50, "entered-in-error"), False),
        (record(named("Contrave 8 mg/90 mg ER tablet"), "active"), True),
        (record(named("LDN 4.5 mg capsule"), "active"), True),
        (record(VIVITROL, "completed", source=Source.ADMINISTRATION, started=days_ago(12)), True),
        (record(VIVITROL, "completed", source=Source.ADMINISTRATION, started=days_ago(40)), False),
        (record(VIVITROL, "not-done", source=Source.ADMINISTRATION, started=days_ago(5)), False),
        (record(named("naloxone 4 mg nasal spray"), "active"), False),
        (record(named("oxycodone 5 mg"), "active"), False),
    ],
)
def test_naltrexone_already_taken_raises_a_caution_naming_it(
    chart: MedicationRecord, raised: bool
) -> None:
    found = cautions([chart])
    assert (CautionKind.NALTREXONE_THERAPY in found) is raised
    if raised:
        (named_item,) = found[CautionKind.NALTREXONE_THERAPY]
        assert chart.reference in named_item


def test_every_caution_sentence_names_an_article_section_or_a_project_rule() -> None:
    document = json.loads((DATA / "cautions.json").read_text(encoding="utf-8"))
    evidence = json.loads((DATA / "evidence.json").read_text(encoding="utf-8"))
    sections = {section["id"] for section in evidence["articleSections"]}
    knowledge = CautionKnowledge.from_document(document)
    points = [p for text in knowledge.texts.values() for p in text.points]
    assert {p.source for p in points} - sections <= {
        p.source for p in points if p.source.startswith("project rule")
    }
    assert knowledge.unrecorded_use.source in sections
    for words in ("over-the-counter", "cough syrups", "other prescribers", "not prescribed"):
        assert words in knowledge.unrecorded_use.text
