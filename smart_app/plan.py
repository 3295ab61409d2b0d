"""The titration plan form: its defaults, parsing and validation, kept apart from HTTP.

What the clinician entered is kept as typed (``PlanForm``) so that a page with errors shows it
again unchanged; only a form without errors becomes a ``PlanChoice`` and a dated schedule
(``clinical.titration.build_schedule``). The plan's identifier is a UUID made when the form is
first shown and carried in a hidden field: saving the same form twice (a double click, a retry
after a timeout) names the same plan, and the conditional create on it never makes a second one.

When the chart already has an LDN plan in effect, the form opens on that plan's choices and
carries, in ``revises``, the plans the clinician was shown as the ones a save will replace: a
save that finds another plan in effect says so first (``smart_app.revision``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from clinical.assessment import Assessment, AssessmentStatus
from clinical.titration import (
    TitrationProtocol,
    TitrationSchedule,
    build_schedule,
    format_mg,
)
from smart_app.saved_plans import SavedPlan

# How far ahead a plan may start; anything later is more likely a typing slip than a plan.
MAX_DAYS_AHEAD = 366
# The day-by-day table runs until a week into the maintenance dose.
DAYS_AFTER_MAINTENANCE = 7
_CAUTION = frozenset(
    {
        AssessmentStatus.DO_NOT_START,
        AssessmentStatus.SPECIALIST_GUIDANCE,
        AssessmentStatus.UNCERTAIN,
    }
)


@dataclass(frozen=True, slots=True)
class PlanForm:
    """The plan form's values exactly as entered (strings), so errors never lose them."""

    start: str
    interval: str
    target: str
    acknowledged: bool
    plan_id: str
    # The plan ids of the plans in effect the page showed: the ones a save may replace.
    revises: tuple[str, ...] = ()

    def query(self) -> dict[str, str]:
        """Return the values as query parameters (the handout link carries the plan)."""
        values = {
            "start": self.start,
            "interval": self.interval,
            "target": self.target,
            "plan_id": self.plan_id,
        }
        if self.acknowledged:
            values["acknowledge"] = "yes"
        return values


@dataclass(frozen=True, slots=True)
class PlanChoice:
    """A valid plan: the clinician's choices, as the builders of the saved resources need them."""

    plan_id: str
    start: date
    interval_days: int
    target_mg: Decimal
    acknowledged: bool
    schedule: TitrationSchedule


@dataclass(frozen=True, slots=True)
class PlanCheck:
    """The outcome of checking a form: the values, field errors, and the plan when valid.

    ``schedule`` is set whenever the dates and doses are valid, so the chart can be previewed
    while only the acknowledgement is missing; ``choice`` only when there is no error at all.
    """

    form: PlanForm
    errors: Mapping[str, str] = field(default_factory=dict)
    schedule: TitrationSchedule | None = None
    choice: PlanChoice | None = None


def new_plan_id() -> str:
    """Return a fresh plan identifier (a random UUID)."""
    return str(uuid.uuid4())


def is_plan_id(value: object) -> bool:
    """Tell whether ``value`` is a plan identifier this app could have made."""
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def default_start(assessment: Assessment, today: date) -> date:
    """Return the earliest safe start the review found, or today when nothing later is known."""
    earliest = assessment.earliest_start
    return earliest if earliest is not None and earliest > today else today


def new_form(
    assessment: Assessment,
    protocol: TitrationProtocol,
    today: date,
    in_effect: tuple[SavedPlan, ...] = (),
) -> PlanForm:
    """Return the form as first shown, with a new plan id.

    It starts from the newest plan in effect when there is one (its step, its target, and its
    start unless that is past or before the earliest safe start), otherwise from the protocol's
    defaults and the earliest safe start.
    """
    basis = in_effect[0] if in_effect else None
    start = default_start(assessment, today)
    interval = protocol.default_interval_days
    target = protocol.default_target_mg
    if basis is not None:
        saved_start = _iso_date(basis.start)
        if saved_start is not None and saved_start > start:
            start = saved_start
        if basis.interval_days in protocol.allowed_intervals_days:
            interval = basis.interval_days
        if basis.target_mg in protocol.allowed_targets_mg:
            target = basis.target_mg
    return PlanForm(
        start=start.isoformat(),
        interval=str(interval),
        target=_mg_value(target),
        acknowledged=False,
        plan_id=new_plan_id(),
        revises=tuple(plan.plan_id for plan in in_effect),
    )


