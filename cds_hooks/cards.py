"""Render the clinical assessment of a naltrexone order as CDS Hooks cards (§Card Attributes).

One card per naltrexone order for the opioid decision:

* ``critical``: an opioid active or inside its washout window (DO_NOT_START, WAIT_UNTIL,
  SPECIALIST_GUIDANCE, or UNCERTAIN with such an opioid among the findings: uncertainty about
  other data must not soften a known exposure). Names each opioid (product, ingredient, class,
  source record, last exposure, washout, earliest start or specialist guidance), suggests
  removing the draft, and offers override reasons.
* ``warning``: opioid use could not be ruled out (UNCERTAIN): unknown dates, or data that could
  not be read. Says exactly what could not be checked.
* ``info``: no opioid active or inside its washout, with every past opioid found (its last date
  and why it no longer blocks), the question about opioid use the record may not show, and what
  was checked (resource types, counts, period covered). "No opioid found" only when no opioid
  record exists at all.

Then one ``warning`` card per caution (opioid use disorder, naltrexone already taken:
``clinical/cautions.py``), and one ``info`` card each for alcohol use disorder and liver disease
on the chart. Every card links to the SMART app. Text from FHIR is escaped for Markdown
(markdown.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from cds_hooks.markdown import md, summary
from cds_hooks.prefetch import Source
from cds_hooks.reminders import Override, Recall, decision_key
from clinical.assessment import Assessment, AssessmentStatus, no_longer_blocks
from clinical.cautions import Caution, CautionPoint
from clinical.conditions import ConditionGroup
from clinical.evidence import EvidenceKnowledge
from clinical.exposure import DRAFTS, ExposureState, OpioidExposure
from clinical.naltrexone import NaltrexoneKind, NaltrexoneOrder
from clinical.wording import day, exposure_words
from fhir_profiles.artefacts import OVERRIDE_REASON_SYSTEM, load_artefact

SOURCE_LABEL = "LDN Opioid-Safety"
# The evidence point the liver card quotes, by its code in clinical/data/evidence.json.
LIVER_RISK_POINT = "liver-risk"
CRITICAL_STATUSES = frozenset(
    {
        AssessmentStatus.DO_NOT_START,
        AssessmentStatus.WAIT_UNTIL,
        AssessmentStatus.SPECIALIST_GUIDANCE,
    }
)
WHY = (
    "Naltrexone blocks opioid receptors at any dose, low-dose naltrexone included: "
    "started while an opioid is on board it brings on acute opioid withdrawal."
)


@dataclass(frozen=True, slots=True)
class CardLinks:
    """Where cards point: the source page, the SMART app's launch URL, and the call they answer."""

    source_url: str
    launch_url: str
    service_id: str
    hook_instance: str


@dataclass(frozen=True, slots=True)
class IssuedCard:
    """A card as sent, and for an opioid card the draft order and decision it stands for."""

    card: dict[str, Any]
    order_reference: str | None = None
    decision: str | None = None


@dataclass(frozen=True, slots=True)
class CheckedData:
    """What the check read besides the assessment: each source, and the conditions found."""

    sources: Sequence[Source]
    condition_groups: frozenset[ConditionGroup]
    cautions: Sequence[Caution] = ()
    unrecorded_use: CautionPoint | None = None


def override_reasons() -> list[dict[str, str]]:
    """Return the project's override reasons as CDS Hooks Codings (display included)."""
    return [
        {"system": OVERRIDE_REASON_SYSTEM, "code": code, "display": display}
        for code, display in _override_codes()
    ]


@cache
def _override_codes() -> tuple[tuple[str, str], ...]:
    """The override reasons' codes and displays, read from their CodeSystem once."""
    system = load_artefact(OVERRIDE_REASON_SYSTEM)
    return tuple((c["code"], c["display"]) for c in system["concept"])


def order_phrase(order: NaltrexoneOrder) -> str:
    """Name the order the way the clinician wrote it: low dose, full dose, or a combination."""
    dose = f"{order.dose_mg:g} mg" if order.dose_mg is not None else None
    if order.kind is NaltrexoneKind.LDN:
        return f"low-dose naltrexone {dose}" if dose else "low-dose naltrexone"
    if order.kind is NaltrexoneKind.FULL_DOSE:
        return f"naltrexone {dose}"
    if order.kind is NaltrexoneKind.COMBINATION:
        return f"{order.label} (contains {order.antagonist})"
    return f"{order.antagonist} (dose not stated)"


