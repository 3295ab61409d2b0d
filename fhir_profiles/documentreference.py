"""Turn a patient's evidence summary into the LDN evidence DocumentReference we write.

The DocumentReference conforms to the project's profile ``ldn-evidence-documentreference``:
LOINC 11488-4 (consult note), US Core's clinical-note category, a business identifier derived
from the plan's, the summary twice (HTML, then plain text, each inline as base64 with its size
and SHA-1 hash), and ``context.related`` pointing at the titration CarePlan it explains.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any

from fhir.resources.R4B.documentreference import DocumentReference

from clinical.evidence import EvidenceSummary
from clinical.knowledge import Knowledge, load_knowledge
from fhir_profiles.artefacts import DOCUMENTREFERENCE_PROFILE
from fhir_profiles.evidence_render import render_html, render_text
from fhir_profiles.identifiers import (
    AuthorReference,
    InvalidResourceInput,
    check_aware,
    document_identifier,
    local_reference,
    optional_text,
    plan_reference,
)
from fhir_profiles.narrative import Narrative

LOINC = "http://loinc.org"
US_CORE_DOCUMENT_CATEGORY = (
    "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
)
HTML = "text/html; charset=utf-8"
PLAIN = "text/plain; charset=utf-8"
LANGUAGE = "en"
PLAN_DISPLAY = "LDN titration plan"


def _attachment(content: str, content_type: str, title: str, created: datetime) -> dict[str, Any]:
    data = content.encode("utf-8")
    return {
        "contentType": content_type,
        "language": LANGUAGE,
        "data": base64.b64encode(data).decode("ascii"),
        "size": len(data),
        # FHIR fixes SHA-1 for Attachment.hash: an integrity check, not a security measure.
        "hash": base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode(),
        "title": title,
        "creation": created.isoformat(),
    }


def _narrative(summary: EvidenceSummary, title: str, patient_name: str | None) -> dict[str, str]:
    text = Narrative()
    text.heading(title)
    if patient_name:
        text.paragraph(patient_name, label="Patient:")
    own = [section.title for section in summary.patient_conditions]
    text.paragraph(
        ", ".join(own) if own else "none of the conditions the article covers",
        label="The patient's conditions, shown first:",
    )
    text.paragraph(
        "The full summary is attached as HTML and as plain text; it explains the LDN titration "
        "plan saved with it."
    )
    return text.to_fhir()


def build_evidence_document(
    *,
    patient_id: str,
    summary: EvidenceSummary,
    careplan_reference: str,
    author: AuthorReference,
    date: datetime,
    plan_identifier: str,
    patient_name: str | None = None,
    encounter_id: str | None = None,
    knowledge: Knowledge | None = None,
) -> dict[str, Any]:
    """Build the LDN evidence DocumentReference (FHIR R4 JSON) for ``summary``.

    ``careplan_reference`` is the plan it explains: ``CarePlan/id``, or in a save
    transaction the CarePlan's ``urn:uuid`` (``identifiers.careplan_full_url``). ``knowledge``
    is the app's (``site_knowledge(config)``, with the site's windows; default: as packaged).
    Raises ``InvalidResourceInput`` for bad input.
    """
    if not isinstance(author, AuthorReference):
        raise InvalidResourceInput("The author must be an AuthorReference.")
    if not isinstance(summary, EvidenceSummary):
        raise InvalidResourceInput("The summary must be an EvidenceSummary.")
    check_aware(date, "document")
    patient_name = optional_text(patient_name, "patient name")
    knowledge = knowledge or load_knowledge()
    title = knowledge.evidence.title
    html = render_html(summary, patient_name=patient_name, knowledge=knowledge)
    plain = render_text(summary, knowledge=knowledge)
    context: dict[str, Any] = {"related": [plan_reference(careplan_reference, PLAN_DISPLAY)]}
    if encounter_id is not None:
        context["encounter"] = [local_reference("Encounter", encounter_id, None)]
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "meta": {"profile": [DOCUMENTREFERENCE_PROFILE]},
        "text": _narrative(summary, title, patient_name),
        "identifier": [document_identifier(plan_identifier).to_fhir()],
        "status": "current",
        "docStatus": "final",
        "type": {
            "coding": [{"system": LOINC, "code": "11488-4", "display": "Consult note"}],
            "text": "LDN evidence summary",
        },
        "category": [
            {
                "coding": [
                    {
                        "system": US_CORE_DOCUMENT_CATEGORY,
                        "code": "clinical-note",
                        "display": "Clinical Note",
                    }
                ]
            }
        ],
        "subject": local_reference("Patient", patient_id, patient_name),
        "date": date.isoformat(),
        "author": [author.to_fhir()],
        "description": f"{title}, the patient's own conditions first",
        "content": [
            {"attachment": _attachment(html, HTML, f"{title} (HTML)", date)},
            {"attachment": _attachment(plain, PLAIN, f"{title} (plain text)", date)},
        ],
        "context": context,
    }
    # The model checks structure and datatypes; the profile is checked by the validator in tests.
    return DocumentReference.model_validate(resource).model_dump(mode="json", exclude_none=True)
