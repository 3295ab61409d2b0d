"""Medication free text as it is really written, through the core and through FHIR JSON.

Issue 9, "Done when": ``text_corpus.json`` holds opioid entries of every category (names run into
strengths, abbreviations, antitussive, combination, injectable, depot and discontinued brands,
near-miss spellings) and non-opioid look-alikes and non-exposure phrases, each with its source.
Every entry is read as an active record four ways (the core's record, a MedicationStatement and a
MedicationRequest with the text in ``medicationCodeableConcept.text``, and a coding display
without a code): no opioid entry may come out all-clear, at least 95% must be critical, and no
look-alike may ever be critical.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.assessment import Assessment, AssessmentStatus, assess_naltrexone_order
from clinical.opioids import OpioidKnowledge
from clinical.records import Concept, Medication, MedicationRecord, Source
from fhir_profiles.mapping import read_bundle

KNOWLEDGE = OpioidKnowledge.load()
TODAY = date(2026, 12, 3)
CORPUS = Path(__file__).with_name("text_corpus.json")
DECISIONS = {
    AssessmentStatus.DO_NOT_START: "critical",
    AssessmentStatus.UNCERTAIN: "uncertain",
    AssessmentStatus.SAFE_TO_START: "clear",
}
OPIOID_CATEGORIES = {
    "run-together",
    "abbreviation",
    "antitussive",
    "combination",
    "injectable",
    "depot",
    "discontinued",
    "near-miss",
}


@cache
def _entries() -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(CORPUS.read_text(encoding="utf-8"))["entries"])


def _group(name: str) -> list[dict[str, Any]]:
    return [e for e in _entries() if e["group"] == name]


def _decision(assessment: Assessment) -> str:
    return DECISIONS.get(assessment.status, str(assessment.status))


def _assess(record: MedicationRecord) -> Assessment:
    return assess_naltrexone_order(None, [record], KNOWLEDGE, TODAY)


def _core(texts: list[str]) -> list[Assessment]:
    return [
        _assess(MedicationRecord(Source.STATEMENT, "1", "active", Medication(Concept(text=t))))
        for t in texts
    ]


def _fhir(
    resource: Callable[[int, str], dict[str, Any]],
) -> Callable[[list[str]], list[Assessment]]:
    def read(texts: list[str]) -> list[Assessment]:
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": resource(i, t)} for i, t in enumerate(texts)],
        }
        result = read_bundle(bundle)
        assert result.problems == ()
        assert len(result.records) == len(texts)
        return [_assess(record) for record in result.records]

    return read


def _statement(index: int, text: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationStatement",
        "id": f"ms{index}",
        "status": "active",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": text},
    }


def _request(index: int, text: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": f"mr{index}",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": text},
    }


def _display_only(index: int, text: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationStatement",
        "id": f"ms{index}",
        "status": "active",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [{"display": text}]},
    }


ROUTES: dict[str, Callable[[list[str]], list[Assessment]]] = {
    "core record": _core,
    "MedicationStatement text": _fhir(_statement),
    "MedicationRequest text": _fhir(_request),
    "coding display without code": _fhir(_display_only),
}


@cache
def _decisions(route: str) -> dict[str, tuple[str, Assessment]]:
    texts = [e["text"] for e in _entries()]
    return {text: (_decision(a), a) for text, a in zip(texts, ROUTES[route](texts), strict=True)}


def test_the_corpus_is_big_enough_covers_every_category_and_names_its_sources() -> None:
    opioids, others = _group("opioid"), _group("not-opioid")
    assert len(opioids) >= 250
    assert len(others) >= 120
    assert {e["category"] for e in opioids} >= OPIOID_CATEGORIES
    assert {"look-alike", "not-exposure"} <= {e["category"] for e in others}
    assert all(e["source"].strip() for e in _entries())
    texts = [e["text"].lower() for e in _entries()]
    assert [t for t, n in Counter(texts).items() if n > 1] == []


@pytest.mark.parametrize("route", ROUTES)
def test_no_opioid_entry_is_ever_an_all_clear(route: str) -> None:
    decisions = _decisions(route)
    clear = [e["text"] for e in _group("opioid") if decisions[e["text"]][0] == "clear"]
    assert clear == []


@pytest.mark.parametrize("route", ROUTES)
def test_at_least_95_percent_of_opioid_entries_are_critical_when_active(route: str) -> None:
    decisions = _decisions(route)
    opioids = _group("opioid")
    critical = [e for e in opioids if decisions[e["text"]][0] == "critical"]
    assert len(critical) / len(opioids) >= 0.95


@pytest.mark.parametrize("route", ROUTES)
def test_no_look_alike_or_non_exposure_phrase_is_ever_critical(route: str) -> None:
    decisions = _decisions(route)
    critical = [e["text"] for e in _group("not-opioid") if decisions[e["text"]][0] == "critical"]
    assert critical == []


@pytest.mark.parametrize("route", ROUTES)
def test_every_entry_gets_the_decision_the_corpus_expects(route: str) -> None:
    decisions = _decisions(route)
    wrong = [
        (e["text"], e["expect"], decisions[e["text"]][0])
        for e in _entries()
        if decisions[e["text"]][0] != e["expect"]
    ]
    assert wrong == []


@pytest.mark.parametrize("route", ROUTES)
def test_a_near_miss_warning_names_the_word_and_the_opioid_it_resembles(route: str) -> None:
    decisions = _decisions(route)
    for entry in _entries():
        if entry["category"] != "near-miss":
            continue
        decision, assessment = decisions[entry["text"]]
        said = " ".join(assessment.unchecked)
        word = entry["text"].split()[0]
        assert decision == "uncertain"
        assert f'"{word}"' in said
        assert entry["resembles"] in said


def test_an_uncertain_entry_says_which_word_raised_the_doubt() -> None:
    decisions = _decisions("MedicationStatement text")
    for entry in _group("uncertain"):
        _, assessment = decisions[entry["text"]]
        said = " ".join(assessment.unchecked).lower()
        words = re.findall(r"[a-z]+", entry["text"].lower())
        assert any(f'"{word}' in said for word in words), said


CRITICAL = [e["text"] for e in _entries() if e["expect"] == "critical"]
FILLERS = ["lisinopril 10 mg", "metformin 500 mg", "vitamin D3 2000 units", "Tylenol 500 mg"]


# No deadline: the first example pays for loading and caching on a shared, loaded machine.
@settings(deadline=None)
@given(
    st.sampled_from(CRITICAL),
    st.sampled_from(FILLERS),
    st.sampled_from(["; ", ", ", " / ", "\n", " and "]),
    st.booleans(),
)
def test_an_opioid_entry_stays_critical_beside_other_medications(
    text: str, filler: str, separator: str, first: bool
) -> None:
    combined = f"{text}{separator}{filler}" if first else f"{filler}{separator}{text}"
    (assessment,) = _core([combined])
    assert _decision(assessment) == "critical"
