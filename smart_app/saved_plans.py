"""Find the LDN titration plans saved on the patient's chart and summarise them for display.

Our CarePlans carry a business identifier in the project's CarePlan identifier system, so the
search is ``CarePlan?patient=...&identifier=<system>|``. A plan is *in effect* while its status
is ``draft``, ``active`` or ``on-hold``: a new plan revises (replaces and ends) those. Whatever
the server sends back is read defensively (another app's CarePlan, or a damaged one, is skipped
or shown with blanks, never a crash). Text from the server is returned as is: the templates
escape it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from clinical.titration import (
    InvalidTitration,
    TitrationProtocol,
    TitrationSchedule,
    build_schedule,
    format_mg,
)
from fhir_client import FhirClient
from fhir_profiles.artefacts import CAREPLAN_IDENTIFIER_SYSTEM, OPIOID_REVIEW_EXTENSION

# FHIR R4 CarePlan.status values under which a plan still applies; revoked, completed,
# entered-in-error and unknown do not.
IN_EFFECT = frozenset({"draft", "active", "on-hold"})


@dataclass(frozen=True, slots=True)
class SavedStep:
    """One dose step of a saved plan."""

    dose_mg: Decimal | None
    first_day: str | None
    last_day: str | None
    description: str | None

    @property
    def dose(self) -> str:
        """The nightly dose in words."""
        return format_mg(self.dose_mg) if self.dose_mg is not None else "unknown dose"


@dataclass(frozen=True, slots=True)
class SavedPlan:
    """What the app shows of a saved titration CarePlan."""

    resource_id: str | None
    plan_id: str
    status: str | None
    created: str | None
    start: str | None
    target: str | None
    review_outcome: str | None
    description: str | None
    steps: tuple[SavedStep, ...]
    replaces: tuple[str, ...] = ()  # references of the plans this one replaced
    # The resource as read, for ending it when a new plan replaces it (never shown as is).
    resource: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def in_effect(self) -> bool:
        """Tell whether the plan still applies (not ended, replaced or entered in error)."""
        return self.status in IN_EFFECT

    @property
    def target_mg(self) -> Decimal | None:
        """The highest nightly dose of the plan (its target), when known."""
        known = [step.dose_mg for step in self.steps if step.dose_mg is not None]
        return max(known) if known else None

    @property
    def interval_days(self) -> int | None:
        """How many days each dose step lasts before the next (None for a one-step plan)."""
        if len(self.steps) < 2:  # one step: nothing to step up to
            return None
        first, last = _date(self.steps[0].first_day), _date(self.steps[0].last_day)
        return (last - first).days + 1 if first and last and last >= first else None


def find_saved_plans(client: FhirClient, patient_id: str) -> tuple[SavedPlan, ...]:
    """Return the patient's saved LDN plans, newest first (FhirError if the search fails)."""
    found = client.search(
        "CarePlan", {"patient": patient_id, "identifier": f"{CAREPLAN_IDENTIFIER_SYSTEM}|"}
    )
    plans = [plan for resource in found if (plan := summarise_careplan(resource)) is not None]
    return tuple(sorted(plans, key=lambda plan: plan.created or "", reverse=True))


def plans_in_effect(plans: Iterable[SavedPlan]) -> tuple[SavedPlan, ...]:
    """Return the plans that still apply, newest first (normally none or one)."""
    return tuple(plan for plan in plans if plan.in_effect)


def find_saved_plan(client: FhirClient, patient_id: str, plan_id: str) -> SavedPlan | None:
    """Return the plan saved under ``plan_id`` for this patient, read back from the server."""
    found = client.search(
        "CarePlan",
        {"patient": patient_id, "identifier": f"{CAREPLAN_IDENTIFIER_SYSTEM}|{plan_id}"},
    )
    plans = [plan for resource in found if (plan := summarise_careplan(resource)) is not None]
    return next((plan for plan in plans if plan.plan_id == plan_id), None)


def schedule_of(plan: SavedPlan, protocol: TitrationProtocol) -> TitrationSchedule | None:
    """Return the schedule a saved plan holds, or None when its steps are not one the protocol
    lays out (another app's plan, or a damaged one): a handout must never guess a dose or date.
    """
    start, target = _date(plan.start), plan.target_mg
    if start is None or target is None:
        return None
    interval = plan.interval_days or protocol.default_interval_days
    try:
        schedule = build_schedule(
            start, interval_days=interval, target_mg=target, protocol=protocol
        )
    except InvalidTitration:
        return None
    laid_out = [(step.dose_mg, step.first_day, step.last_day) for step in schedule.steps]
    saved = [(step.dose_mg, _date(step.first_day), _date(step.last_day)) for step in plan.steps]
    return schedule if laid_out == saved else None


def summarise_careplan(resource: object) -> SavedPlan | None:
    """Summarise one CarePlan of ours; None for anything else."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "CarePlan":
        return None
    plan_id = next(
        (
            str(item["value"])
            for item in _objects(resource.get("identifier"))
            if item.get("system") == CAREPLAN_IDENTIFIER_SYSTEM
            and isinstance(item.get("value"), str)
        ),
        None,
    )
    if plan_id is None:
        return None
    steps = tuple(_step(activity) for activity in _objects(resource.get("activity")))
    known = [step.dose_mg for step in steps if step.dose_mg is not None]
    period = _object(resource, "period")
    return SavedPlan(
        resource_id=_text(resource.get("id")),
        plan_id=plan_id,
        status=_text(resource.get("status")),
        created=_text(resource.get("created")),
        start=_text(period.get("start")),
        target=format_mg(max(known)) if known else None,
        review_outcome=_review_outcome(resource),
        description=_text(resource.get("description")),
        steps=steps,
        replaces=tuple(
            ref
            for item in _objects(resource.get("replaces"))
            if (ref := _text(item.get("reference")))
        ),
        resource=resource,
    )


def _step(activity: dict[str, Any]) -> SavedStep:
    detail = _object(activity, "detail")
    amount = _object(detail, "dailyAmount")
    bounds = _object(_object(_object(detail, "scheduledTiming"), "repeat"), "boundsPeriod")
    return SavedStep(
        dose_mg=_decimal(amount.get("value")),
        first_day=_text(bounds.get("start")),
        last_day=_text(bounds.get("end")),
        description=_text(detail.get("description")),
    )


def _review_outcome(resource: dict[str, Any]) -> str | None:
    for extension in _objects(resource.get("extension")):
        if extension.get("url") != OPIOID_REVIEW_EXTENSION:
            continue
        for part in _objects(extension.get("extension")):
            coding = part.get("valueCoding")
            if part.get("url") == "outcome" and isinstance(coding, dict):
                return _text(coding.get("display")) or _text(coding.get("code"))
    return None


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _object(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def _objects(value: object) -> Iterable[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _decimal(value: object) -> Decimal | None:
    """Read a JSON number as a Decimal (str() keeps 1.5 as typed); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None
