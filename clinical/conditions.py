"""Sort a patient's Conditions into the condition groups the evidence and the cautions speak of.

The groups are the article's conditions (section "Evidence by Condition") plus the two cautions
the product raises: opioid use disorder and liver disease (section "Side Effects"). Which codes
belong to which group is data, ``clinical/data/conditions.json``, built by
``tools/build_condition_data.py`` from the shared terminology.

Matching, in order:

* A Condition that is no longer current (clinical status inactive, resolved or remission) or
  that was wrong (verification status refuted or entered-in-error) is ignored. A missing status,
  and unconfirmed, provisional or differential diagnoses, still count: for a caution it is safer to
  show too much than to hide it.
* SNOMED CT codes match exactly. ICD-10-CM codes match with or without the dot when they equal or
  descend from a listed code or category prefix: in ICD-10-CM a longer code always refines the
  shorter one it starts with, so ``G35`` catches both the older billable ``G35`` and the FY2026
  split ``G35.A``-``G35.D``, and a listed ``M54.5`` still catches the later ``M54.50``.
* Only when no coding of a Condition matched any group is its text (and the codings' displays)
  read, word by word, and never when it says "history of", "screening" and the like.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

from clinical.records import ICD10CM, SNOMED, ConditionRecord
from clinical.text import TermIndex

DATA_FILE = "conditions.json"


class ConditionGroup(StrEnum):
    """A condition the evidence summary or a caution card speaks of (keys of conditions.json)."""

    FIBROMYALGIA = "fibromyalgia"
    CROHNS = "crohns"
    MULTIPLE_SCLEROSIS = "multiple_sclerosis"
    CHRONIC_PAIN = "chronic_pain"
    ALCOHOL_USE_DISORDER = "alcohol_use_disorder"
    OPIOID_USE_DISORDER = "opioid_use_disorder"
    LIVER_DISEASE = "liver_disease"
    CANCER = "cancer"
    OBESITY = "obesity"


class MatchBasis(StrEnum):
    """What part of a Condition placed it in a group."""

    SNOMED = "snomed"
    ICD10CM = "icd10cm"
    TEXT = "text"


def normalise_icd10(code: str) -> str:
    """Compare ICD-10-CM codes without the dot, spaces or case."""
    return code.replace(".", "").strip().upper()


@dataclass(frozen=True, slots=True)
class GroupDefinition:
    """The codes and words that place a Condition in one group."""

    group: ConditionGroup
    display: str
    snomed_codes: frozenset[str]
    icd10_stems: tuple[str, ...]
    text_terms: tuple[str, ...]

    def matches_snomed(self, code: str) -> bool:
        """Whether a SNOMED CT code belongs to this group."""
        return code.strip() in self.snomed_codes

    def matches_icd10(self, code: str) -> bool:
        """Whether an ICD-10-CM code, dotted or not, belongs to this group."""
        return normalise_icd10(code).startswith(self.icd10_stems)


@dataclass(frozen=True, slots=True)
class ConditionMatch:
    """One Condition placed in one group, with what placed it there (a code or a term)."""

    condition: ConditionRecord
    group: ConditionGroup
    basis: MatchBasis
    matched: str


@dataclass(frozen=True, slots=True)
class ConditionKnowledge:
    """The condition groups and matching policy of ``conditions.json``."""

    groups: tuple[GroupDefinition, ...]
    ignored_clinical_statuses: frozenset[str]
    ignored_verification_statuses: frozenset[str]
    terms: TermIndex[ConditionGroup]
    exclusions: TermIndex[str]

    @classmethod
    def load(cls) -> ConditionKnowledge:
        """Return the packaged knowledge (read once from ``clinical/data/conditions.json``, cached).

        This is the only file access in the conditions module.
        """
        return _load_packaged_knowledge()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConditionKnowledge:
        """Build the knowledge from the JSON shape of ``conditions.json``."""
        groups = tuple(_group_from_json(entry) for entry in data["groups"])
        keys = [definition.group for definition in groups]
        if sorted(keys) != sorted(ConditionGroup) or len(set(keys)) != len(keys):
            expected = [group.value for group in ConditionGroup]
            raise ValueError(f"{DATA_FILE}: the groups must be exactly {expected}")
        terms = [(term, d.group) for d in groups for term in d.text_terms]
        if len({term for term, _ in terms}) != len(terms):
            raise ValueError(f"{DATA_FILE}: a text term is listed twice")
        return cls(
            groups=groups,
            ignored_clinical_statuses=frozenset(data["ignoredClinicalStatuses"]),
            ignored_verification_statuses=frozenset(data["ignoredVerificationStatuses"]),
            terms=TermIndex.build(dict(terms)),
            exclusions=TermIndex.build({phrase: phrase for phrase in data["textExclusions"]}),
        )

    def definition(self, group: ConditionGroup) -> GroupDefinition:
        """Return the definition of ``group``."""
        return next(definition for definition in self.groups if definition.group is group)

    def display(self, group: ConditionGroup) -> str:
        """Return the human name of ``group`` ("Crohn's disease")."""
        return self.definition(group).display

    def is_current(self, condition: ConditionRecord) -> bool:
        """Whether a Condition is on the chart now and was not recorded in error or refuted."""
        clinical = (condition.clinical_status or "").strip().lower()
        verification = (condition.verification_status or "").strip().lower()
        return (
            clinical not in self.ignored_clinical_statuses
            and verification not in self.ignored_verification_statuses
        )


def _group_from_json(entry: Mapping[str, Any]) -> GroupDefinition:
    icd10 = entry["icd10cm"]
    return GroupDefinition(
        group=ConditionGroup(entry["key"]),
        display=str(entry["display"]),
        snomed_codes=frozenset(str(item["code"]) for item in entry["snomed"]),
        # Codes and prefixes both act as stems (see the module docstring); sorted for stable order.
        icd10_stems=tuple(
            sorted(
                {normalise_icd10(item["code"]) for item in icd10["codes"]}
                | {normalise_icd10(item["prefix"]) for item in icd10["prefixes"]}
            )
        ),
        text_terms=tuple(str(term) for term in entry["textTerms"]),
    )


@cache
def _load_packaged_knowledge() -> ConditionKnowledge:
    text = resources.files("clinical.data").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return ConditionKnowledge.from_json(json.loads(text))


def _code_matches(
    condition: ConditionRecord, knowledge: ConditionKnowledge
) -> Iterator[ConditionMatch]:
    for coding in condition.code.codings:
        if not coding.code:
            continue
        for definition in knowledge.groups:
            if coding.system == SNOMED and definition.matches_snomed(coding.code):
                yield ConditionMatch(condition, definition.group, MatchBasis.SNOMED, coding.code)
            elif coding.system == ICD10CM and definition.matches_icd10(coding.code):
                yield ConditionMatch(condition, definition.group, MatchBasis.ICD10CM, coding.code)


def _text_matches(
    condition: ConditionRecord, knowledge: ConditionKnowledge
) -> Iterator[ConditionMatch]:
    for label in condition.code.words():
        if next(knowledge.exclusions.find(label), None) is not None:
            continue
        for hit in knowledge.terms.find(label):
            yield ConditionMatch(condition, hit.value, MatchBasis.TEXT, hit.term)


def match_conditions(
    conditions: Iterable[ConditionRecord], knowledge: ConditionKnowledge
) -> tuple[ConditionMatch, ...]:
    """Place each current Condition in its groups; at most one match per Condition and group."""
    found: list[ConditionMatch] = []
    for condition in conditions:
        if not knowledge.is_current(condition):
            continue
        # Text is a fallback: once a code places the Condition, its words are not read.
        matches = list(_code_matches(condition, knowledge)) or list(
            _text_matches(condition, knowledge)
        )
        seen: set[ConditionGroup] = set()
        for match in matches:
            if match.group not in seen:
                seen.add(match.group)
                found.append(match)
    return tuple(found)


def classify_conditions(
    conditions: Iterable[ConditionRecord], knowledge: ConditionKnowledge
) -> frozenset[ConditionGroup]:
    """Return the groups the patient's current Conditions fall into."""
    return frozenset(match.group for match in match_conditions(conditions, knowledge))