def _day(value: date | None) -> str:
    return day(value) if value else "unknown"


def _findings(findings: Iterable[OpioidExposure]) -> str:
    """One short block per opioid, readable in a narrow card pane (no table, no record ids)."""
    blocks = []
    for exposure in findings:
        words = exposure_words(exposure)
        blocks.append(
            f"**{md(words.drug)}**, {md(words.kind)}\n\n"
            f"- {md(words.status)}\n"
            f"- Washout: {md(words.washout)}\n"
            f"- Earliest LDN start: {md(words.earliest)}"
        )
    return "\n\n".join(blocks)


def _records(assessment: Assessment | None, order: NaltrexoneOrder | None) -> list[str]:
    """Name the records behind the card (ids belong here, not in the findings)."""
    lines = []
    if order is not None:
        lines.append(f"- The naltrexone order: {md(order.reference)}")
    findings = [*assessment.findings, *assessment.past] if assessment else []
    if findings:
        references = ", ".join(md(e.reference) for e in findings)
        lines.append(f"- Opioid records: {references}")
    return lines


def _checked(
    assessment: Assessment | None, data: CheckedData, order: NaltrexoneOrder | None = None
) -> str:
    """Say what was read (types, counts, origin, dates covered) and what could not be."""
    origins = {s.resource_type: s for s in data.sources}
    lines = ["**What was checked**", "", *_records(assessment, order)]
    for coverage in assessment.coverage if assessment else ():
        source = origins.get(coverage.source)
        if source is not None and not source.read:
            continue
        span = (
            f", dated {_day(coverage.earliest)} to {_day(coverage.latest)}"
            if coverage.earliest
            else ""
        )
        if coverage.source == DRAFTS:
            lines.append(f"- {coverage.records} other draft order(s) of this ordering session")
            continue
        origin = f" (from the {source.origin})" if source and source.origin else ""
        lines.append(f"- {coverage.records} {md(coverage.source)} record(s){origin}{md(span)}")
    conditions = origins.get("Condition")
    if conditions is not None and conditions.read:
        lines.append(f"- {conditions.count} Condition record(s) (from the {conditions.origin})")
    missing = [f"{s.resource_type}: {s.failure}" for s in data.sources if s.failure]
    missing += assessment.unchecked if assessment else ()
    if missing:
        lines += ["", "**Could not be checked**", ""]
        lines += [f"- {md(item)}" for item in dict.fromkeys(missing)]
    return "\n".join(lines)


class _Builder:
    """Shared card parts: uuid, source, SMART link."""

    def __init__(self, links: CardLinks) -> None:
        self.links = links

    def card(self, indicator: str, text: str, detail: str, **extra: Any) -> dict[str, Any]:
        return {
            "uuid": str(uuid.uuid4()),
            "summary": summary(text),
            "indicator": indicator,
            "detail": detail,
            "source": {"label": SOURCE_LABEL, "url": self.links.source_url},
            **extra,
        }

    def app_link(self, label: str, context: Mapping[str, str]) -> dict[str, str]:
        app_context = {
            "service": self.links.service_id,
            "hookInstance": self.links.hook_instance,
            **context,
        }
        return {
            "label": label,
            "url": self.links.launch_url,
            "type": "smart",
            "appContext": json.dumps(app_context, separators=(",", ":")),
        }

    def remove_order(self, order: NaltrexoneOrder) -> dict[str, Any]:
        suggestion: dict[str, Any] = {
            "label": "Remove the naltrexone order",
            "uuid": str(uuid.uuid4()),
            "isRecommended": True,
            "actions": [
                {
                    "type": "delete",
                    "description": f"Remove the draft order for {order_phrase(order)}.",
                    "resourceId": order.reference,
                }
            ],
        }
        return {"suggestions": [suggestion], "selectionBehavior": "at-most-one"}


def _has_id(order: NaltrexoneOrder) -> bool:
    return "/" in order.reference


def _is_critical(assessment: Assessment) -> bool:
    """Critical when an opioid is known to be on board, even if other data was uncertain."""
    return assessment.status in CRITICAL_STATUSES or any(
        e.state in (ExposureState.ACTIVE, ExposureState.RECENT) for e in assessment.findings
    )


