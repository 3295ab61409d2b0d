"""Plan and save for one sample patient as the SMART app would, then read the plan back.

From the patient's chart on the server under test: the opioid review (``clinical``), a titration
schedule starting when the review allows, and the evidence summary with the patient's conditions
first; then the CarePlan and DocumentReference built by ``fhir_profiles`` and saved in one
transaction of conditional creates. The plan identifier is derived from the patient's key, so
running the checker again finds the plan saved before instead of writing a second one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from clinical.assessment import Assessment, AssessmentStatus, assess_naltrexone_order
from clinical.conditions import ConditionKnowledge, classify_conditions
from clinical.evidence import EvidenceKnowledge, EvidenceSummary, select_evidence
from clinical.opioids import OpioidKnowledge
from clinical.records import Source
from clinical.titration import TitrationProtocol, TitrationSchedule, build_schedule
from fhir_client import FhirClient
from fhir_profiles.careplan import build_careplan
from fhir_profiles.documentreference import build_evidence_document
from fhir_profiles.identifiers import AuthorReference, careplan_full_url
from fhir_profiles.mapping import read_conditions, read_medication_records
from fhir_profiles.save_transaction import build_save_transaction
from sandbox.loader import SAMPLE_PRACTITIONER
from sandbox.patients import SAMPLE_TAG

_PLAN_SEED = "http://ldn-safety.example.org/fhir/checker-plan"
# The plans' author: the sample clinician the loader writes (the user of sandbox EHR launches).
AUTHOR = AuthorReference(SAMPLE_PRACTITIONER, "Dr Sandbox Clinician")


class SaveProblem(Exception):
    """The saved plan is not what was sent; the message says how."""


@dataclass(frozen=True, slots=True)
class SavedPlan:
    """The server ids of a saved plan, and whether this save created it or found it."""

    plan_identifier: str
    careplan_id: str
    document_id: str
    created: bool
    status: AssessmentStatus

    def describe(self) -> str:
        """Say it in one line."""
        how = "created" if self.created else "already there (conditional create kept it)"
        return (
            f"CarePlan/{self.careplan_id} + DocumentReference/{self.document_id} {how}; "
            f"review {self.status}"
        )


def plan_identifier(patient_key: str) -> str:
    """Return the plan UUID the checker uses for a sample patient (the same on every run)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{_PLAN_SEED}|{patient_key}"))


def review_chart(
    client: FhirClient, patient_id: str, today: date
) -> tuple[Assessment, EvidenceSummary]:
    """Read the patient's medications and conditions; return the opioid review and evidence."""
    medications = [
        resource
        for kind in (str(source) for source in Source)
        for resource in client.search(
            kind, {"patient": patient_id, "_include": f"{kind}:medication"}
        )
    ]
    records = read_medication_records(medications)
    assessment = assess_naltrexone_order(
        None,
        records.records,
        OpioidKnowledge.load(),
        today,
        unchecked=tuple(str(problem) for problem in records.problems),
    )
    conditions = read_conditions(client.search("Condition", {"patient": patient_id}))
    groups = classify_conditions(conditions.records, ConditionKnowledge.load())
    return assessment, select_evidence(groups, EvidenceKnowledge.load())


def schedule_for(assessment: Assessment, today: date) -> TitrationSchedule:
    """Start the protocol's default titration when the review allows (today, or after a wait)."""
    protocol = TitrationProtocol.load()
    start = today
    if assessment.earliest_start is not None and assessment.earliest_start > today:
        start = assessment.earliest_start
    return build_schedule(
        start,
        interval_days=protocol.default_interval_days,
        target_mg=protocol.default_target_mg,
        protocol=protocol,
    )


def save_plan(client: FhirClient, patient_key: str, patient_id: str, today: date) -> SavedPlan:
    """Build and save a sample patient's CarePlan and DocumentReference in one transaction."""
    assessment, summary = review_chart(client, patient_id, today)
    identifier = plan_identifier(patient_key)
    now = datetime.now(UTC)
    careplan = build_careplan(
        patient_id=patient_id,
        schedule=schedule_for(assessment, today),
        assessment=assessment,
        author=AUTHOR,
        plan_identifier=identifier,
        created=now,
    )
    document = build_evidence_document(
        patient_id=patient_id,
        summary=summary,
        careplan_reference=careplan_full_url(identifier),
        author=AUTHOR,
        date=now,
        plan_identifier=identifier,
    )
    for resource in (careplan, document):
        resource["meta"]["tag"] = [SAMPLE_TAG]
    answer = client.transaction(build_save_transaction(careplan, document, identifier))
    entries = answer.get("entry") or []
    if len(entries) != 2:
        raise SaveProblem(f"the transaction answered {len(entries)} entries, not 2")
    (plan_id, plan_status), (doc_id, _) = (_written(entry) for entry in entries)
    return SavedPlan(identifier, plan_id, doc_id, plan_status == "201", assessment.status)


def _written(entry: dict[str, Any]) -> tuple[str, str]:
    """Return the id and status code of one transaction-response entry."""
    response = entry.get("response") or {}
    status = str(response.get("status", "")).split(" ", 1)[0]
    location = str(response.get("location", "")).split("/_history/", 1)[0]
    found = location.rstrip("/").rsplit("/", 1)[-1] if location else ""
    found = found or str((entry.get("resource") or {}).get("id", ""))
    if not found:
        raise SaveProblem("the transaction answer does not say which id the server gave")
    return found, status


def read_back(client: FhirClient, saved: SavedPlan) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read the saved CarePlan and DocumentReference; check they are the plan's and linked."""
    careplan = client.read("CarePlan", saved.careplan_id)
    document = client.read("DocumentReference", saved.document_id)
    for resource in (careplan, document):
        values = {i.get("value") for i in resource.get("identifier") or []}
        if saved.plan_identifier not in values:
            kind = resource.get("resourceType")
            raise SaveProblem(f"{kind} read back without the plan identifier")
    related = [r.get("reference", "") for r in (document.get("context") or {}).get("related", [])]
    if not any(ref.endswith(f"CarePlan/{saved.careplan_id}") for ref in related):
        raise SaveProblem("the DocumentReference read back does not point at its CarePlan")
    return careplan, document
