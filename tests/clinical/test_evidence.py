"""The evidence summary covers the whole article, in our own words, patient's conditions first."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from clinical.conditions import ConditionGroup, ConditionKnowledge
from clinical.evidence import (
    EvidenceKnowledge,
    SectionKind,
    select_evidence,
)
from clinical.text import words
from clinical.titration import TitrationProtocol

G = ConditionGroup
KNOWLEDGE = EvidenceKnowledge.load()
DATA = resources.files("clinical.data")

CONDITION_KEYS = [
    "fibromyalgia",
    "crohns",
    "multiple_sclerosis",
    "chronic_pain",
    "alcohol_use_disorder",
    "cancer",
    "weight_loss",
]
GENERAL_KEYS = [
    "overview",
    "ldn_vs_full_dose",
    "mechanisms",
    "dosing_and_titration",
    "side_effects",
    "opioid_safety",
    "what_to_avoid",
    "compounding_and_access",
    "stopping",
    "evidence_gaps",
    "talking_to_the_prescriber",
    "bottom_line",
]
GRADE_CODES = [
    "small-rcts-positive",
    "small-trials-mixed",
    "qol-signals",
    "limited-controlled",
    "evidence-gap",
    "no-rigorous-evidence",
]


def _raw() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA.joinpath("evidence.json").read_text("utf-8"))
    return data


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_every_article_section_is_represented() -> None:
    assert [c.key for c in KNOWLEDGE.conditions] == CONDITION_KEYS
    assert [s.key for s in KNOWLEDGE.sections] == GENERAL_KEYS
    cited = {p.source.id for c in KNOWLEDGE.conditions for p in c.points}
    cited |= {c.source.id for c in KNOWLEDGE.conditions}
    cited |= {p.source.id for s in KNOWLEDGE.sections for p in s.points}
    parents = {s.parent for s in KNOWLEDGE.article_sections if s.parent}
    leaves = {s.id for s in KNOWLEDGE.article_sections if s.id not in parents}
    assert leaves - cited == set()
    assert all(c.points for c in KNOWLEDGE.conditions)
    assert all(s.points for s in KNOWLEDGE.sections)
    assert "own words" in KNOWLEDGE.attribution


def test_evidence_grades_are_the_stable_code_list() -> None:
    assert [g.code for g in KNOWLEDGE.grades] == GRADE_CODES
    assert all(g.display and g.definition for g in KNOWLEDGE.grades)
    used = {entry["grade"] for entry in _raw()["conditions"]}
    assert used <= set(GRADE_CODES)


@pytest.mark.parametrize(
    ("key", "grade"),
    [
        ("fibromyalgia", "small-rcts-positive"),
        ("crohns", "small-trials-mixed"),
        ("multiple_sclerosis", "qol-signals"),
        ("chronic_pain", "limited-controlled"),
        ("alcohol_use_disorder", "evidence-gap"),
        ("cancer", "no-rigorous-evidence"),
        ("weight_loss", "no-rigorous-evidence"),
    ],
)
def test_condition_grades_follow_the_article(key: str, grade: str) -> None:
    entry = next(c for c in KNOWLEDGE.conditions if c.key == key)
    assert entry.grade.code == grade


def test_every_condition_group_referenced_exists() -> None:
    raw = _raw()
    defined = {definition.group.value for definition in ConditionKnowledge.load().groups}
    referenced = {entry["group"] for entry in raw["conditions"]}
    referenced |= {group for entry in raw["sections"] for group in entry["relatedGroups"]}
    assert referenced <= defined


def test_data_references_name_packaged_files() -> None:
    refs = {ref for section in KNOWLEDGE.sections for ref in section.data_refs}
    assert refs == {"titration.json", "washouts.json"}
    for ref in refs:
        assert DATA.joinpath(ref).is_file(), ref


def test_opioid_section_leaves_washout_numbers_to_the_washout_table() -> None:
    section = next(s for s in KNOWLEDGE.sections if s.key == "opioid_safety")
    assert "washouts.json" in section.data_refs
    text = " ".join(p.text for p in section.points)
    assert not re.search(r"\d", text)


def test_dosing_section_agrees_with_the_titration_protocol() -> None:
    protocol = TitrationProtocol.load()
    section = next(s for s in KNOWLEDGE.sections if s.key == "dosing_and_titration")
    by_label = {p.label: p.text for p in section.points if p.label}
    assert by_label["Start"].startswith(f"{protocol.start_dose_mg} mg")
    assert by_label["Increase"].startswith(f"By {protocol.step_mg} mg")
    assert by_label["Target"].startswith(f"{protocol.default_target_mg} mg")


@pytest.mark.parametrize("data_file", ["evidence.json", "handout.json"])
def test_no_sentence_is_copied_from_the_article(data_file: str) -> None:
    # One-way fingerprints of each 12-word run of the article (tools/build_article_fingerprints.py)
    lines = (Path(__file__).parent / "article_fingerprints.txt").read_text("utf-8").splitlines()
    article = {line for line in lines if not line.startswith("#")}
    assert len(article) > 3000  # the whole article, not a stub
    copied = []
    for text in _strings(json.loads(DATA.joinpath(data_file).read_text("utf-8"))):
        tokens = words(text)
        for i in range(len(tokens) - 11):
            run = " ".join(tokens[i : i + 12])
            if hashlib.sha256(run.encode()).hexdigest()[:16] in article:
                copied.append(run)
    assert copied == []


@pytest.mark.parametrize(
    ("key", "needle"),
    [
        ("alcohol_use_disorder", "50 mg"),
        ("alcohol_use_disorder", "Sinclair Method"),
        ("multiple_sclerosis", "not a disease-modifying"),
    ],
)
def test_key_facts_of_conditions(key: str, needle: str) -> None:
    entry = next(c for c in KNOWLEDGE.conditions if c.key == key)
    assert needle in " ".join([entry.headline, *(p.text for p in entry.points)])


@pytest.mark.parametrize(
    ("key", "needle"),
    [
        ("side_effects", "inference"),
        ("side_effects", "Vivid or unusual dreams"),
        ("what_to_avoid", "disulfiram"),
        ("what_to_avoid", "tramadol"),
        ("compounding_and_access", "PCAB-accredited"),
        ("compounding_and_access", "$30 to $60 a month"),
        ("stopping", "No taper"),
    ],
)
def test_key_facts_of_general_sections(key: str, needle: str) -> None:
    section = next(s for s in KNOWLEDGE.sections if s.key == key)
    assert needle in " ".join(p.text for p in section.points)


def test_gaps_and_prescriber_points_are_six_each() -> None:
    for key in ("evidence_gaps", "talking_to_the_prescriber"):
        section = next(s for s in KNOWLEDGE.sections if s.key == key)
        assert len([p for p in section.points if p.label]) == 6, key


def test_patients_conditions_come_first() -> None:
    summary = select_evidence(frozenset({G.MULTIPLE_SCLEROSIS, G.CANCER}), KNOWLEDGE)
    keys = [s.key for s in summary.sections]
    assert keys[:2] == ["multiple_sclerosis", "cancer"]  # the article's order among them
    assert keys[2:7] == [
        "fibromyalgia",
        "crohns",
        "chronic_pain",
        "alcohol_use_disorder",
        "weight_loss",
    ]
    assert keys[7:] == GENERAL_KEYS
    assert [s.is_patients for s in summary.sections[:7]] == [True, True] + [False] * 5
    assert [s.key for s in summary.patient_conditions] == ["multiple_sclerosis", "cancer"]
    assert len(summary.other_conditions) == 5
    assert [s.key for s in summary.general] == GENERAL_KEYS
    assert summary.patient_groups == {G.MULTIPLE_SCLEROSIS, G.CANCER}


def test_obesity_selects_the_weight_loss_entry() -> None:
    summary = select_evidence(frozenset({G.OBESITY}), KNOWLEDGE)
    first = summary.sections[0]
    assert first.key == "weight_loss"
    assert first.patient_groups == {G.OBESITY}
    assert first.grade is not None
    assert first.grade.code == "no-rigorous-evidence"


def test_general_sections_are_flagged_for_related_conditions() -> None:
    summary = select_evidence(frozenset({G.LIVER_DISEASE, G.ALCOHOL_USE_DISORDER}), KNOWLEDGE)
    flagged = {s.key: s.patient_groups for s in summary.general if s.is_patients}
    assert flagged["side_effects"] == {G.LIVER_DISEASE}
    assert flagged["what_to_avoid"] == {G.ALCOHOL_USE_DISORDER}
    assert "overview" not in flagged
    assert summary.sections[0].key == "alcohol_use_disorder"


def test_without_conditions_everything_is_shown_in_article_order() -> None:
    summary = select_evidence(frozenset(), KNOWLEDGE)
    assert [s.key for s in summary.sections] == CONDITION_KEYS + GENERAL_KEYS
    assert not any(s.is_patients for s in summary.sections)
    assert all(s.kind is SectionKind.CONDITION for s in summary.sections[: len(CONDITION_KEYS)])
    assert all(s.grade is not None and s.headline for s in summary.sections[: len(CONDITION_KEYS)])
    assert all(p.source.heading for s in summary.sections for p in s.points)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("conditions", 0, "grade"), "strong", "unknown evidence grade"),
        (("conditions", 0, "points", 0, "source"), "nowhere", "unknown article section"),
        (("sections", 0, "key"), "fibromyalgia", "keys must be unique"),
        (("conditions", 0, "group"), "gout", "gout"),
    ],
)
def test_malformed_evidence_data_is_refused(
    path: tuple[str | int, ...], value: str, message: str
) -> None:
    data = copy.deepcopy(_raw())
    target: Any = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(ValueError, match=message):
        EvidenceKnowledge.from_json(data)