def _critical_summary(assessment: Assessment, order: NaltrexoneOrder) -> str:
    drug = assessment.findings[0].match.ingredient_names if assessment.findings else "an opioid"
    more = f" and {len(assessment.findings) - 1} more" if len(assessment.findings) > 1 else ""
    what = order_phrase(order)
    if assessment.status is AssessmentStatus.DO_NOT_START:
        return f"Do not start {what}: {drug}{more} is active."
    if assessment.status is AssessmentStatus.SPECIALIST_GUIDANCE:
        return f"Do not start {what} without specialist guidance: recent {drug}{more}."
    if assessment.status is AssessmentStatus.WAIT_UNTIL and assessment.earliest_start_complete:
        until = assessment.earliest_start
        return f"Hold {what} until {until}: recent {drug}{more} inside its washout."
    if assessment.status is AssessmentStatus.WAIT_UNTIL and assessment.earliest_start:
        until = assessment.earliest_start
        return f"Hold {what} at least until {until}: recent {drug}{more} inside its washout."
    # Some data was uncertain: the date known so far is a lower bound only.
    after = f"; not before {assessment.earliest_start}" if assessment.earliest_start else ""
    return f"Hold {what}: recent {drug}{more} inside its washout{after}."


def _opioid_card(
    assessment: Assessment, order: NaltrexoneOrder, data: CheckedData, build: _Builder
) -> dict[str, Any]:
    link = build.app_link(
        "Open the LDN opioid review",
        {
            "order": order.reference,
            "orderLabel": order_phrase(order),
            "status": str(assessment.status),
        },
    )
    ordered = f"Ordered: {md(order_phrase(order))}."
    checked = _checked(assessment, data, order)
    if _is_critical(assessment):
        earliest = ""
        if assessment.earliest_start and assessment.earliest_start_complete:
            earliest = f"\n\nEarliest naltrexone start: **{assessment.earliest_start}**."
        elif assessment.earliest_start:
            earliest = (
                f"\n\nNot before **{assessment.earliest_start}**; some opioids above have no "
                "computable date, or only a first dose date, so the real earliest start may be "
                "later."
            )
        detail = (
            f"**{WHY}**\n\n{ordered}\n\n{_findings(assessment.findings)}{earliest}\n\n{checked}"
        )
        extra = build.remove_order(order) if _has_id(order) else {}
        return build.card(
            "critical",
            _critical_summary(assessment, order),
            detail,
            overrideReasons=override_reasons(),
            links=[link],
            **extra,
        )
    if assessment.status is AssessmentStatus.UNCERTAIN:
        blocks = f"\n\n{_findings(assessment.findings)}" if assessment.findings else ""
        detail = (
            f"{WHY} Opioid use could not be ruled out, so this is not an all-clear.\n\n"
            f"{ordered}{blocks}\n\n{checked}\n\nConfirm with the patient and the records "
            "above that no opioid was taken within its washout window before starting."
            f"{_ask_about_unrecorded_use(data)}"
        )
        extra = build.remove_order(order) if _has_id(order) else {}
        return build.card(
            "warning",
            _warning_summary(assessment, order),
            detail,
            overrideReasons=override_reasons(),
            links=[link],
            **extra,
        )
    detail = (
        f"{ordered}\n\nNo opioid was found active or within its washout window."
        f"{_past_opioids(assessment)}{_ask_about_unrecorded_use(data)}\n\n{checked}"
    )
    return build.card("info", _all_clear_summary(assessment, order), detail, links=[link])


def _warning_summary(assessment: Assessment, order: NaltrexoneOrder) -> str:
    guidance = [e for e in assessment.findings if e.state is ExposureState.GUIDANCE]
    if guidance:
        drug = guidance[0].match.ingredient_names
        return (
            f"Specialist guidance before {order_phrase(order)}: {drug} ended "
            f"{_day(guidance[0].last_exposure)}, washout not settled."
        )
    return f"Opioid use not ruled out before {order_phrase(order)}: check the records."


def _all_clear_summary(assessment: Assessment, order: NaltrexoneOrder) -> str:
    """Say "No opioid found" only when no opioid record exists at all."""
    if assessment.past:
        return (
            f"No active or recent opioid before {order_phrase(order)}: "
            f"{len(assessment.past)} past opioid record(s), washout over."
        )
    return f"No opioid found before {order_phrase(order)} in the records checked."


