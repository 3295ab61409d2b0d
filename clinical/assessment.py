"""The one opioid-safety decision for a naltrexone order, shown by both the CDS card and the app.

Both faces call :func:`assess_naltrexone_order` so that they always agree. The status, strongest
first:

1. ``DO_NOT_START``: an opioid is active (or drafted in this session). The earliest date is given
   when every active opioid has a planned end and a numeric washout.
2. ``SPECIALIST_GUIDANCE``: methadone without a configured number, a depot buprenorphine
   (extended-release injection or implant) or long use of buprenorphine, inside the critical
   band of its open window (``clinical/windows.py``).
3. ``UNCERTAIN``: an opioid whose dates are missing, an open window past its critical band but
   before the site's horizon (specialist guidance, a warning), or data that could not be checked
   (records whose medication could not be identified, or sources the caller could not read).
4. ``WAIT_UNTIL``: an opioid ended inside its washout window; the date is the latest of the
   earliest starts (last exposure + upper bound of the article's window). When a record proves
   a dose only by its first date, the date is a lower bound ("at least until").
5. ``SAFE_TO_START``: no opioid in the window and everything was checked. Past opioids are
   listed with their last date and why they no longer block.

A missing or unreadable input can only move the status towards caution, never to "safe".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from clinical.exposure import (
    ExposureReview,
    ExposureState,
    OpioidExposure,
    SourceCoverage,
    assess_exposures,
)
from clinical.naltrexone import NaltrexoneOrder
from clinical.opioids import OpioidKnowledge
from clinical.records import MedicationRecord, RecordGlance
from clinical.windows import OpenWindows


class AssessmentStatus(StrEnum):
    """What the clinician is told about starting naltrexone now."""

    SAFE_TO_START = "safe-to-start"
    WAIT_UNTIL = "wait-until"
    SPECIALIST_GUIDANCE = "specialist-guidance"
    DO_NOT_START = "do-not-start"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True, slots=True)
class Assessment:
    """The decision, the findings behind it, and what was (and was not) checked.

    ``earliest_start`` is the latest computable earliest start among the findings; when
    ``earliest_start_complete`` is False some finding has no computable date or only a lower
    bound, so the real earliest start may be later ("at least until"), or needs specialist
    guidance.
    """

    status: AssessmentStatus
    order: NaltrexoneOrder | None
    today: date
    earliest_start: date | None
    earliest_start_complete: bool
    findings: tuple[OpioidExposure, ...]
    past: tuple[OpioidExposure, ...]
    unchecked: tuple[str, ...]
    coverage: tuple[SourceCoverage, ...]
    reasons: tuple[str, ...]

    @property
    def safe(self) -> bool:
        """Tell whether nothing stands in the way of starting today."""
        return self.status is AssessmentStatus.SAFE_TO_START


def assess_naltrexone_order(
    order: NaltrexoneOrder | None,
    records: Iterable[MedicationRecord],
    knowledge: OpioidKnowledge,
    today: date,
    *,
    unchecked: tuple[str, ...] = (),
    drafts: Iterable[MedicationRecord] = (),
    windows: OpenWindows | None = None,
    glanced: Iterable[RecordGlance] = (),
) -> Assessment:
    """Decide whether naltrexone can start, given the chart's and this session's medications.

    ``order`` may be None (the app's review without an order). ``unchecked`` names data sources
    the caller could not read ("MedicationRequest: FHIR server error"); ``drafts`` are the
    orders drafted in this session, which count as active; ``windows`` is the site's policy for
    open windows (the packaged one by default); ``glanced`` are the chart's records read only
    for the coverage (``clinical.records.RecordGlance``).
    """
    review = assess_exposures(
        records, knowledge, today, drafts=drafts, windows=windows, glanced=glanced
    )
    return decide(order, review, today, unchecked=unchecked)


def decide(
    order: NaltrexoneOrder | None,
    review: ExposureReview,
    today: date,
    *,
    unchecked: tuple[str, ...] = (),
) -> Assessment:
    """Turn an exposure review into the decision (fail safe: uncertainty is never an all-clear)."""
    findings = tuple(e for e in review.exposures if e.state is not ExposureState.PAST)
    past = tuple(e for e in review.exposures if e.state is ExposureState.PAST)
    not_checked = (*unchecked, *(f"{u.reference}: {u.reason}" for u in review.unchecked))
    states = {e.state for e in findings}
    if ExposureState.ACTIVE in states:
        status = AssessmentStatus.DO_NOT_START
    elif any(
        e.state is ExposureState.RECENT and e.specialist_guidance and e.earliest_start is None
        for e in findings
    ):
        status = AssessmentStatus.SPECIALIST_GUIDANCE
    elif states & {ExposureState.UNKNOWN, ExposureState.GUIDANCE} or not_checked:
        status = AssessmentStatus.UNCERTAIN
    elif findings:
        status = AssessmentStatus.WAIT_UNTIL
    else:
        status = AssessmentStatus.SAFE_TO_START
    dates = [e.earliest_start for e in findings if e.earliest_start is not None]
    exact = [e for e in findings if e.earliest_start is not None and not e.at_least]
    reasons = tuple(_reason(e) for e in findings) + tuple(
        f"Could not check {item}." for item in not_checked
    )
    return Assessment(
        status=status,
        order=order,
        today=today,
        earliest_start=max(dates, default=None),
        earliest_start_complete=len(exact) == len(findings),
        findings=findings,
        past=past,
        unchecked=not_checked,
        coverage=review.coverage,
        reasons=reasons or (_all_clear(review, past),),
    )


def _reason(exposure: OpioidExposure) -> str:
    """Say in one sentence why this exposure matters."""
    match, washout = exposure.match, exposure.washout
    what = f"{match.label} ({match.ingredient_names}, {match.duration_class})"
    where = f"{exposure.basis}; {exposure.reference}"
    if exposure.state is ExposureState.ACTIVE:
        text = f"{what} is active ({where})."
    elif exposure.last_exposure is None:
        text = f"{what}: when it was last taken is unknown ({where})."
    elif exposure.at_least:
        text = f"{what} taken on {exposure.last_exposure} or later ({where})."
    else:
        text = f"{what} last taken {exposure.last_exposure} ({where})."
    if exposure.state is ExposureState.GUIDANCE:
        return (
            f"{text} Past its critical window but the washout is not settled: specialist "
            f"guidance until {exposure.guidance_until}."
        )
    if exposure.critical_until is not None:
        return (
            f"{text} Not before {exposure.critical_until} at the earliest; the start date needs "
            "specialist guidance."
        )
    if washout.max_days is None:
        return f"{text} {washout.guidance}"
    more = " or more" if washout.or_more else ""
    span = f"{washout.min_days}-{washout.max_days}" if washout.min_days else str(washout.max_days)
    if washout.configured:
        span = f"{washout.max_days} (set locally; specialist guidance)"
    if exposure.earliest_start is None:
        return f"{text} Washout {span} days{more} after the last dose."
    until = "at least until" if exposure.at_least else "earliest start"
    return f"{text} Washout {span} days{more}: {until} {exposure.earliest_start}."


def no_longer_blocks(exposure: OpioidExposure) -> str:
    """Say why a past opioid no longer stands in the way (its window closed, and when)."""
    if exposure.guidance_until is not None:
        return (
            f"past the {exposure.washout.duration_class} specialist-guidance horizon, which "
            f"ended {exposure.guidance_until}"
        )
    washout = exposure.washout
    local = " (set locally; specialist guidance)" if washout.configured else ""
    return f"its {washout.max_days}-day washout{local} ended {exposure.earliest_start}"


def _all_clear(review: ExposureReview, past: tuple[OpioidExposure, ...]) -> str:
    read = ", ".join(f"{c.records} {c.source}" for c in review.coverage if c.records)
    checked = read or "no medication records"
    if past:
        return (
            f"No opioid active or inside its washout in the records checked ({checked}); "
            f"{len(past)} past opioid record(s) found, each washout over."
        )
    return f"No opioid found in the records checked ({checked})."
