"""Choose and order the LDN evidence summary for one patient.

The content is the whole source article, section by section, restated in the project's own words
in ``clinical/data/evidence.json``; each point names the article section it comes from and each
condition carries an evidence grade. This module orders it for a patient (section "Evidence by
Condition" of the article, with the patient's own conditions first), so that HTML and
plain-text renderers need to know nothing about the article.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

from clinical.conditions import ConditionGroup

DATA_FILE = "evidence.json"


@dataclass(frozen=True, slots=True)
class ArticleSection:
    """A section of the source article, the provenance of every point."""

    id: str
    heading: str
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class EvidenceGrade:
    """A code of the project's evidence-grade list (the future FHIR CodeSystem)."""

    code: str
    display: str
    definition: str


@dataclass(frozen=True, slots=True)
class EvidencePoint:
    """One fact, with an optional short lead-in label and the article section it comes from.

    ``key`` is a stable code for the few points other parts of the product quote (a CDS card),
    so that they find a point by code: its ``label`` is wording and may change.
    """

    text: str
    source: ArticleSection
    label: str | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class ConditionEvidence:
    """What the article says about LDN for one condition."""

    key: str
    group: ConditionGroup
    title: str
    grade: EvidenceGrade
    headline: str
    source: ArticleSection
    points: tuple[EvidencePoint, ...]


@dataclass(frozen=True, slots=True)
class GeneralSection:
    """A section that applies to every patient; ``related_groups`` says whom it concerns most.

    ``data_refs`` names other files of ``clinical/data`` a renderer should show with it (the
    washout table beside the opioid section), so that numbers live in one place.
    """

    key: str
    title: str
    points: tuple[EvidencePoint, ...]
    related_groups: frozenset[ConditionGroup]
    data_refs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EvidenceKnowledge:
    """The article as structured, paraphrased data."""

    title: str
    version: str
    article_title: str
    attribution: str
    article_sections: tuple[ArticleSection, ...]
    grades: tuple[EvidenceGrade, ...]
    conditions: tuple[ConditionEvidence, ...]
    sections: tuple[GeneralSection, ...]

    @classmethod
    def load(cls) -> EvidenceKnowledge:
        """Return the packaged evidence (read once from ``clinical/data/evidence.json``, cached).

        This is the only file access in the evidence module.
        """
        return _load_packaged_evidence()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EvidenceKnowledge:
        """Build the evidence from the JSON shape of ``evidence.json``; unknown references fail."""
        sections = {
            entry["id"]: ArticleSection(entry["id"], entry["heading"], entry.get("parent"))
            for entry in data["articleSections"]
        }
        if any(s.parent is not None and s.parent not in sections for s in sections.values()):
            raise ValueError(f"{DATA_FILE}: an article section names an unknown parent")
        grades = {
            entry["code"]: EvidenceGrade(entry["code"], entry["display"], entry["definition"])
            for entry in data["grades"]
        }
        reader = _Reader(sections, grades)
        conditions = tuple(reader.condition(entry) for entry in data["conditions"])
        general = tuple(reader.general(entry) for entry in data["sections"])
        keys = [entry.key for entry in conditions] + [entry.key for entry in general]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{DATA_FILE}: section keys must be unique")
        points = [
            *(p for c in conditions for p in c.points),
            *(p for g in general for p in g.points),
        ]
        point_keys = [p.key for p in points if p.key]
        if len(set(point_keys)) != len(point_keys):
            raise ValueError(f"{DATA_FILE}: point keys must be unique")
        return cls(
            title=data["title"],
            version=data["version"],
            article_title=data["article"]["title"],
            attribution=data["article"]["attribution"],
            article_sections=tuple(sections.values()),
            grades=tuple(grades.values()),
            conditions=conditions,
            sections=general,
        )

    def point(self, key: str) -> EvidencePoint:
        """Return the point with ``key``; an unknown key is a ``KeyError``."""
        entries: tuple[ConditionEvidence | GeneralSection, ...] = (*self.conditions, *self.sections)
        for entry in entries:
            for point in entry.points:
                if point.key == key:
                    return point
        raise KeyError(key)

    def grade(self, code: str) -> EvidenceGrade:
        """Return the grade with ``code``; an unknown code is a ``KeyError``."""
        for grade in self.grades:
            if grade.code == code:
                return grade
        raise KeyError(code)