def form_from(values: Mapping[str, str]) -> PlanForm:
    """Read the submitted values; a missing or damaged plan id is replaced by a new one."""
    plan_id = values.get("plan_id", "")
    return PlanForm(
        start=values.get("start", "").strip(),
        interval=values.get("interval", "").strip(),
        target=values.get("target", "").strip(),
        acknowledged=values.get("acknowledge") == "yes",
        plan_id=plan_id if is_plan_id(plan_id) else new_plan_id(),
        revises=tuple(item for item in values.get("revises", "").split() if is_plan_id(item)),
    )


def requires_acknowledgement(assessment: Assessment, start: date | None) -> bool:
    """Tell whether planning goes against the review, so the clinician must say they saw it.

    That is the case when an opioid is active, specialist guidance is needed or the review is
    uncertain, and when the start falls before the earliest safe start.
    """
    if assessment.status in _CAUTION:
        return True
    earliest = assessment.earliest_start
    return start is not None and earliest is not None and start < earliest


def check_plan(
    form: PlanForm, assessment: Assessment, protocol: TitrationProtocol, today: date
) -> PlanCheck:
    """Validate the form against the protocol, the calendar and the review."""
    errors: dict[str, str] = {}
    start = _start(form.start, today, errors)
    interval = {str(days): days for days in protocol.allowed_intervals_days}.get(form.interval)
    if interval is None:
        errors["interval"] = f"Choose a step of {protocol.interval_choices()}."
    target = {_mg_value(mg): mg for mg in protocol.allowed_targets_mg}.get(form.target)
    if target is None:
        errors["target"] = f"Choose a target of {protocol.target_choices()}."
    if requires_acknowledgement(assessment, start) and not form.acknowledged:
        errors["acknowledge"] = (
            "The opioid review does not clear this start date. Tick the box to confirm that "
            "you have reviewed the findings and plan anyway."
        )
    if start is None or interval is None or target is None:
        return PlanCheck(form, errors)
    schedule = build_schedule(start, interval_days=interval, target_mg=target, protocol=protocol)
    if errors:
        return PlanCheck(form, errors, schedule)
    choice = PlanChoice(form.plan_id, start, interval, target, form.acknowledged, schedule)
    return PlanCheck(form, {}, schedule, choice)


def days_to_show(schedule: TitrationSchedule) -> int:
    """Return how many days the table and chart show: until a week into maintenance."""
    return (schedule.maintenance_start - schedule.start).days + DAYS_AFTER_MAINTENANCE


def target_options(protocol: TitrationProtocol) -> list[tuple[str, str]]:
    """Return the target choices as (form value, label) pairs."""
    return [(_mg_value(mg), format_mg(mg)) for mg in protocol.allowed_targets_mg]


def _start(text: str, today: date, errors: dict[str, str]) -> date | None:
    if not text:
        errors["start"] = "Enter the start date."
        return None
    try:
        start = date.fromisoformat(text)
    except ValueError:
        errors["start"] = "Enter the start date as a calendar date (YYYY-MM-DD)."
        return None
    if start < today:
        errors["start"] = f"The start date cannot be in the past (today is {today})."
        return None
    if start > today + timedelta(days=MAX_DAYS_AHEAD):
        errors["start"] = "The start date must be within a year from today."
        return None
    return start


def _iso_date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _mg_value(amount: Decimal) -> str:
    return f"{amount.normalize():f}"
