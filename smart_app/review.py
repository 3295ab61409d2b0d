"""Read the patient's chart through FHIR and assemble what the opioid review page shows.

The decision is ``clinical.assessment.assess_naltrexone_order``, the same function the CDS card
calls, so the app and the card always agree. Reading fails safe, so a failure never produces an
all-clear: a medication search that fails is passed to the assessment as data that could not be
checked (the status becomes "uncertain", never "safe"), and when no medication source at all could
be read the page is an error, never "no opioids".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any

from clinical.assessment import (
    Assessment,
    AssessmentStatus,
    assess_naltrexone_order,
    no_longer_blocks,
)
from clinical.cautions import Caution, CautionPoint, find_cautions
from clinical.conditions import ConditionGroup, match_conditions
from clinical.exposure import ExposureState, OpioidExposure
from clinical.knowledge import Knowledge
from clinical.opioids import OpioidKnowledge
from clinical.records import ConditionRecord, MedicationRecord, RecordGlance, Source
from clinical.wording import ExposureWords, exposure_words
from fhir_client import FhirClient, FhirError, FhirMalformedAnswer, FhirUnauthorized
from fhir_profiles.mapping import (
    MappingResult,
    PatientBanner,
    read_conditions,
    read_for_decision,
    read_patient,
)
from fhir_profiles.syntax import is_fhir_id
from smart_app.errors import BadLaunchContext, ChartUnreadable, LaunchExpired, NoPatient
from smart_app.launch import LaunchContext

# The medication sources of the opioid review, each with its referenced Medications included.
MEDICATION_SOURCES = tuple(str(source) for source in Source)

# What one read gave: its resources, or why it gave none.
Found = tuple[list[Any], str | None]


@dataclass(frozen=True, slots=True)
class Chart:
    """What was read from the patient's chart, and what could not be.

    ``medications`` are the records that bear on the decision, read whole; ``glanced`` the
    source, status and dates of every other medication record (``read_for_decision``).
    ``unchecked`` holds medication data that could not be read (it makes the assessment
    uncertain); ``notes`` holds the rest that could not be read (patient details, conditions).
    """

    patient_id: str
    banner: PatientBanner | None
    medications: tuple[MedicationRecord, ...]
    glanced: tuple[RecordGlance, ...]
    conditions: tuple[ConditionRecord, ...]
    conditions_read: bool
    unchecked: tuple[str, ...]
    notes: tuple[str, ...]


def read_chart(client: FhirClient, ctx: LaunchContext, opioids: OpioidKnowledge) -> Chart:
    """Read Patient, every medication source and Conditions for the launch's patient.

    The reads are independent, so they run at once: the page waits for the slowest of them,
    not for their sum (a read unfinished at the client's deadline is a failure of its source).
    Medication records are read for the decision (``read_for_decision`` with ``opioids``): the
    review shows what bears on it and counts the rest.
    """
    reads = {
        "Patient": partial(_read_patient, ctx=ctx),
        **{
            resource_type: partial(
                _search,
                ctx=ctx,
                resource_type=resource_type,
                extra={"_include": f"{resource_type}:medication"},
            )
            for resource_type in MEDICATION_SOURCES
        },
        "Condition": partial(_search, ctx=ctx, resource_type="Condition", extra={}),
    }
    found = client.concurrently(
        reads, late=lambda _key: ([], "the FHIR server did not answer in time")
    )
    notes: list[str] = []
    banner = _banner(found["Patient"], notes)
    mapped, unchecked = _medications(
        {key: found[key] for key in MEDICATION_SOURCES}, opioids.for_one_call()
    )
    conditions = _conditions(found["Condition"], notes)
    return Chart(
        patient_id=patient_of(ctx),
        banner=banner,
        medications=mapped.records,
        glanced=mapped.glanced,
        conditions=conditions or (),
        conditions_read=conditions is not None,
        unchecked=unchecked,
        notes=tuple(notes),
    )


def unreadable_chart(ctx: LaunchContext, why: str) -> Chart:
    """Return a chart of which nothing could be read: the review it gives is "uncertain"."""
    return Chart(
        patient_id=patient_of(ctx),
        banner=None,
        medications=(),
        glanced=(),
        conditions=(),
        conditions_read=False,
        unchecked=(why,),
        notes=(),
    )


def patient_of(ctx: LaunchContext) -> str:
    """Return the launch's patient id; raise NoPatient, or BadLaunchContext for a non-id."""
    if not ctx.patient:
        raise NoPatient("The EHR did not say whose chart the app was opened for.")
    check_launch_ids(ctx)
    return ctx.patient


def check_launch_ids(ctx: LaunchContext) -> None:
    """Refuse a launch whose patient or encounter is not FHIR id syntax (it goes into queries)."""
    for what, value in (("patient", ctx.patient), ("encounter", ctx.encounter)):
        if value is not None and not is_fhir_id(value):
            raise BadLaunchContext(f"The {what} the EHR named is not a valid FHIR id.")


def _medications(
    found: Mapping[str, Found], opioids: OpioidKnowledge
) -> tuple[MappingResult[MedicationRecord], tuple[str, ...]]:
    """Return every medication source read, mapped for the decision, and what could not be
    checked.

    Raises ChartUnreadable when no source could be read: nothing about opioids is known.
    """
    resources: list[Any] = []
    unchecked: list[str] = []
    for resource_type, (records, failure) in found.items():
        if failure is not None:
            unchecked.append(f"{resource_type}: {failure}")
        resources.extend(records)
    if len(unchecked) == len(found):
        raise ChartUnreadable(
            "None of the medication records (statements, orders, pharmacy dispenses, "
            "administrations) could be read: " + "; ".join(unchecked)
        )
    mapped = read_for_decision(resources, opioids)
    return mapped, (*unchecked, *(str(problem) for problem in mapped.problems))


def read_chart_conditions(
    client: FhirClient, ctx: LaunchContext, notes: list[str]
) -> tuple[ConditionRecord, ...] | None:
    """Read the patient's Conditions; None (and a note) when they could not be read."""
    return _conditions(_search(client, ctx=ctx, resource_type="Condition", extra={}), notes)


def _conditions(found: Found, notes: list[str]) -> tuple[ConditionRecord, ...] | None:
    records, failure = found
    if failure is not None:
        notes.append(f"Conditions: {failure}")
        return None
    return read_conditions(records).records


def _search(
    client: FhirClient, *, ctx: LaunchContext, resource_type: str, extra: Mapping[str, str]
) -> Found:
    """Search the patient's ``resource_type``; return the resources, or why there are none."""
    if not ctx.can(resource_type, "s"):
        return [], "the EHR did not grant the app access to these records"
    try:
        return client.search(resource_type, {"patient": patient_of(ctx), **extra}), None
    except FhirUnauthorized as exc:
        raise LaunchExpired("The EHR no longer accepts the app's access.") from exc
    except FhirError as exc:
        return [], unread(exc)


def unread(exc: FhirError) -> str:
    """Say why a FHIR read gave nothing, by interaction and status only (never ids or tokens)."""
    if isinstance(exc, FhirMalformedAnswer):
        return f"the FHIR server's answer could not be read ({exc.message})"
    return f"the FHIR server could not answer ({exc.message})"


def read_banner(client: FhirClient, ctx: LaunchContext, notes: list[str]) -> PatientBanner | None:
    """Read the Patient for the banner; None (and a note) when it could not be read."""
    return _banner(_read_patient(client, ctx=ctx), notes)


def _read_patient(client: FhirClient, *, ctx: LaunchContext) -> Found:
    """Read the launch's Patient; return it, or why it could not be read."""
    if not ctx.can("Patient", "r"):
        return [], "the EHR did not grant the app access to them"
    try:
        return [client.read("Patient", patient_of(ctx))], None
    except FhirUnauthorized as exc:
        raise LaunchExpired("The EHR no longer accepts the app's access.") from exc
    except FhirError as exc:
        return [], unread(exc)


def _banner(found: Found, notes: list[str]) -> PatientBanner | None:
    resources, failure = found
    if failure is not None:
        notes.append(f"Patient details: {failure}")
        return None
    result = read_patient(resources[0])
    if not result.records:
        notes.append("Patient details: the answer was not a readable Patient")
        return None
    return result.records[0]


@dataclass(frozen=True, slots=True)
class StatusView:
    """How the review states the decision: a headline, a tone for styling, and an explanation."""

    code: str
    headline: str
    tone: str
    explanation: str


@dataclass(frozen=True, slots=True)
class OpioidRow:
    """One opioid finding, in the words the CDS card uses too, and the record it comes from."""

    words: ExposureWords
    source: str
    no_longer_blocks: str | None


@dataclass(frozen=True, slots=True)
class Review:
    """Everything the opioid review page shows for one patient on one day."""

    chart: Chart
    assessment: Assessment
    status: StatusView
    findings: tuple[OpioidRow, ...]
    past: tuple[OpioidRow, ...]
    condition_groups: frozenset[ConditionGroup]
    condition_names: tuple[str, ...]
    cautions: tuple[Caution, ...]
    unrecorded_use: CautionPoint

    @property
    def needs_acknowledgement(self) -> bool:
        """Whether planning LDN goes against the review (anything but safe or wait-until)."""
        return self.assessment.status not in (
            AssessmentStatus.SAFE_TO_START,
            AssessmentStatus.WAIT_UNTIL,
        )


def build_review(chart: Chart, today: date, known: Knowledge) -> Review:
    """Assess the chart's medications and order what the review shows."""
    assessment = assess_naltrexone_order(
        None,
        chart.medications,
        known.opioids,
        today,
        unchecked=chart.unchecked,
        windows=known.windows,
        glanced=chart.glanced,
    )
    matches = match_conditions(chart.conditions, known.conditions)
    groups = frozenset(match.group for match in matches)
    return Review(
        chart=chart,
        assessment=assessment,
        status=status_view(assessment),
        findings=tuple(opioid_row(e) for e in assessment.findings),
        past=tuple(opioid_row(e) for e in assessment.past),
        condition_groups=groups,
        condition_names=tuple(
            known.conditions.display(group) for group in ConditionGroup if group in groups
        ),
        cautions=find_cautions(
            chart.medications, matches, known.opioids, known.cautions, known.windows, today
        ),
        unrecorded_use=known.cautions.unrecorded_use,
    )


def status_view(assessment: Assessment) -> StatusView:
    """Say the decision in words for the page."""
    earliest = assessment.earliest_start
    match assessment.status:
        case AssessmentStatus.SAFE_TO_START:
            # "No opioid found" only when no opioid record exists at all.
            headline = (
                "No active or recent opioid: LDN can start"
                if assessment.past
                else "No opioid found: LDN can start"
            )
            return StatusView(
                "safe-to-start",
                headline,
                "ok",
                "No active or recent opioid in the records checked, and every record was read.",
            )
        case AssessmentStatus.WAIT_UNTIL:
            return StatusView(
                "wait-until",
                f"Wait until {earliest}: earliest safe start"
                if assessment.earliest_start_complete
                else f"Wait: at least until {earliest}",
                "wait",
                "An opioid was taken recently. Starting before its washout ends can cause "
                "acute opioid withdrawal.",
            )
        case AssessmentStatus.SPECIALIST_GUIDANCE:
            return StatusView(
                "specialist-guidance",
                "Specialist guidance needed before starting",
                "stop",
                "Methadone or a depot buprenorphine was found: the product cannot compute a "
                "washout; plan the start date with a specialist.",
            )
        case AssessmentStatus.DO_NOT_START:
            then = (
                f" If the opioid ends as planned, the earliest start is {earliest}."
                if earliest and assessment.earliest_start_complete
                else ""
            )
            return StatusView(
                "do-not-start",
                "Do not start: an opioid is active",
                "stop",
                "Naltrexone at any dose causes acute withdrawal while an opioid is taken." + then,
            )
        case _ if any(e.state is ExposureState.GUIDANCE for e in assessment.findings):
            return StatusView(
                "uncertain",
                "Specialist guidance advised before starting",
                "stop",
                "Methadone, a depot buprenorphine or long use of buprenorphine ended after its "
                "critical window, but the article gives no number of days for its washout: plan "
                "the start with a specialist. This is not an all-clear.",
            )
        case _:
            return StatusView(
                "uncertain",
                "Uncertain: not everything could be checked",
                "stop",
                "Some medication data could not be read or has no dates. Do not read this as "
                "'no opioids': check the items below before starting.",
            )


def opioid_row(exposure: OpioidExposure) -> OpioidRow:
    """Describe one opioid exposure for the review table."""
    return OpioidRow(
        words=exposure_words(exposure),
        source=exposure.reference,
        no_longer_blocks=(
            no_longer_blocks(exposure) if exposure.state is ExposureState.PAST else None
        ),
    )
