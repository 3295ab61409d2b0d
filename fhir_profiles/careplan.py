"""Turn a titration schedule and its opioid review into the LDN titration CarePlan we write.

The CarePlan conforms to the project's profile ``ldn-titration-careplan``: US Core's assess-plan
category, a business identifier for conditional create, the titration PlanDefinition it follows,
one activity per dose step (naltrexone, nightly dose in mg, at bedtime, between the step's dates;
the maintenance step has no end), and the outcome of the opioid review in the
``opioid-review-outcome`` extension. The product code and the ActivityDefinition of each step
come from the PlanDefinition artefacts, the timing from the titration protocol: no clinical value
is restated here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from fhir.resources.R4B.careplan import CarePlan

from clinical.assessment import Assessment, AssessmentStatus
from clinical.titration import TitrationSchedule, TitrationStep, format_mg
from fhir_profiles.artefacts import (
    CAREPLAN_PROFILE,
    OPIOID_REVIEW_EXTENSION,
    REVIEW_OUTCOME_SYSTEM,
    TITRATION_PLANDEFINITION,
    load_artefact,
)
from fhir_profiles.identifiers import (
    AuthorReference,
    InvalidResourceInput,
    careplan_identifier,
    check_aware,
    local_reference,
    optional_text,
)
from fhir_profiles.narrative import Narrative

US_CORE_CAREPLAN_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/careplan-category"
UCUM = "http://unitsofmeasure.org"


@dataclass(frozen=True, slots=True)
class DoseDefinition:
    """The ActivityDefinition of one dose step: its versioned canonical and product concept."""

    canonical: str
    product: dict[str, Any]


def _actions(actions: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for action in actions:
        yield action
        yield from _actions(action.get("action", []))


@cache
def _plan_definition() -> tuple[str, dict[Decimal, DoseDefinition]]:
    """Return the PlanDefinition's versioned canonical and its dose steps by nightly dose."""
    plan = load_artefact(TITRATION_PLANDEFINITION)
    doses: dict[Decimal, DoseDefinition] = {}
    for action in _actions(plan["action"]):
        if "definitionCanonical" not in action:
            continue
        activity = load_artefact(action["definitionCanonical"])
        quantity = activity["dosage"][0]["doseAndRate"][0]["doseQuantity"]
        doses[Decimal(str(quantity["value"]))] = DoseDefinition(
            canonical=f"{activity['url']}|{activity['version']}",
            product=activity["productCodeableConcept"],
        )
    return f"{plan['url']}|{plan['version']}", doses


@cache
def _outcome_displays() -> dict[str, str]:
    system = load_artefact(REVIEW_OUTCOME_SYSTEM)
    return {concept["code"]: concept["display"] for concept in system["concept"]}


def _outcome_display(status: AssessmentStatus) -> str:
    """Return the CodeSystem's display for an opioid review outcome ("Wait until washout ends")."""
    return _outcome_displays()[status.value]


def plan_status(schedule: TitrationSchedule, assessment: Assessment) -> str:
    """Return ``active`` when the review allows the first dose on the start date, else ``draft``.

    Only a review that found nothing, or a wait that ends on or before the start date, lets the
    plan be active: a plan saved under any other outcome is kept as a draft, so the chart never
    shows an active plan the opioid review does not support (fail safe).
    """
    if assessment.status is AssessmentStatus.SAFE_TO_START:
        return "active"
    wait_ends = _wait_ends(assessment)
    if wait_ends is not None:
        return "active" if schedule.start >= wait_ends else "draft"
    return "draft"


def _wait_ends(assessment: Assessment) -> date | None:
    """Return the date a wait ends, for a ``wait-until`` review only (None for any other).

    The extension defines its earliest start for that outcome alone; the reasons still say any
    planned end of an active opioid.
    """
    if assessment.status is not AssessmentStatus.WAIT_UNTIL:
        return None
    # A date from only some of the findings could be too early to be recorded as the date.
    if assessment.earliest_start is None or not assessment.earliest_start_complete:
        raise InvalidResourceInput("An opioid review that says to wait must give the date.")
    return assessment.earliest_start