def _past_opioids(assessment: Assessment) -> str:
    """List every past opioid with its last date and why it no longer blocks."""
    if not assessment.past:
        return ""
    lines = ["", "", "**Past opioids found** (no longer blocking)", ""]
    for exposure in assessment.past:
        words = exposure_words(exposure)
        lines.append(
            f"- **{md(words.drug)}**, {md(words.kind)}: {md(words.status)}; "
            f"{md(no_longer_blocks(exposure))}."
        )
    return "\n".join(lines)


def _ask_about_unrecorded_use(data: CheckedData) -> str:
    if data.unrecorded_use is None:
        return ""
    return f"\n\n**Ask the patient.** {md(data.unrecorded_use.text)}"


def _caution_card(caution: Caution, build: _Builder) -> dict[str, Any]:
    """A warning for a caution the chart raises, naming what raised it."""
    found = "\n".join(f"- {md(item)}" for item in caution.found)
    points = "\n".join(f"- {md(point.text)}" for point in caution.text.points)
    detail = f"**Found on the chart**\n\n{found}\n\n{points}"
    return build.card(
        "warning",
        caution.text.summary,
        detail,
        overrideReasons=override_reasons(),
        links=[build.app_link("Open the LDN opioid review", {"topic": str(caution.kind)})],
    )


def _reminder_card(order: NaltrexoneOrder, override: Override, build: _Builder) -> dict[str, Any]:
    """A short reminder of the override given at order-select, when nothing has changed since."""
    what = order_phrase(order)
    # The EHR may send only the code: the display is ours (the override reason CodeSystem).
    known = {r["code"]: r["display"] for r in override_reasons()}
    reason = known.get(override.reason_code) or override.reason_display or override.reason_code
    comment = f"\n\nComment: {md(override.comment)}" if override.comment else ""
    detail = (
        f"At order selection this card was overridden:\n\n> {md(override.summary)}\n\n"
        f"Reason given: **{md(reason)}**{comment}\n\n"
        "Nothing the card was based on has changed since; it is not asked again. "
        "Remove the order if the reason no longer holds."
    )
    return build.card(
        "warning",
        f"Reminder: the opioid card for {what} was overridden at selection ({reason}).",
        detail,
        links=[build.app_link("Open the LDN opioid review", {"order": order.reference})],
    )


def _aud_card(evidence: EvidenceKnowledge, build: _Builder) -> dict[str, Any]:
    aud = next(c for c in evidence.conditions if c.group is ConditionGroup.ALCOHOL_USE_DISORDER)
    points = "\n".join(f"- {md(p.label)}: {md(p.text)}" for p in aud.points if p.label)
    detail = f"{md(aud.headline)}\n\n{points}"
    return build.card(
        "info",
        "Alcohol use disorder on the chart: LDN evidence in AUD is sparse; the AUD dose is 50 mg.",
        detail,
        links=[build.app_link("Open the LDN evidence summary", {"topic": aud.key})],
    )


def _liver_card(evidence: EvidenceKnowledge, build: _Builder) -> dict[str, Any]:
    point = evidence.point(LIVER_RISK_POINT)
    return build.card(
        "info",
        "Liver disease on the chart: lower liver risk at low dose is an inference, not a finding.",
        md(point.text),
        links=[build.app_link("Open the LDN evidence summary", {"topic": "liver"})],
    )


def render_cards(
    assessments: Sequence[Assessment],
    data: CheckedData,
    evidence: EvidenceKnowledge,
    links: CardLinks,
    recall: Recall | None = None,
) -> list[IssuedCard]:
    """Return the cards for the assessed naltrexone orders (none when nothing was ordered).

    ``recall`` finds an earlier override of the same decision in this ordering session (at
    order-sign): that order then gets a reminder instead of the full card (reminders.py).
    """
    build = _Builder(links)
    cards: list[IssuedCard] = []
    for assessment in assessments:
        order = assessment.order
        if order is None:
            continue
        decision = decision_key(assessment)
        override = recall(order.reference, decision) if recall else None
        card = (
            _reminder_card(order, override, build)
            if override is not None
            else _opioid_card(assessment, order, data, build)
        )
        cards.append(IssuedCard(card, order.reference, decision))
    if not cards:
        return []
    cards += [IssuedCard(_caution_card(caution, build)) for caution in data.cautions]
    if ConditionGroup.ALCOHOL_USE_DISORDER in data.condition_groups:
        cards.append(IssuedCard(_aud_card(evidence, build)))
    if ConditionGroup.LIVER_DISEASE in data.condition_groups:
        cards.append(IssuedCard(_liver_card(evidence, build)))
    return cards
