"""Save the titration plan and its evidence summary to the chart: one transaction, no duplicates.

The CarePlan and the DocumentReference are built by ``fhir_profiles`` and sent in one
transaction Bundle with conditional creates on identifiers derived from the plan's UUID, so the
write is atomic and idempotent: both are saved or neither is, and sending the same plan again (a
double click, a retry after a timeout) finds the first copy instead of making a second.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from clinical.evidence import select_evidence
from clinical.knowledge import Knowledge
from fhir_client import FhirClient, FhirError, FhirUnavailable
from fhir_profiles.careplan import build_careplan, revoked_careplan
from fhir_profiles.documentreference import build_evidence_document
from fhir_profiles.identifiers import AuthorReference, InvalidResourceInput, careplan_full_url
from fhir_profiles.save_transaction import build_save_transaction
from smart_app.launch import LaunchContext
from smart_app.plan import PlanChoice, requires_acknowledgement
from smart_app.review import Review
from smart_app.revision import Revision


class SaveFailed(Exception):
    """The plan was not saved (or may not have been); ``explanation`` says what to do."""

    def __init__(self, explanation: str) -> None:
        super().__init__(explanation)
        self.explanation = explanation


def save_blockers(ctx: LaunchContext) -> tuple[str, ...]:
    """Say why this launch cannot save to the chart (nothing when it can)."""
    reasons = []
    if not ctx.can_write_careplan:
        reasons.append("The EHR did not grant the app permission to create care plans.")
    if not ctx.can_write_document_reference:
        reasons.append("The EHR did not grant the app permission to create clinical documents.")
    if not ctx.can("CarePlan", "s"):
        # A new plan replaces the plan in effect (smart_app.revision): it must be found first.
        reasons.append(
            "The EHR did not grant the app access to search care plans, so a new plan could not "
            "replace the one already in effect."
        )
    if author_of(ctx) is None:
        reasons.append(
            "The EHR did not say which clinician is signed in (fhirUser), so a saved plan "
            "could not name its author."
        )
    return tuple(reasons)


def author_of(ctx: LaunchContext) -> AuthorReference | None:
    """Return the signed-in clinician as the author, relative to the FHIR server when on it."""
    if not ctx.fhir_user:
        return None
    reference = ctx.fhir_user.removeprefix(f"{ctx.iss}/")
    try:
        return AuthorReference(reference)
    except InvalidResourceInput:
        return None  # a patient or related person signed in: not an author the profiles allow


def save_plan(
    client: FhirClient,
    ctx: LaunchContext,
    choice: PlanChoice,
    review: Review,
    known: Knowledge,
    *,
    revision: Revision | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Send the plan and the evidence summary in one transaction; return the server's answer.

    The plans in effect that ``revision`` names are replaced and ended in the same transaction.

    Raises SaveFailed when the transaction fails or cannot be built.
    """
    author = author_of(ctx)
    if author is None:
        raise SaveFailed(" ".join(save_blockers(ctx)))
    now = now or datetime.now(UTC)
    name = review.chart.banner.name if review.chart.banner else None
    try:
        careplan = build_careplan(
            patient_id=review.chart.patient_id,
            schedule=choice.schedule,
            assessment=review.assessment,
            author=author,
            plan_identifier=choice.plan_id,
            created=now,
            encounter_id=ctx.encounter,
            note=_acknowledgement(choice, review),
            patient_name=name,
            replaces=revision.replaced_ids if revision else (),
        )
        document = build_evidence_document(
            patient_id=review.chart.patient_id,
            summary=select_evidence(review.condition_groups, known.evidence),
            careplan_reference=careplan_full_url(choice.plan_id),
            author=author,
            date=now,
            plan_identifier=choice.plan_id,
            patient_name=name,
            encounter_id=ctx.encounter,
            knowledge=known,
        )
        ended = [revoked_careplan(plan.resource) for plan in revision.in_effect] if revision else []
        bundle = build_save_transaction(careplan, document, choice.plan_id, ended)
    except InvalidResourceInput as exc:
        raise SaveFailed(f"The plan could not be prepared for the chart: {exc}") from exc
    try:
        return client.transaction(bundle)
    except FhirUnavailable as exc:
        raise SaveFailed(
            "The EHR did not answer in time, so the plan may or may not have been saved. "
            "Saving again is safe: it will not make a second copy."
        ) from exc
    except FhirError as exc:
        raise SaveFailed(
            f"The EHR did not save the plan ({exc.message}). Nothing was saved: the plan and "
            "the evidence summary are saved together or not at all. You can try again."
        ) from exc


def _acknowledgement(choice: PlanChoice, review: Review) -> str | None:
    """Record on the plan that it was made against the review's advice, when it was."""
    if not (choice.acknowledged and requires_acknowledgement(review.assessment, choice.start)):
        return None
    return (
        f"Planned although the opioid review said '{review.status.headline}': the prescriber "
        "confirmed they had reviewed the opioid findings."
    )