def _review_extension(assessment: Assessment) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {
            "url": "outcome",
            "valueCoding": {
                "system": REVIEW_OUTCOME_SYSTEM,
                "code": assessment.status.value,
                "display": _outcome_display(assessment.status),
            },
        },
        {"url": "reviewed", "valueDate": assessment.today.isoformat()},
    ]
    wait_ends = _wait_ends(assessment)
    if wait_ends is not None:
        parts.append({"url": "earliestStart", "valueDate": wait_ends.isoformat()})
    return {"url": OPIOID_REVIEW_EXTENSION, "extension": parts}


def _step_description(step: TitrationStep, schedule: TitrationSchedule) -> str:
    text = f"Naltrexone {format_mg(step.dose_mg)} {schedule.timing_display}"
    return f"{text}, ongoing (maintenance)" if step.is_maintenance else text


def _activity(
    step: TitrationStep, schedule: TitrationSchedule, *, first: bool, active: bool
) -> dict[str, Any]:
    _, doses = _plan_definition()
    definition = doses.get(step.dose_mg)
    if definition is None:
        raise InvalidResourceInput(
            f"The titration PlanDefinition has no step of {format_mg(step.dose_mg)}."
        )
    bounds = {"start": step.first_day.isoformat()}
    if step.last_day is not None:
        bounds["end"] = step.last_day.isoformat()
    protocol = schedule.protocol
    return {
        "detail": {
            "kind": "MedicationRequest",
            "instantiatesCanonical": [definition.canonical],
            # Later steps wait on the previous dose being tolerated, so only the first is booked.
            "status": "scheduled" if active and first else "not-started",
            "description": _step_description(step, schedule),
            "scheduledTiming": {
                "repeat": {
                    "boundsPeriod": bounds,
                    "frequency": protocol.doses_per_day,
                    "period": 1,
                    "periodUnit": "d",
                    "when": [protocol.event_timing],
                }
            },
            "productCodeableConcept": definition.product,
            "dailyAmount": {
                "value": step.dose_mg * protocol.doses_per_day,
                "unit": "mg",
                "system": UCUM,
                "code": "mg",
            },
        }
    }


def _narrative(
    schedule: TitrationSchedule,
    assessment: Assessment,
    *,
    status: str,
    patient_name: str | None,
    note: str | None,
) -> dict[str, str]:
    text = Narrative()
    text.heading(schedule.protocol.title)
    if patient_name:
        text.paragraph(patient_name, label="Patient:")
    outcome = _outcome_display(assessment.status)
    review = f"{outcome} (reviewed {assessment.today.isoformat()})"
    wait_ends = _wait_ends(assessment)
    if wait_ends is not None:
        review += f"; earliest start {wait_ends.isoformat()}"
    text.paragraph(review + ".", label="Opioid review:")
    text.bullets(assessment.reasons)
    if status == "draft":
        text.paragraph(
            "This plan is a draft: do not start it until the opioid review allows the first dose.",
            label="Draft.",
        )
    rows = [
        (
            format_mg(step.dose_mg),
            schedule.timing_display,
            step.first_day.isoformat(),
            step.last_day.isoformat() if step.last_day else "ongoing (maintenance)",
        )
        for step in schedule.steps
    ]
    text.table(("Nightly dose", "When", "From", "To"), rows)
    text.bullets(schedule.protocol.notes)
    if note:
        text.paragraph(note, label="Clinician's note:")
    return text.to_fhir()


def _plan_description(schedule: TitrationSchedule) -> str:
    start = f"{format_mg(schedule.steps[0].dose_mg)} {schedule.timing_display}"
    if len(schedule.steps) == 1:
        return f"{start}, kept at that dose"
    return (
        f"{start}, raised every {schedule.interval_days} days as tolerated "
        f"to {format_mg(schedule.target_mg)}"
    )


