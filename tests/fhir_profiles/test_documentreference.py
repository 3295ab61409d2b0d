"""The LDN evidence DocumentReference: valid R4, our profile, and the summary it carries."""

from __future__ import annotations

import base64
import copy
import hashlib
from datetime import datetime
from typing import Any

import pytest

from clinical.knowledge import load_knowledge
from fhir_profiles.artefacts import DOCUMENTREFERENCE_IDENTIFIER_SYSTEM, DOCUMENTREFERENCE_PROFILE
from fhir_profiles.evidence_render import render_html, render_text
from fhir_profiles.identifiers import InvalidResourceInput, careplan_full_url
from fhir_profiles.validation import validate
from tests.fhir_profiles.save_cases import (
    CASES,
    HOSTILE,
    NO_OPIOIDS,
    SaveCase,
    assert_no_errors,
    case_params,
    document_for,
    parse_narrative,
)

FIBRO_AND_MS = next(case for case in CASES if case.key == "fibromyalgia-and-ms-on-oxycodone")


def decoded(document: dict[str, Any], index: int) -> str:
    return base64.b64decode(document["content"][index]["attachment"]["data"]).decode("utf-8")


@case_params
def test_document_is_valid_r4_and_conforms_to_the_profile(case: SaveCase) -> None:
    document = document_for(case)
    assert document["meta"]["profile"] == [DOCUMENTREFERENCE_PROFILE]
    assert_no_errors(validate(document, DOCUMENTREFERENCE_PROFILE))


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda d: d["content"].pop(), "content"),
        (lambda d: d.pop("context"), "context"),
        (lambda d: d["type"]["coding"][0].update(code="34895-3"), "type"),
        (lambda d: d["content"][0]["attachment"].update(contentType="text/html"), "content"),
    ],
    ids=["no-plain-text", "no-plan-link", "other-note-type", "no-charset"],
)
def test_the_validator_holds_documents_to_the_profile(damage: Any, expected: str) -> None:
    document = copy.deepcopy(document_for(NO_OPIOIDS))
    damage(document)
    report = validate(document, DOCUMENTREFERENCE_PROFILE)
    assert report.errors, "the validator accepted a document that breaks the profile"
    assert expected in report.summary()


def test_the_attachments_are_the_rendered_summary_in_html_then_plain_text() -> None:
    document = document_for(FIBRO_AND_MS)
    summary = FIBRO_AND_MS.summary()
    assert decoded(document, 0) == render_html(summary, patient_name="Alex Example")
    assert decoded(document, 1) == render_text(summary)
    html, plain = (content["attachment"] for content in document["content"])
    assert html["contentType"] == "text/html; charset=utf-8"
    assert plain["contentType"] == "text/plain; charset=utf-8"
    for attachment, index in ((html, 0), (plain, 1)):
        data = decoded(document, index).encode("utf-8")
        assert attachment["size"] == len(data)
        sha1 = hashlib.sha1(data, usedforsecurity=False).digest()
        assert base64.b64decode(attachment["hash"]) == sha1
        assert attachment["language"] == "en"
        assert attachment["creation"] == "2026-11-25T14:30:00Z"
        assert attachment["title"].startswith("Low-dose naltrexone: what the evidence shows")


def test_the_document_names_the_patients_conditions_and_links_the_plan() -> None:
    document = document_for(FIBRO_AND_MS)
    text = "".join(parse_narrative(document["text"]["div"]).itertext())
    assert "Fibromyalgia, Multiple sclerosis" in text
    assert document["context"]["related"] == [
        {
            "reference": careplan_full_url(FIBRO_AND_MS.plan_identifier),
            "display": "LDN titration plan",
        }
    ]
    assert document["context"]["encounter"] == [{"reference": "Encounter/encounter-1"}]
    assert document["identifier"] == [
        {"system": DOCUMENTREFERENCE_IDENTIFIER_SYSTEM, "value": FIBRO_AND_MS.plan_identifier}
    ]
    assert (document["status"], document["docStatus"]) == ("current", "final")
    assert document["type"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "11488-4",
        "display": "Consult note",
    }
    assert document["category"][0]["coding"][0]["code"] == "clinical-note"
    assert document["subject"]["reference"] == f"Patient/patient-{FIBRO_AND_MS.key}"
    assert document["date"] == "2026-11-25T14:30:00Z"


def test_the_summary_uses_the_sites_knowledge() -> None:
    document = document_for(NO_OPIOIDS, knowledge=load_knowledge(methadone_washout_days=21))
    for index in (0, 1):
        assert "21 days or more (set locally)" in decoded(document, index)


@pytest.mark.parametrize(
    "reference",
    [
        "CarePlan/123",
        "https://ehr.example.org/fhir/CarePlan/123",
        careplan_full_url(NO_OPIOIDS.plan_identifier),
    ],
)
def test_the_plan_may_be_named_by_id_url_or_transaction_urn(reference: str) -> None:
    document = document_for(NO_OPIOIDS, careplan_reference=reference)
    assert document["context"]["related"][0]["reference"] == reference
    assert_no_errors(validate(document, DOCUMENTREFERENCE_PROFILE))


def test_hostile_text_is_escaped_in_the_narrative_and_the_html() -> None:
    document = document_for(NO_OPIOIDS, patient_name=HOSTILE)
    for html in (document["text"]["div"], decoded(document, 0)):
        assert "<script" not in html
        assert "<img" not in html
        assert "&lt;script&gt;" in html
    assert HOSTILE in "".join(parse_narrative(document["text"]["div"]).itertext())
    assert HOSTILE not in decoded(document, 1)
    assert_no_errors(validate(document, DOCUMENTREFERENCE_PROFILE))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"careplan_reference": "Patient/1"}, "not a CarePlan"),
        ({"careplan_reference": "urn:uuid:not-a-uuid"}, "CarePlan reference"),
        ({"date": datetime(2026, 11, 25, 14, 30)}, "time zone"),
        ({"patient_id": ""}, "Patient id"),
        ({"plan_identifier": "7"}, "UUID"),
        ({"summary": "fibromyalgia"}, "EvidenceSummary"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidResourceInput, match=message):
        document_for(NO_OPIOIDS, **changes)
