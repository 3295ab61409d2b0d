"""One hook call, end to end: naltrexone drafted? -> data -> records -> assessment -> cards.

Nothing is fetched when no naltrexone is among the orders in focus (an amoxicillin order must
not wait on, or fail for, the patient's medication history).
"""

from __future__ import annotations

from datetime import date

from cds_hooks.cards import CardLinks, CheckedData, IssuedCard, render_cards
from cds_hooks.config import CdsSettings
from cds_hooks.discovery import ServiceDefinition
from cds_hooks.prefetch import MEDICATION_KEYS, ResolvedData, resolve_data
from cds_hooks.reminders import Recall
from cds_hooks.request import HookRequest
from clinical.assessment import assess_naltrexone_order
from clinical.cautions import find_cautions
from clinical.conditions import match_conditions
from clinical.naltrexone import recognise_naltrexone
from clinical.opioids import OpioidKnowledge
from clinical.records import MedicationRecord
from fhir_profiles.mapping import (
    MappingResult,
    read_bundle,
    read_conditions,
    read_for_decision,
)

# Draft entries that can carry a medication: requests, and what their references resolve to.
_MEDICATION_DRAFT_TYPES = frozenset({"MedicationRequest", "Medication", "Substance"})


def draft_medications(hook: HookRequest) -> tuple[tuple[MedicationRecord, ...], tuple[str, ...]]:
    """Read the medication orders of draftOrders; return them and what could not be read."""
    entries = hook.draft_orders.get("entry", [])
    bundle = {
        **hook.draft_orders,
        "entry": [e for e in entries if e["resource"]["resourceType"] in _MEDICATION_DRAFT_TYPES],
    }
    result = read_bundle(bundle)
    return result.records, tuple(f"draft order {problem}" for problem in result.problems)


def _chart(resolved: ResolvedData, knowledge: OpioidKnowledge) -> MappingResult[MedicationRecord]:
    return read_for_decision(
        (r for key in MEDICATION_KEYS for r in resolved.sources[key].resources), knowledge
    )


def _links(
    hook: HookRequest, service: ServiceDefinition, settings: CdsSettings, base: str
) -> CardLinks:
    return CardLinks(
        source_url=settings.source_url or f"{base}/about",
        launch_url=settings.smart_launch_url or f"{base}/launch",
        service_id=service.id,
        hook_instance=hook.hook_instance,
    )


def run_check(
    hook: HookRequest,
    service: ServiceDefinition,
    settings: CdsSettings,
    *,
    today: date,
    base: str,
    recall: Recall | None = None,
) -> list[IssuedCard]:
    """Answer one hook call with its cards; ``base`` is the service's public base URL.

    ``recall`` (order-sign only) finds an order-select override of the same decision.
    """
    known = settings.knowledge
    # Each medication of this call recognised once, however many records name it.
    opioids = known.opioids.for_one_call()
    drafts, draft_problems = draft_medications(hook)
    orders = [
        order
        for record in drafts
        if hook.is_selected(record.reference)
        and (order := recognise_naltrexone(record, opioids)) is not None
    ]
    if not orders:
        return []
    resolved = resolve_data(hook, service, settings)
    chart = _chart(resolved, opioids)
    records = chart.records
    # Only the medication sources bear on the opioid decision; a Condition failure is shown
    # on the card but cannot make the decision uncertain.
    failures = tuple(
        f"{s.resource_type}: {s.failure}"
        for key in MEDICATION_KEYS
        if (s := resolved.sources[key]).failure
    )
    unchecked = (*failures, *(str(problem) for problem in chart.problems), *draft_problems)
    ordered = {order.reference for order in orders}
    others = [record for record in drafts if record.reference not in ordered]
    assessments = [
        assess_naltrexone_order(
            order,
            records,
            opioids,
            today,
            unchecked=unchecked,
            drafts=others,
            windows=known.windows,
            glanced=chart.glanced,
        )
        for order in orders
    ]
    conditions = read_conditions(resolved.sources["conditions"].resources)
    matches = match_conditions(conditions.records, known.conditions)
    data = CheckedData(
        sources=tuple(resolved.sources.values()),
        condition_groups=frozenset(match.group for match in matches),
        cautions=find_cautions(records, matches, opioids, known.cautions, known.windows, today),
        unrecorded_use=known.cautions.unrecorded_use,
    )
    links = _links(hook, service, settings, base)
    return render_cards(assessments, data, known.evidence, links, recall)
