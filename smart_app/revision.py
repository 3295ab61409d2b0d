"""Revise, never pile up: a new plan replaces the LDN plans in effect on the chart.

A patient has one LDN titration plan in effect. Saving a new one revises it: the new CarePlan
names the old ones in ``CarePlan.replaces`` and the same transaction ends them (status
``revoked``, ``fhir_profiles.careplan.revoked_careplan``). The clinician is told first: the
editor shows the plan in effect and the form carries it (``PlanForm.revises``). A save that
finds a plan in effect the page did not show (another launch saved one meanwhile) saves nothing
and says so; saving again then replaces it, knowingly.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhir_client import FhirClient, FhirError
from smart_app.launch import LaunchContext
from smart_app.plan import PlanForm
from smart_app.review import patient_of
from smart_app.saved_plans import SavedPlan, find_saved_plans, plans_in_effect


class RevisionUnknown(Exception):
    """The plans in effect could not be read, so a save could not replace them."""

    def __init__(self, explanation: str) -> None:
        super().__init__(explanation)
        self.explanation = explanation


@dataclass(frozen=True, slots=True)
class Revision:
    """The plans a save of ``form`` replaces, and those of them the page has not shown yet."""

    in_effect: tuple[SavedPlan, ...] = ()
    unseen: tuple[SavedPlan, ...] = ()

    @property
    def replaced_ids(self) -> tuple[str, ...]:
        """The server ids of the plans replaced (for ``CarePlan.replaces``)."""
        return tuple(plan.resource_id for plan in self.in_effect if plan.resource_id)


def read_revision(client: FhirClient, ctx: LaunchContext, form: PlanForm) -> Revision:
    """Read the plans in effect that a save of ``form`` would replace.

    The form's own plan is left out (a retry of a save that went through). Raises
    RevisionUnknown when the chart's plans cannot be read or could not be ended.
    """
    if not ctx.can("CarePlan", "s"):
        raise RevisionUnknown(
            "The EHR did not grant the app access to read care plans, so the app cannot tell "
            "whether a plan is already in effect."
        )
    try:
        plans = find_saved_plans(client, patient_of(ctx))
    except FhirError as exc:
        raise RevisionUnknown(
            f"The LDN plans already on the chart could not be read ({exc.message})."
        ) from exc
    in_effect = tuple(plan for plan in plans_in_effect(plans) if plan.plan_id != form.plan_id)
    if in_effect and not ctx.can("CarePlan", "u"):
        raise RevisionUnknown(
            "An LDN plan is in effect, and the EHR did not grant the app permission to update "
            "care plans, so a new plan could not end it."
        )
    if any(plan.resource_id is None for plan in in_effect):
        raise RevisionUnknown("A plan in effect came back without its id, so it cannot be ended.")
    unseen = tuple(plan for plan in in_effect if plan.plan_id not in form.revises)
    return Revision(in_effect, unseen)