def build_careplan(
    *,
    patient_id: str,
    schedule: TitrationSchedule,
    assessment: Assessment,
    author: AuthorReference,
    plan_identifier: str,
    created: datetime,
    encounter_id: str | None = None,
    note: str | None = None,
    patient_name: str | None = None,
    replaces: Sequence[str] = (),
) -> dict[str, Any]:
    """Build the LDN titration CarePlan (FHIR R4 JSON) for ``schedule`` under ``assessment``.

    ``plan_identifier`` is the caller's UUID for this plan (the business identifier value);
    ``replaces`` the ids of the plans it revises (``CarePlan.replaces``; end them with
    ``revoked_careplan`` in the same transaction).
    Raises ``InvalidResourceInput`` for an input the profile cannot carry.
    """
    if not isinstance(schedule, TitrationSchedule):
        raise InvalidResourceInput("The schedule must be a TitrationSchedule.")
    if not isinstance(assessment, Assessment):
        raise InvalidResourceInput("The opioid review must be an Assessment.")
    if not isinstance(author, AuthorReference):
        raise InvalidResourceInput("The author must be an AuthorReference.")
    check_aware(created, "created")
    note = optional_text(note, "note")
    patient_name = optional_text(patient_name, "patient name")
    status = plan_status(schedule, assessment)
    plan_canonical, _ = _plan_definition()
    resource: dict[str, Any] = {
        "resourceType": "CarePlan",
        "meta": {"profile": [CAREPLAN_PROFILE]},
        "text": _narrative(
            schedule, assessment, status=status, patient_name=patient_name, note=note
        ),
        "extension": [_review_extension(assessment)],
        "identifier": [careplan_identifier(plan_identifier).to_fhir()],
        "instantiatesCanonical": [plan_canonical],
        "status": status,
        "intent": "plan",
        "category": [
            {
                "coding": [
                    {
                        "system": US_CORE_CAREPLAN_CATEGORY,
                        "code": "assess-plan",
                        "display": "Assessment and Plan of Treatment",
                    }
                ]
            }
        ],
        "title": schedule.protocol.title,
        "description": _plan_description(schedule),
        "subject": local_reference("Patient", patient_id, patient_name),
        "period": {"start": schedule.start.isoformat()},
        "created": created.isoformat(),
        "author": author.to_fhir(),
        "activity": [
            _activity(step, schedule, first=index == 0, active=status == "active")
            for index, step in enumerate(schedule.steps)
        ],
    }
    if encounter_id is not None:
        resource["encounter"] = local_reference("Encounter", encounter_id, None)
    if replaces:
        resource["replaces"] = [local_reference("CarePlan", ident, None) for ident in replaces]
    if note:
        resource["note"] = [{"text": note, "time": created.isoformat()}]
    # The model checks structure and datatypes; the profile is checked by the validator in tests.
    return CarePlan.model_validate(resource).model_dump(mode="json", exclude_none=True)


# FHIR R4 CarePlanActivityStatus for the steps of a plan that ends early: a step not yet begun
# is cancelled, one under way is stopped; done or already ended steps keep their status.
_ENDED_STEP = {
    "not-started": "cancelled",
    "scheduled": "cancelled",
    "in-progress": "stopped",
    "on-hold": "stopped",
}
ENDED_NOTE = (
    "<p><b>Ended.</b> A newer LDN titration plan replaces this one (see its CarePlan.replaces).</p>"
)


def revoked_careplan(resource: Mapping[str, Any]) -> dict[str, Any]:
    """Return a saved CarePlan ended because a newer plan replaces it.

    FHIR R4 CarePlan.status ``revoked``: "terminated prior to reaching completion (though it may
    have been replaced by a new plan)". ``completed`` would say every activity was done, which a
    titration plan with an open-ended maintenance step never is. Everything else is kept as read,
    so the PUT that ends it changes nothing else.
    """
    if resource.get("resourceType") != "CarePlan" or not resource.get("id"):
        raise InvalidResourceInput("Only a stored CarePlan (with an id) can be ended.")
    ended: dict[str, Any] = {key: value for key, value in resource.items() if key != "meta"}
    if isinstance(resource.get("meta"), Mapping):
        # versionId and lastUpdated are the server's; the profile claim stays.
        kept = {k: v for k, v in resource["meta"].items() if k not in ("versionId", "lastUpdated")}
        if kept:
            ended["meta"] = kept
    ended["status"] = "revoked"
    activities = []
    for activity in resource.get("activity") or []:
        detail = activity.get("detail") if isinstance(activity, Mapping) else None
        if isinstance(detail, Mapping) and detail.get("status") in _ENDED_STEP:
            activity = {**activity, "detail": {**detail, "status": _ENDED_STEP[detail["status"]]}}
        activities.append(activity)
    if activities:
        ended["activity"] = activities
    text = resource.get("text")
    if isinstance(text, Mapping) and str(text.get("div", "")).endswith("</div>"):
        div = str(text["div"])
        ended["text"] = {**text, "div": div[: -len("</div>")] + ENDED_NOTE + "</div>"}
    return CarePlan.model_validate(ended).model_dump(mode="json", exclude_none=True)