class _Reader:
    """Resolve the references inside ``evidence.json`` while building its entries."""

    def __init__(
        self, sections: Mapping[str, ArticleSection], grades: Mapping[str, EvidenceGrade]
    ) -> None:
        self.sections = sections
        self.grades = grades

    def section(self, section_id: str) -> ArticleSection:
        if section_id not in self.sections:
            raise ValueError(f"{DATA_FILE}: unknown article section {section_id!r}")
        return self.sections[section_id]

    def points(self, entries: list[Mapping[str, Any]]) -> tuple[EvidencePoint, ...]:
        return tuple(
            EvidencePoint(
                entry["text"], self.section(entry["source"]), entry.get("label"), entry.get("key")
            )
            for entry in entries
        )

    def condition(self, entry: Mapping[str, Any]) -> ConditionEvidence:
        if entry["grade"] not in self.grades:
            raise ValueError(f"{DATA_FILE}: unknown evidence grade {entry['grade']!r}")
        return ConditionEvidence(
            key=entry["key"],
            group=ConditionGroup(entry["group"]),
            title=entry["title"],
            grade=self.grades[entry["grade"]],
            headline=entry["headline"],
            source=self.section(entry["source"]),
            points=self.points(entry["points"]),
        )

    def general(self, entry: Mapping[str, Any]) -> GeneralSection:
        return GeneralSection(
            key=entry["key"],
            title=entry["title"],
            points=self.points(entry["points"]),
            related_groups=frozenset(ConditionGroup(group) for group in entry["relatedGroups"]),
            data_refs=tuple(entry["dataRefs"]),
        )


@cache
def _load_packaged_evidence() -> EvidenceKnowledge:
    text = resources.files("clinical.data").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return EvidenceKnowledge.from_json(json.loads(text))


class SectionKind(StrEnum):
    """Whether a summary section is about one condition or about LDN in general."""

    CONDITION = "condition"
    GENERAL = "general"


@dataclass(frozen=True, slots=True)
class SummarySection:
    """One section of a patient's evidence summary, ready to render.

    ``grade`` and ``headline`` are set for condition sections only. ``patient_groups`` holds the
    patient's condition groups this section speaks to; ``is_patients`` is true when there is any.
    """

    kind: SectionKind
    key: str
    title: str
    points: tuple[EvidencePoint, ...]
    patient_groups: frozenset[ConditionGroup]
    grade: EvidenceGrade | None = None
    headline: str | None = None
    data_refs: tuple[str, ...] = ()

    @property
    def is_patients(self) -> bool:
        """Whether this section concerns one of the patient's conditions."""
        return bool(self.patient_groups)


@dataclass(frozen=True, slots=True)
class EvidenceSummary:
    """The summary in display order: the patient's conditions, the other conditions, general."""

    patient_groups: frozenset[ConditionGroup]
    sections: tuple[SummarySection, ...]

    @property
    def patient_conditions(self) -> tuple[SummarySection, ...]:
        """The condition sections for conditions on the patient's chart."""
        return tuple(s for s in self.sections if s.kind is SectionKind.CONDITION and s.is_patients)

    @property
    def other_conditions(self) -> tuple[SummarySection, ...]:
        """The condition sections for conditions the patient does not have."""
        return tuple(
            s for s in self.sections if s.kind is SectionKind.CONDITION and not s.is_patients
        )

    @property
    def general(self) -> tuple[SummarySection, ...]:
        """The sections that apply whatever the condition, in the article's order."""
        return tuple(s for s in self.sections if s.kind is SectionKind.GENERAL)


def _condition_section(
    entry: ConditionEvidence, groups: frozenset[ConditionGroup]
) -> SummarySection:
    return SummarySection(
        kind=SectionKind.CONDITION,
        key=entry.key,
        title=entry.title,
        points=entry.points,
        patient_groups=frozenset({entry.group}) & groups,
        grade=entry.grade,
        headline=entry.headline,
    )


def _general_section(entry: GeneralSection, groups: frozenset[ConditionGroup]) -> SummarySection:
    return SummarySection(
        kind=SectionKind.GENERAL,
        key=entry.key,
        title=entry.title,
        points=entry.points,
        patient_groups=entry.related_groups & groups,
        data_refs=entry.data_refs,
    )


def select_evidence(
    groups: frozenset[ConditionGroup], knowledge: EvidenceKnowledge
) -> EvidenceSummary:
    """Order the evidence for a patient with ``groups``: their conditions, the rest, then general.

    Nothing is left out: a patient without any matched condition still gets every section.
    """
    conditions = [_condition_section(entry, groups) for entry in knowledge.conditions]
    ordered = [s for s in conditions if s.is_patients] + [
        s for s in conditions if not s.is_patients
    ]
    general = [_general_section(entry, groups) for entry in knowledge.sections]
    return EvidenceSummary(patient_groups=groups, sections=(*ordered, *general))
