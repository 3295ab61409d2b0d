"""Patients for the write-side tests: every opioid review outcome and every article condition.

Each case is built from clinical records through the real rules (``assess_naltrexone_order``,
``classify_conditions``, ``select_evidence``), so the resources under test are the ones the app
would write for such a patient.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from clinical.assessment import Assessment, AssessmentStatus, assess_naltrexone_order
from clinical.conditions import ConditionGroup, ConditionKnowledge, classify_conditions
from clinical.evidence import EvidenceKnowledge, EvidenceSummary, select_evidence
from clinical.opioids import OpioidKnowledge
from clinical.records import (
    RXNORM,
    SNOMED,
    Coding,
    Concept,
    ConditionRecord,
    Medication,
    MedicationRecord,
    Source,
)
from clinical.titration import TitrationProtocol, TitrationSchedule, build_schedule
from fhir_profiles.careplan import build_careplan
from fhir_profiles.documentreference import build_evidence_document
from fhir_profiles.identifiers import AuthorReference, careplan_full_url
from fhir_profiles.save_transaction import build_save_transaction
from fhir_profiles.validation import ValidationReport

TODAY = date(2026, 11, 25)
CREATED = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)
AUTHOR = AuthorReference("Practitioner/prescriber-1", "Dr Example Prescriber")
HOSTILE = "<script>alert('x')</script> & <img src=x onerror=alert(1)>"


def opioid(
    code: str,
    name: str,
    status: str,
    *,
    started: date | None = None,
    ended: date | None = None,
    id: str = "med-1",
) -> MedicationRecord:
    """Return a MedicationStatement record for one RxNorm-coded opioid ingredient."""
    return MedicationRecord(
        source=Source.STATEMENT,
        id=id,
        status=status,
        medication=Medication(Concept((Coding(RXNORM, code, name),))),
        started=started,
        ended=ended,
    )


def condition(code: str, display: str) -> ConditionRecord:
    """Return an active Condition coded in SNOMED CT."""
    return ConditionRecord(
        id=f"cond-{code}", code=Concept((Coding(SNOMED, code, display),)), clinical_status="active"
    )


@dataclass(frozen=True)
class SaveCase:
    """One patient: medication records, conditions, and the outcome the rules must reach."""

    key: str
    records: tuple[MedicationRecord, ...]
    conditions: tuple[ConditionRecord, ...]
    status: AssessmentStatus
    groups: frozenset[ConditionGroup]

    @property
    def plan_identifier(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{self.key}.plans.test"))

    def assessment(self) -> Assessment:
        return assess_naltrexone_order(None, self.records, OpioidKnowledge.load(), TODAY)

    def summary(self) -> EvidenceSummary:
        groups = classify_conditions(self.conditions, ConditionKnowledge.load())
        return select_evidence(groups, EvidenceKnowledge.load())

    def schedule(
        self, *, interval: int = 7, target: str = "4.5", shift_days: int = 0
    ) -> TitrationSchedule:
        """Schedule from the earliest start (or tomorrow), moved by ``shift_days``."""
        start = self.assessment().earliest_start or TODAY + timedelta(days=1)
        start += timedelta(days=shift_days)
        return build_schedule(
            start, interval_days=interval, target_mg=target, protocol=TitrationProtocol.load()
        )


NO_OPIOIDS = SaveCase("no-opioids", (), (), AssessmentStatus.SAFE_TO_START, frozenset())
OXYCODONE_ACTIVE = opioid("7804", "oxycodone", "active")
OXYCODONE_RECENT = opioid("7804", "oxycodone", "completed", ended=TODAY - timedelta(days=3))
# A one-week course: long use of buprenorphine would need specialist guidance instead.
BUPRENORPHINE_RECENT = opioid(
    "1819",
    "buprenorphine",
    "stopped",
    started=TODAY - timedelta(days=9),
    ended=TODAY - timedelta(days=2),
)
METHADONE_RECENT = opioid("6813", "methadone", "completed", ended=TODAY - timedelta(days=5))
MORPHINE_UNDATED = opioid("7052", "morphine", "completed")

CONDITIONS = {
    ConditionGroup.FIBROMYALGIA: condition("203082005", "Fibromyalgia"),
    ConditionGroup.CROHNS: condition("34000006", "Crohn's disease"),
    ConditionGroup.MULTIPLE_SCLEROSIS: condition("24700007", "Multiple sclerosis"),
    ConditionGroup.CHRONIC_PAIN: condition("82423001", "Chronic pain"),
    ConditionGroup.ALCOHOL_USE_DISORDER: condition("7200002", "Alcoholism"),
    ConditionGroup.CANCER: condition("363346000", "Malignant neoplastic disease"),
    ConditionGroup.OBESITY: condition("414916001", "Obesity"),
}

CASES = (
    NO_OPIOIDS,
    SaveCase(
        "active-oxycodone", (OXYCODONE_ACTIVE,), (), AssessmentStatus.DO_NOT_START, frozenset()
    ),
    SaveCase("recent-oxycodone", (OXYCODONE_RECENT,), (), AssessmentStatus.WAIT_UNTIL, frozenset()),
    SaveCase(
        "recent-buprenorphine",
        (BUPRENORPHINE_RECENT,),
        (),
        AssessmentStatus.WAIT_UNTIL,
        frozenset(),
    ),
    SaveCase(
        "recent-methadone",
        (METHADONE_RECENT,),
        (),
        AssessmentStatus.SPECIALIST_GUIDANCE,
        frozenset(),
    ),
    SaveCase("undated-morphine", (MORPHINE_UNDATED,), (), AssessmentStatus.UNCERTAIN, frozenset()),
    *(
        SaveCase(
            f"condition-{group.value.replace('_', '-')}",
            (),
            (record,),
            AssessmentStatus.SAFE_TO_START,
            frozenset({group}),
        )
        for group, record in CONDITIONS.items()
    ),
    SaveCase(
        "fibromyalgia-and-ms-on-oxycodone",
        (OXYCODONE_RECENT,),
        (
            CONDITIONS[ConditionGroup.FIBROMYALGIA],
            CONDITIONS[ConditionGroup.MULTIPLE_SCLEROSIS],
        ),
        AssessmentStatus.WAIT_UNTIL,
        frozenset({ConditionGroup.FIBROMYALGIA, ConditionGroup.MULTIPLE_SCLEROSIS}),
    ),
)

case_params = pytest.mark.parametrize("case", CASES, ids=[case.key for case in CASES])


def careplan_for(
    case: SaveCase, *, patient_name: str | None = "Alex Example", **changes: Any
) -> dict[str, Any]:
    """Build the CarePlan the app would write for ``case`` (keyword arguments override)."""
    arguments: dict[str, Any] = {
        "patient_id": f"patient-{case.key}",
        "schedule": case.schedule(),
        "assessment": case.assessment(),
        "author": AUTHOR,
        "plan_identifier": case.plan_identifier,
        "created": CREATED,
        "encounter_id": "encounter-1",
        "note": None,
        "patient_name": patient_name,
    }
    return build_careplan(**{**arguments, **changes})


def document_for(
    case: SaveCase, *, patient_name: str | None = "Alex Example", **changes: Any
) -> dict[str, Any]:
    """Build the evidence DocumentReference for ``case``, pointing at its CarePlan's urn:uuid."""
    arguments: dict[str, Any] = {
        "patient_id": f"patient-{case.key}",
        "summary": case.summary(),
        "careplan_reference": careplan_full_url(case.plan_identifier),
        "author": AUTHOR,
        "date": CREATED,
        "plan_identifier": case.plan_identifier,
        "patient_name": patient_name,
        "encounter_id": "encounter-1",
    }
    return build_evidence_document(**{**arguments, **changes})


def transaction_for(case: SaveCase) -> dict[str, Any]:
    """Build the save transaction for ``case``."""
    return build_save_transaction(careplan_for(case), document_for(case), case.plan_identifier)


def assert_no_errors(report: ValidationReport) -> None:
    """Fail with every finding of the validator when it found any error."""
    assert report.errors == (), report.summary()


def mg(value: Any) -> Decimal:
    """Read a JSON number as the dose it states."""
    return Decimal(str(value))


def parse_narrative(div: str) -> ET.Element:
    """Parse a narrative div as XML: it must be well-formed XHTML."""
    # The input is the builder's own output under test, not data from outside.
    element = ET.fromstring(div)  # noqa: S314
    assert element.tag == "{http://www.w3.org/1999/xhtml}div"
    return element
