"""Conditions on the chart land in the right condition groups, and stale ones are ignored."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from clinical.conditions import (
    ConditionGroup,
    ConditionKnowledge,
    MatchBasis,
    classify_conditions,
    match_conditions,
)
from clinical.records import ICD10CM, SNOMED, Coding, Concept, ConditionRecord

G = ConditionGroup
KNOWLEDGE = ConditionKnowledge.load()


def condition(
    *codings: tuple[str | None, str],
    text: str | None = None,
    clinical: str | None = "active",
    verification: str | None = "confirmed",
    display: str | None = None,
) -> ConditionRecord:
    concept = Concept(tuple(Coding(system, code, display) for system, code in codings), text)
    return ConditionRecord(
        "c1", concept, clinical_status=clinical, verification_status=verification
    )


def groups_of(record: ConditionRecord) -> frozenset[ConditionGroup]:
    return classify_conditions([record], KNOWLEDGE)


@pytest.mark.parametrize(
    ("code", "group"),
    [
        ("203082005", G.FIBROMYALGIA),
        ("95417003", G.FIBROMYALGIA),
        ("34000006", G.CROHNS),
        ("24700007", G.MULTIPLE_SCLEROSIS),
        ("426373005", G.MULTIPLE_SCLEROSIS),
        ("82423001", G.CHRONIC_PAIN),
        ("7200002", G.ALCOHOL_USE_DISORDER),
        ("66590003", G.ALCOHOL_USE_DISORDER),
        ("75544000", G.OPIOID_USE_DISORDER),
        ("19943007", G.LIVER_DISEASE),
        ("128302006", G.LIVER_DISEASE),
        ("363346000", G.CANCER),
        ("414916001", G.OBESITY),
    ],
)
def test_snomed_codes(code: str, group: ConditionGroup) -> None:
    assert groups_of(condition((SNOMED, code))) == {group}


@pytest.mark.parametrize(
    ("code", "group"),
    [
        ("M79.7", G.FIBROMYALGIA),
        ("M797", G.FIBROMYALGIA),
        ("m79.7", G.FIBROMYALGIA),
        ("K50.012", G.CROHNS),
        ("K50012", G.CROHNS),
        ("G35", G.MULTIPLE_SCLEROSIS),  # billable before FY2026
        ("G35.A", G.MULTIPLE_SCLEROSIS),  # FY2026 split
        ("G35A", G.MULTIPLE_SCLEROSIS),
        ("G35.B1", G.MULTIPLE_SCLEROSIS),
        ("G35.D", G.MULTIPLE_SCLEROSIS),
        ("G89.4", G.CHRONIC_PAIN),
        ("M54.5", G.CHRONIC_PAIN),  # from the CDS4CPM chronic-pain set (2020)
        ("M54.50", G.CHRONIC_PAIN),  # FY2022 child of M54.5
        ("F10.20", G.ALCOHOL_USE_DISORDER),
        ("F1010", G.ALCOHOL_USE_DISORDER),
        ("F11.20", G.OPIOID_USE_DISORDER),
        ("K70.30", G.LIVER_DISEASE),
        ("B18.2", G.LIVER_DISEASE),
        ("C50.911", G.CANCER),
        ("C7A.00", G.CANCER),
        ("D05.10", G.CANCER),  # carcinoma in situ
        ("E66.811", G.OBESITY),
    ],
)
def test_icd10cm_codes_with_or_without_dot(code: str, group: ConditionGroup) -> None:
    assert groups_of(condition((ICD10CM, code))) == {group}


@pytest.mark.parametrize(
    "codings",
    [
        [(ICD10CM, "I10")],  # hypertension
        [(ICD10CM, "D48.5")],  # neoplasm of uncertain behaviour is not cancer here
        [(ICD10CM, "G3")],  # a fragment of G35 is not G35
        [(SNOMED, "M79.7")],  # an ICD-10 code under the SNOMED system
        [("http://example.org/local", "24700007")],  # a SNOMED code under another system
        [(None, "G35")],
    ],
)
def test_codes_outside_the_groups_or_systems_do_not_match(
    codings: list[tuple[str | None, str]],
) -> None:
    assert groups_of(condition(*codings)) == frozenset()


def test_fibromyalgia_is_not_counted_as_other_chronic_pain() -> None:
    chronic = KNOWLEDGE.definition(G.CHRONIC_PAIN)
    assert not chronic.matches_snomed("203082005")
    assert not chronic.matches_icd10("M79.7")
    assert groups_of(condition((ICD10CM, "M79.7"))) == {G.FIBROMYALGIA}


@pytest.mark.parametrize(
    ("text", "group"),
    [
        ("Crohn's disease", G.CROHNS),
        ("Crohn disease of ileum", G.CROHNS),
        ("Relapsing multiple sclerosis", G.MULTIPLE_SCLEROSIS),
        ("Fibromyalgia", G.FIBROMYALGIA),
        ("Alcohol use disorder, moderate", G.ALCOHOL_USE_DISORDER),
        ("Opioid use disorder, in early remission", G.OPIOID_USE_DISORDER),
        ("NASH cirrhosis", G.LIVER_DISEASE),
        ("Metastatic breast cancer", G.CANCER),
        ("Class 2 obesity", G.OBESITY),
        ("chronic pain", G.CHRONIC_PAIN),
    ],
)
def test_text_fallback(text: str, group: ConditionGroup) -> None:
    assert groups_of(condition(text=text)) == {group}
    # A coding's display is read like text when its code is unknown.
    unknown = condition(("http://example.org/local", "x1"), display=text)
    assert groups_of(unknown) == {group}


@pytest.mark.parametrize(
    "text",
    [
        "Family history of Crohn's disease",
        "History of alcohol abuse",
        "Hepatitis B immune",
        "Cancer screening",
        "Ruled out multiple sclerosis",
        "Hypertension",
        "MS",  # too ambiguous to read as multiple sclerosis
    ],
)
def test_text_that_is_not_a_diagnosis_does_not_match(text: str) -> None:
    assert groups_of(condition(text=text)) == frozenset()


def test_text_is_only_a_fallback_when_a_code_matched() -> None:
    record = condition((SNOMED, "203082005"), text="Fibromyalgia; also has cancer")
    assert groups_of(record) == {G.FIBROMYALGIA}


def test_unknown_code_falls_back_to_text() -> None:
    record = condition((SNOMED, "254837009"), text="Malignant neoplasm of breast")
    assert groups_of(record) == {G.CANCER}


@pytest.mark.parametrize(
    ("clinical", "verification", "counted"),
    [
        ("active", "confirmed", True),
        ("recurrence", "confirmed", True),
        ("relapse", None, True),
        (None, None, True),
        ("active", "unconfirmed", True),
        ("active", "provisional", True),
        ("active", "differential", True),
        ("inactive", "confirmed", False),
        ("resolved", "confirmed", False),
        ("remission", "confirmed", False),
        ("Resolved", None, False),
        ("active", "refuted", False),
        ("active", "entered-in-error", False),
        (None, "entered-in-error", False),
    ],
)
def test_status_decides_whether_a_condition_counts(
    clinical: str | None, verification: str | None, counted: bool
) -> None:
    record = condition((ICD10CM, "F10.20"), clinical=clinical, verification=verification)
    expected = {G.ALCOHOL_USE_DISORDER} if counted else set()
    assert groups_of(record) == expected


def test_matches_say_what_placed_each_condition() -> None:
    coded = ConditionRecord(
        "a", Concept((Coding(ICD10CM, "G35"), Coding(SNOMED, "24700007"))), clinical_status="active"
    )
    texted = ConditionRecord("b", Concept(text="Alcohol dependence"))
    two_groups = ConditionRecord(
        "c", Concept((Coding(ICD10CM, "K70.30"), Coding(ICD10CM, "F10.20")))
    )
    matches = match_conditions([coded, texted, two_groups], KNOWLEDGE)
    summary = [(m.condition.id, m.group, m.basis, m.matched) for m in matches]
    assert summary == [
        ("a", G.MULTIPLE_SCLEROSIS, MatchBasis.ICD10CM, "G35"),  # one match per condition+group
        ("b", G.ALCOHOL_USE_DISORDER, MatchBasis.TEXT, "alcohol dependence"),
        ("c", G.LIVER_DISEASE, MatchBasis.ICD10CM, "K70.30"),
        ("c", G.ALCOHOL_USE_DISORDER, MatchBasis.ICD10CM, "F10.20"),
    ]
    assert classify_conditions([coded, texted, two_groups], KNOWLEDGE) == {
        G.MULTIPLE_SCLEROSIS,
        G.ALCOHOL_USE_DISORDER,
        G.LIVER_DISEASE,
    }


def test_no_conditions_no_groups() -> None:
    assert classify_conditions([], KNOWLEDGE) == frozenset()


def _data() -> dict[str, Any]:
    text = resources.files("clinical.data").joinpath("conditions.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def test_every_group_is_defined_once_with_codes_and_sources() -> None:
    data = _data()
    assert [g["key"] for g in data["groups"]] == [group.value for group in ConditionGroup]
    source_ids = {source["id"] for source in data["sources"]}
    for group in data["groups"]:
        assert group["snomed"], group["key"]
        assert group["icd10cm"]["codes"] or group["icd10cm"]["prefixes"], group["key"]
        assert group["textTerms"], group["key"]
        for entry in group["snomed"] + group["icd10cm"]["codes"]:
            assert entry["sources"], entry
            assert set(entry["sources"]) <= source_ids, entry
    assert KNOWLEDGE.display(G.CROHNS) == "Crohn's disease"


def test_multiple_sclerosis_matches_by_g35_prefix() -> None:
    stems = KNOWLEDGE.definition(G.MULTIPLE_SCLEROSIS).icd10_stems
    assert "G35" in stems
    assert all(stem.startswith("G35") for stem in stems)


def test_licence_notes_are_kept() -> None:
    licences = _data()["licences"]
    assert "outside the US" in licences["snomedCt"]
    assert "public domain" in licences["icd10cm"]


def test_knowledge_must_define_every_group() -> None:
    data = _data()
    data["groups"] = [g for g in data["groups"] if g["key"] != "cancer"]
    with pytest.raises(ValueError, match="groups must be exactly"):
        ConditionKnowledge.from_json(data)
