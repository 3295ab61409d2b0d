"""Review a patient's medication records for opioid exposure and its washout.

Records come from four sources: MedicationStatement, MedicationRequest, MedicationDispense
(pharmacy fills) and MedicationAdministration (doses given, e.g. in theatre). Each record with an
opioid gets a state:

* ``ACTIVE``: still taken or still planned. Statuses ``active``/``intended``/``on-hold``/
  ``draft`` (statement, request), ``preparation``/``in-progress`` (dispense, administration); a
  draft order of this session; any record whose known end lies in the future. A future end is a
  *planned end*, never a last exposure.
* ``RECENT``: inside the washout window after the last exposure (critical).
* ``GUIDANCE``: an open window (methadone without a site number, depot buprenorphine, long use
  of buprenorphine) past its critical band but before the site's horizon: a warning that asks
  for specialist guidance (``clinical/windows.py``).
* ``PAST``: the window closed on or before today.
* ``UNKNOWN``: no date shows when it was last taken. Uncertainty, never a reason to call the
  patient safe.

The last exposure of an ended record is the latest of: the effective (statement, administration)
or validity (request) period end, and start + days' supply (request, dispense). A completed or
stopped statement with neither falls back to its ``dateAsserted`` (stopped by then). With no end
at all, the record's first dose date (start, ``authoredOn``, hand-over, administration) still
proves a dose that day: the last exposure is *at least* that day, so while that day's window is
open the record is ``RECENT`` with an "at least until" date, and once it has closed the record is
``UNKNOWN`` (a later dose cannot be ruled out). Records ``entered-in-error`` are ignored;
``not-taken``/``not-done`` and ``cancelled``/``declined`` (never taken or never handed over) are
read but are no exposure. Any other status is judged by its dates alone.

Windows come from the article (section "The Critical Safety Issue: Opioids"): the earliest
naltrexone start is the last exposure plus the upper bound of the class's window.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum

from clinical.opioids import (
    DurationClass,
    OpioidKnowledge,
    OpioidMatch,
    Washout,
    recognise_medication,
    rxnorm_codes,
)
from clinical.records import MedicationRecord, RecordGlance, Source
from clinical.windows import OpenWindows

ACTIVE_STATUSES = frozenset(
    {"active", "intended", "on-hold", "draft", "preparation", "in-progress"}
)
ENDED_STATUSES = frozenset({"completed", "stopped"})
NO_EXPOSURE_STATUSES = frozenset({"not-taken", "cancelled", "not-done", "declined"})
IGNORED_STATUSES = frozenset({"entered-in-error"})
DRAFTS = "draft orders"


class ExposureState(StrEnum):
    """Where an opioid record stands against the naltrexone washout."""

    ACTIVE = "active"
    RECENT = "recent"
    GUIDANCE = "specialist guidance"
    PAST = "past"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class OpioidExposure:
    """One record's opioid, its state, last exposure, washout and earliest naltrexone start.

    ``last_exposure`` is the last day the record shows the opioid was taken (never a future
    day); ``at_least`` says the record proves a dose that day but not that it was the last, so
    the earliest start is a lower bound ("at least until"). ``planned_end`` is the planned or
    expected end of a record still active. ``basis`` says in words where the dates come from.
    ``earliest_start`` is None when it cannot be computed: still active with no planned end, no
    date, or an open window (specialist guidance). For an open window, ``critical_until`` ends
    the critical band and ``guidance_until`` the specialist-guidance warning (the horizon).
    """

    reference: str
    source: str
    status: str | None
    match: OpioidMatch
    state: ExposureState
    last_exposure: date | None
    basis: str
    washout: Washout
    earliest_start: date | None
    specialist_guidance: bool
    at_least: bool = False
    planned_end: date | None = None
    critical_until: date | None = None
    guidance_until: date | None = None


@dataclass(frozen=True, slots=True)
class UncheckedRecord:
    """A record whose medication could not be identified, and why."""

    reference: str
    reason: str


@dataclass(frozen=True, slots=True)
class SourceCoverage:
    """How many records of one source were read, and the dates they span."""

    source: str
    records: int
    earliest: date | None
    latest: date | None


@dataclass(frozen=True, slots=True)
class ExposureReview:
    """The opioid exposures found, the records that could not be checked, and what was read."""

    exposures: tuple[OpioidExposure, ...]
    unchecked: tuple[UncheckedRecord, ...]
    coverage: tuple[SourceCoverage, ...]
    ignored: int


def assess_exposures(
    records: Iterable[MedicationRecord],
    knowledge: OpioidKnowledge,
    today: date,
    *,
    drafts: Iterable[MedicationRecord] = (),
    windows: OpenWindows | None = None,
    glanced: Iterable[RecordGlance] = (),
) -> ExposureReview:
    """Find every opioid exposure in ``records`` and in this session's ``drafts``.

    ``windows`` closes the open windows (the packaged policy unless a site set its own).
    ``glanced`` are the chart's records whose medication cannot bear on the decision, read
    only for the coverage (``clinical.relevance``).
    """
    windows = windows or OpenWindows.load(knowledge)
    exposures: list[OpioidExposure] = []
    unchecked: list[UncheckedRecord] = []
    read: dict[str, list[MedicationRecord | RecordGlance]] = {str(s): [] for s in Source}
    read[DRAFTS] = []
    ignored = 0
    for glance in glanced:
        if (glance.status or "").lower() in IGNORED_STATUSES:
            ignored += 1
        else:
            read[glance.source].append(glance)
    tagged = [(r, False) for r in records] + [(r, True) for r in drafts]
    for record, draft in tagged:
        if (record.status or "").lower() in IGNORED_STATUSES:
            ignored += 1
            continue
        read[DRAFTS if draft else str(record.source)].append(record)
        recognition = recognise_medication(record.medication, knowledge)
        match = recognition.match
        if match is None:
            # Free text that may name an opioid (a near miss, "narcotic", kratom) is uncertain
            # unless the record says it was never taken.
            doubts = "; ".join(str(d) for d in recognition.doubts)
            never_taken = (record.status or "").lower() in NO_EXPOSURE_STATUSES and not draft
            reason = f"{doubts}: not ruled out as an opioid" if doubts and not never_taken else None
            reason = reason or _unidentified(record)
            if reason:
                unchecked.append(UncheckedRecord(record.reference, reason))
            continue
        exposure = _exposure(record, match, knowledge, windows, today, draft)
        if exposure is not None:
            exposures.append(exposure)
    coverage = tuple(_coverage(source, items) for source, items in read.items())
    return ExposureReview(tuple(exposures), tuple(unchecked), coverage, ignored)


def was_taken(record: MedicationRecord) -> bool:
    """Tell whether a chart record's status allows that it was taken at all.

    Drafts on the chart are orders not yet placed, so they are not counted as taken here.
    """
    status = (record.status or "").lower()
    return status not in IGNORED_STATUSES | NO_EXPOSURE_STATUSES and status != "draft"


def still_taken(record: MedicationRecord, today: date) -> bool:
    """Tell whether a chart record is still taken: an active status or a known end not passed."""
    if not was_taken(record):
        return False
    end, _ = _known_end(record)
    return (record.status or "").lower() in ACTIVE_STATUSES or (end is not None and end >= today)


def _unidentified(record: MedicationRecord) -> str | None:
    """Say why a record that matched no opioid could not be checked, or None if it was."""
    if record.medication_problems:
        return "; ".join(record.medication_problems)
    medication = record.medication
    if any(True for concept in medication.concepts() for _ in concept.words()):
        return None
    # With no name, an RxNorm code outside the opioid list may still be a new or retired opioid
    # product code: the product-code list alone cannot clear it.
    rxnorm = [code for concept in medication.concepts() for code in rxnorm_codes(concept)]
    if rxnorm:
        return f"RxNorm code {', '.join(rxnorm)} is not a known opioid, and no name says what it is"
    if any(c.code for concept in medication.concepts() for c in concept.codings):
        return "medication coded only in code systems other than RxNorm, with no name"
    return "no medication code or name"


def _exposure(
    record: MedicationRecord,
    match: OpioidMatch,
    knowledge: OpioidKnowledge,
    windows: OpenWindows,
    today: date,
    draft: bool,
) -> OpioidExposure | None:
    """Place one opioid record against its washout window; None if it was never taken."""
    status = (record.status or "").lower() or None
    if status in NO_EXPOSURE_STATUSES and not draft:
        return None
    washout = knowledge.washouts[match.duration_class]
    end, basis = _known_end(record)
    if draft or status in ACTIVE_STATUSES or (end is not None and end >= today):
        return _active(record, match, washout, windows, status, end, today, draft)
    last, at_least = end, False
    stopped_statement = record.source is Source.STATEMENT and status in ENDED_STATUSES
    if last is None and stopped_statement and record.asserted is not None:
        last, basis = record.asserted, "stopped by the date the statement was recorded"
    if last is None and record.started is not None and match.depot:
        last, basis = record.started, f"depot given {record.started.isoformat()}"
    elif last is None and record.started is not None:
        # The record's own first date proves a dose that day; later doses cannot be ruled out.
        last, at_least = record.started, True
    exposure = OpioidExposure(
        reference=record.reference,
        source=str(record.source),
        status=status,
        match=match,
        state=ExposureState.UNKNOWN,
        last_exposure=last,
        basis=basis,
        washout=washout,
        earliest_start=None,
        specialist_guidance=match.depot or washout.specialist_guidance,
        at_least=at_least,
    )
    if last is None:
        return exposure
    if _open_window(record, match, washout, last, windows):
        return _place_open(exposure, windows, today)
    assert washout.max_days is not None  # a closed window has a number
    earliest = last + timedelta(days=washout.max_days)
    if today < earliest:
        return replace(exposure, state=ExposureState.RECENT, earliest_start=earliest)
    # The window after the proven dose has closed; a later dose cannot be ruled out.
    return replace(
        exposure,
        state=ExposureState.UNKNOWN if at_least else ExposureState.PAST,
        earliest_start=None if at_least else earliest,
    )


def _active(
    record: MedicationRecord,
    match: OpioidMatch,
    washout: Washout,
    windows: OpenWindows,
    status: str | None,
    end: date | None,
    today: date,
    draft: bool,
) -> OpioidExposure:
    """Describe a record still taken or planned; a future end is its planned end."""
    planned = end if end is not None and end >= today else None
    basis = "drafted in this ordering session" if draft else f"status {status or 'unknown'}"
    if planned is not None:
        basis += f", planned to end {planned.isoformat()}"
    earliest = None
    open_window = _open_window(record, match, washout, planned or today, windows)
    if planned is not None and not open_window and washout.max_days is not None:
        earliest = planned + timedelta(days=washout.max_days)
    return OpioidExposure(
        reference=record.reference,
        source=DRAFTS if draft else str(record.source),
        status=status,
        match=match,
        state=ExposureState.ACTIVE,
        last_exposure=None,
        basis=basis,
        washout=washout,
        earliest_start=earliest,
        specialist_guidance=open_window or washout.specialist_guidance,
        planned_end=planned,
    )


def _open_window(
    record: MedicationRecord,
    match: OpioidMatch,
    washout: Washout,
    last: date,
    windows: OpenWindows,
) -> bool:
    """Tell whether the product cannot close this window with a number of days.

    Methadone without a site number, a depot (it keeps releasing drug), and buprenorphine taken
    for a long or unknown time (the article's "or more"; ``clinical/data/windows.json``).
    """
    if match.depot or washout.max_days is None:
        return True
    if match.duration_class is not DurationClass.BUPRENORPHINE:
        return False
    if record.started is None:
        return True
    return (last - record.started).days >= windows.buprenorphine_long_use_days


def _place_open(exposure: OpioidExposure, windows: OpenWindows, today: date) -> OpioidExposure:
    """Critical up to the long-acting bound, then specialist guidance until the horizon."""
    last = exposure.last_exposure
    assert last is not None
    release = windows.depot_release_days if exposure.match.depot else 0
    critical_until = last + timedelta(days=release + windows.critical_days)
    guidance_until = last + timedelta(days=windows.horizon_days)
    basis = exposure.basis
    if exposure.match.depot:
        basis += f"; a depot keeps releasing drug for about {windows.depot_release_days} days"
    elif exposure.match.duration_class is DurationClass.BUPRENORPHINE:
        basis += (
            f"; taken for {windows.buprenorphine_long_use_days} days or more, or for an "
            "unknown time: treated as long use"
        )
    placed = replace(
        exposure,
        basis=basis,
        specialist_guidance=True,
        critical_until=critical_until,
        guidance_until=guidance_until,
    )
    if today < critical_until:
        return replace(placed, state=ExposureState.RECENT)
    if exposure.at_least:
        return replace(placed, state=ExposureState.UNKNOWN)
    if today < guidance_until:
        return replace(placed, state=ExposureState.GUIDANCE)
    return replace(placed, state=ExposureState.PAST)


_FIRST_DOSE_WORDS = {
    Source.STATEMENT: "started",
    Source.REQUEST: "ordered",
    Source.DISPENSE: "handed over",
    Source.ADMINISTRATION: "given",
}


def _first_dose(record: MedicationRecord) -> str:
    return _FIRST_DOSE_WORDS[record.source]


def _known_end(record: MedicationRecord) -> tuple[date | None, str]:
    """Return the latest date the record says the opioid is or was taken, and how it is known."""
    candidates: list[tuple[date, str]] = []
    if record.ended is not None:
        candidates.append((record.ended, _END_WORDS[record.source]))
    if record.started is not None and record.supply_days is not None:
        candidates.append(
            (
                record.started + timedelta(days=record.supply_days),
                f"{_first_dose(record)} {record.started.isoformat()} + "
                f"{record.supply_days} days' supply",
            )
        )
    if not candidates:
        if record.started is not None:
            return None, f"{_first_dose(record)} {record.started.isoformat()}, end not recorded"
        return None, "no dates recorded"
    return max(candidates)


_END_WORDS = {
    Source.STATEMENT: "effective period end",
    Source.REQUEST: "validity period end",
    Source.DISPENSE: "dispensed",
    Source.ADMINISTRATION: "given",
}


def _coverage(source: str, records: list[MedicationRecord | RecordGlance]) -> SourceCoverage:
    dates = [
        day
        for record in records
        for day in (record.started, record.ended, record.asserted)
        if day is not None
    ]
    return SourceCoverage(source, len(records), min(dates, default=None), max(dates, default=None))
