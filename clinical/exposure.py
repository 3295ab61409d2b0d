"""Review a patient's medication records for opioid exposure and its washout.

Each record with an opioid gets a state:

* ``ACTIVE``: still taken or still planned. MedicationStatement ``active``/``intended``/
  ``on-hold``; MedicationRequest ``active``/``on-hold``/``draft``; a draft order of this session;
  any record whose known end date lies in the future.
* ``RECENT``: ended, and today is inside the washout window after the last exposure.
* ``PAST``: ended, and the washout window closed on or before today.
* ``UNKNOWN``: ended or of unknown status, but no date shows when it was last taken. This is
  uncertainty, never a reason to call the patient safe.

The last exposure of an ended record is the latest of: the effective (statement) or validity
(request) period end, and start + expected supply days. A completed or stopped statement with
neither falls back to its ``dateAsserted`` (the patient had stopped by then). Records
``entered-in-error`` are ignored; ``not-taken`` statements and ``cancelled`` requests (withdrawn
before any dose) are read but are no exposure. Any other status (``unknown``, missing, or a code
the rules do not know) is judged by its dates alone.

Windows come from the article (section "The Critical Safety Issue: Opioids"): the earliest
naltrexone start is the last exposure plus the upper bound of the class's window. Methadone has no
number unless one is configured, and a depot (extended-release injectable or implanted
buprenorphine) keeps releasing drug: neither window can be closed by the product, so both stay
open and call for specialist guidance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from clinical.opioids import (
    OpioidKnowledge,
    OpioidMatch,
    Washout,
    recognise_medication,
    rxnorm_codes,
)
from clinical.records import MedicationRecord, Source

ACTIVE_STATUSES = frozenset({"active", "intended", "on-hold", "draft"})
ENDED_STATUSES = frozenset({"completed", "stopped"})
NO_EXPOSURE_STATUSES = frozenset({"not-taken", "cancelled"})
IGNORED_STATUSES = frozenset({"entered-in-error"})
DRAFTS = "draft orders"


class ExposureState(StrEnum):
    """Where an opioid record stands against the naltrexone washout."""

    ACTIVE = "active"
    RECENT = "recent"
    PAST = "past"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class OpioidExposure:
    """One record's opioid, its state, last exposure, washout and earliest naltrexone start.

    ``last_exposure`` is the last day the opioid was (or is planned to be) taken, when the record
    says; ``basis`` says in words where that date comes from. ``earliest_start`` is None when it
    cannot be computed: still active with no planned end, no date, or specialist guidance needed.
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
) -> ExposureReview:
    """Find every opioid exposure in ``records`` and in this session's ``drafts``."""
    exposures: list[OpioidExposure] = []
    unchecked: list[UncheckedRecord] = []
    read: dict[str, list[MedicationRecord]] = {str(s): [] for s in Source}
    read[DRAFTS] = []
    ignored = 0
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
        exposure = _exposure(record, match, knowledge, today, draft)
        if exposure is not None:
            exposures.append(exposure)
    coverage = tuple(_coverage(source, items) for source, items in read.items())
    return ExposureReview(tuple(exposures), tuple(unchecked), coverage, ignored)


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
    today: date,
    draft: bool,
) -> OpioidExposure | None:
    """Place one opioid record against its washout window; None if it was never taken."""
    status = (record.status or "").lower() or None
    if status in NO_EXPOSURE_STATUSES and not draft:
        return None
    washout = knowledge.washouts[match.duration_class]
    # Without a number, or with a depot still releasing drug, the window cannot be closed here.
    open_window = match.depot or washout.max_days is None
    specialist = match.depot or washout.specialist_guidance
    end, basis = _planned_end(record)
    if draft or status in ACTIVE_STATUSES or (end is not None and end >= today):
        planned = end if end is not None and end >= today else None
        basis = "drafted in this ordering session" if draft else f"status {status or 'unknown'}"
        if planned is not None:
            basis += f", planned to end {planned.isoformat()}"
        state, last = ExposureState.ACTIVE, planned
    else:
        stopped_statement = record.source is Source.STATEMENT and status in ENDED_STATUSES
        if end is None and stopped_statement and record.asserted is not None:
            end, basis = record.asserted, "stopped by the date the statement was recorded"
        if end is None and match.depot and record.started is not None:
            end = record.started
            basis = f"depot given {end.isoformat()}; it keeps releasing drug for weeks"
        last = end
        if last is None:
            state = ExposureState.UNKNOWN
        elif open_window or today < last + timedelta(days=washout.max_days or 0):
            state = ExposureState.RECENT
        else:
            state = ExposureState.PAST
    earliest = None
    if last is not None and not open_window and washout.max_days is not None:
        earliest = last + timedelta(days=washout.max_days)
    return OpioidExposure(
        reference=record.reference,
        source=DRAFTS if draft else str(record.source),
        status=status,
        match=match,
        state=state,
        last_exposure=last,
        basis=basis,
        washout=washout,
        earliest_start=earliest,
        specialist_guidance=specialist,
    )


def _planned_end(record: MedicationRecord) -> tuple[date | None, str]:
    """Return the latest date the record says the opioid is or was taken, and how it is known."""
    candidates: list[tuple[date, str]] = []
    if record.ended is not None:
        period = "effective" if record.source is Source.STATEMENT else "validity"
        candidates.append((record.ended, f"{period} period end"))
    if record.started is not None and record.supply_days is not None:
        candidates.append(
            (
                record.started + timedelta(days=record.supply_days),
                f"started {record.started.isoformat()} + {record.supply_days} days' supply",
            )
        )
    if not candidates:
        if record.started is not None:
            return None, f"started {record.started.isoformat()}, end not recorded"
        return None, "no dates recorded"
    return max(candidates)


def _coverage(source: str, records: list[MedicationRecord]) -> SourceCoverage:
    dates = [
        day
        for record in records
        for day in (record.started, record.ended, record.asserted)
        if day is not None
    ]
    return SourceCoverage(source, len(records), min(dates, default=None), max(dates, default=None))
