"""Save the titration plan and its evidence summary to the chart: one transaction, no duplicates.

The CarePlan and the DocumentReference are built by ``fhir_profiles`` and sent in one
transaction Bundle with conditional creates on identifiers derived from the plan's UUID, so the
write is atomic and idempotent: both are saved or neither is, and sending the same plan again (a
double click, a retry after a timeout) finds the first copy instead of making a second.

When the transaction fails, or its answer cannot be read, the app does not guess: it reads the
chart back by the two identifiers and says exactly what is there (``after_failed_save``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clinical.evidence import select_evidence
from clinical.knowledge import Knowledge
from fhir_client import FhirClient, FhirError, FhirUnavailable
from fhir_profiles.careplan import build_careplan, revoked_careplan
from fhir_profiles.documentreference import build_evidence_document
from fhir_profiles.identifiers import (
    AuthorReference,
    Identifier,
    InvalidResourceInput,
    careplan_full_url,
    careplan_identifier,
    document_identifier,
)
from fhir_profiles.save_transaction import build_save_transaction
from smart_app.launch import LaunchContext
from smart_app.plan import PlanChoice, requires_acknowledgement
from smart_app.review import Review
from smart_app.revision import Revision


class SaveFailed(Exception):
    """The plan was not saved (or may not have been); ``explanation`` says what to do.

    ``sent`` says whether the transaction went out: only then can something have been written;
    ``answered`` whether the EHR answered at all (without an answer it may still be saving).
    """

    def __init__(self, explanation: str, *, sent: bool = False, answered: bool = True) -> None:
        super().__init__(explanation)
        self.explanation = explanation
        self.sent = sent
        self.answered = answered


@dataclass(frozen=True, slots=True)
class AfterFailedSave:
    """What the chart holds after a failed save: ``saved`` when both resources are there."""

    saved: bool
    explanation: str


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
        answer = client.transaction(bundle)
    except FhirUnavailable as exc:
        raise SaveFailed(
            "The EHR did not answer in time, so the plan may or may not have been saved.",
            sent=True,
            answered=False,
        ) from exc
    except FhirError as exc:
        raise SaveFailed(f"The EHR did not confirm the save ({exc.message}).", sent=True) from exc
    if not _confirms(answer, len(bundle["entry"])):
        raise SaveFailed("The EHR's answer did not confirm each part of the save.", sent=True)
    return answer


def _confirms(answer: dict[str, Any], sent: int) -> bool:
    """Say whether a transaction-response has one 2xx ``response`` per entry sent (FHIR R4
    http.html#transaction-response)."""
    entries = answer.get("entry")
    if not isinstance(entries, list) or len(entries) != sent:
        return False
    return all(
        isinstance(entry, dict)
        and isinstance(entry.get("response"), dict)
        and str(entry["response"].get("status", "")).startswith("2")
        for entry in entries
    )


def after_failed_save(
    client: FhirClient, patient_id: str, plan_id: str, failure: SaveFailed
) -> AfterFailedSave:
    """Read the chart back by the plan's identifiers and say exactly what the save wrote."""
    if not failure.sent:
        return AfterFailedSave(False, f"{failure.explanation} Nothing was sent to the chart.")
    try:
        careplan = _on_chart(client, "CarePlan", patient_id, careplan_identifier(plan_id))
        document = _on_chart(client, "DocumentReference", patient_id, document_identifier(plan_id))
    except FhirError as exc:
        return AfterFailedSave(
            False,
            f"{failure.explanation} The app could not check the chart afterwards "
            f"({exc.message}), so it cannot say whether anything was written. Saving again is "
            "safe: it will not make a second copy.",
        )
    if careplan and document:
        return AfterFailedSave(True, "The plan and its evidence summary are on the chart.")
    if careplan or document:
        written, missing = (
            ("the care plan", "the evidence summary")
            if careplan
            else ("the evidence summary", "the care plan")
        )
        return AfterFailedSave(
            False,
            f"{failure.explanation} Checked on the chart just now: only {written} was written, "
            f"not {missing}. Saving again completes it without making a second copy.",
        )
    if not failure.answered:
        return AfterFailedSave(
            False,
            f"{failure.explanation} Checked on the chart just now: nothing is there yet (no care "
            "plan and no evidence summary with this plan's identifier), but the EHR may still be "
            "saving it. Saving again is safe: it will not make a second copy.",
        )
    return AfterFailedSave(
        False,
        f"{failure.explanation} Checked on the chart just now: nothing was written (no care "
        "plan and no evidence summary with this plan's identifier). You can try again.",
    )


def _on_chart(
    client: FhirClient, resource_type: str, patient_id: str, identifier: Identifier
) -> bool:
    found = client.search(
        resource_type,
        {"patient": patient_id, "identifier": f"{identifier.system}|{identifier.value}"},
    )
    return any(
        item.get("system") == identifier.system and item.get("value") == identifier.value
        for resource in found
        if resource.get("resourceType") == resource_type
        for item in resource.get("identifier") or ()
        if isinstance(item, dict)
    )


def _acknowledgement(choice: PlanChoice, review: Review) -> str | None:
    """Record on the plan that it was made against the review's advice, when it was."""
    if not (choice.acknowledged and requires_acknowledgement(review.assessment, choice.start)):
        return None
    return (
        f"Planned although the opioid review said '{review.status.headline}': the prescriber "
        "confirmed they had reviewed the opioid findings."
    )
