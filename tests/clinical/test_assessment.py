"""One decision for card and app: the strongest finding wins; a failure never clears."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical.assessment import Assessment, AssessmentStatus, assess_naltrexone_order
from clinical.naltrexone import NaltrexoneKind, recognise_naltrexone
from clinical.opioids import OpioidKnowledge
from clinical.records import MedicationRecord, Source
from tests.clinical.medication_builders import coded, named, record

KNOWLEDGE = OpioidKnowledge.load()
TODAY = date(2026, 6, 15)
LDN = recognise_naltrexone(record(named("LDN 1.5 mg"), "draft", source=Source.REQUEST), KNOWLEDGE)


def assess(
    *records: MedicationRecord,
    unchecked: tuple[str, ...] = (),
    drafts: tuple[MedicationRecord, ...] = (),
) -> Assessment:
    return assess_naltrexone_order(
        LDN, list(records), KNOWLEDGE, TODAY, unchecked=unchecked, drafts=drafts
    )


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


LISINOPRIL = record(named("lisinopril 10 mg"), id="l1", started=date(2020, 5, 1))
ACTIVE_OXY = record(named("oxycodone 5 mg"), "active", id="a1")
RECENT_OXY = record(named("Percocet"), "completed", id="r1", ended=days_ago(2))
RECENT_OXYCONTIN = record(named("OxyContin 10 mg"), "completed", id="r2", ended=days_ago(1))
PAST_OXY = record(named("oxycodone 5 mg"), "completed", id="p1", ended=days_ago(30))
UNDATED_OXY = record(named("oxycodone 5 mg"), "completed", id="u1")
METHADONE = record(named("methadone 40 mg"), "stopped", id="m1", ended=days_ago(5))
SUBLOCADE = record(named("Sublocade 300 mg"), "completed", id="d1", started=days_ago(20))
UNREADABLE = record(named("?"), "active", id="x1", medication_problems=("Medication/77 not found",))


def test_order_is_recognised_as_ldn() -> None:
    assert LDN is not None
    assert LDN.kind is NaltrexoneKind.LDN


@pytest.mark.parametrize(
    ("records", "status", "earliest"),
    [
        ((), AssessmentStatus.SAFE_TO_START, None),
        ((LISINOPRIL, PAST_OXY), AssessmentStatus.SAFE_TO_START, None),
        ((RECENT_OXY,), AssessmentStatus.WAIT_UNTIL, days_ago(2) + timedelta(days=10)),
        (
            (RECENT_OXY, RECENT_OXYCONTIN),
            AssessmentStatus.WAIT_UNTIL,
            days_ago(1) + timedelta(days=14),
        ),
        ((UNDATED_OXY,), AssessmentStatus.UNCERTAIN, None),
        ((UNREADABLE, PAST_OXY), AssessmentStatus.UNCERTAIN, None),
        ((RECENT_OXY, UNDATED_OXY), AssessmentStatus.UNCERTAIN, days_ago(2) + timedelta(days=10)),
        ((METHADONE,), AssessmentStatus.SPECIALIST_GUIDANCE, None),
        (
            (SUBLOCADE, RECENT_OXY),
            AssessmentStatus.SPECIALIST_GUIDANCE,
            days_ago(2) + timedelta(days=10),
        ),
        (
            (ACTIVE_OXY, METHADONE, RECENT_OXY),
            AssessmentStatus.DO_NOT_START,
            days_ago(2) + timedelta(days=10),
        ),
    ],
)
def test_status_and_earliest_start(
    records: tuple[MedicationRecord, ...], status: AssessmentStatus, earliest: date | None
) -> None:
    result = assess(*records)
    assert result.status is status
    assert result.earliest_start == earliest
    assert result.safe is (status is AssessmentStatus.SAFE_TO_START)


def test_active_opioid_with_a_planned_end_gives_a_complete_date() -> None:
    planned = record(
        named("oxycodone"), "active", source=Source.REQUEST, ended=TODAY + timedelta(days=3)
    )
    result = assess(planned)
    assert result.status is AssessmentStatus.DO_NOT_START
    assert result.earliest_start == TODAY + timedelta(days=13)
    assert result.earliest_start_complete


def test_active_opioid_without_end_has_no_complete_date() -> None:
    result = assess(ACTIVE_OXY, RECENT_OXY)
    assert result.status is AssessmentStatus.DO_NOT_START
    assert not result.earliest_start_complete
    assert "is active" in result.reasons[0]


def test_methadone_says_specialist_guidance_and_no_number() -> None:
    result = assess(METHADONE)
    assert result.earliest_start is None
    (reason,) = result.reasons
    assert "specialist guidance" in reason
    assert "methadone" in reason
    assert "Washout" not in reason


def test_reason_names_drug_class_last_exposure_and_date() -> None:
    (reason,) = assess(RECENT_OXYCONTIN).reasons
    assert "OxyContin 10 mg (oxycodone, long-acting)" in reason
    assert days_ago(1).isoformat() in reason
    assert "10-14 days or more" in reason
    assert (days_ago(1) + timedelta(days=14)).isoformat() in reason


def test_sources_the_caller_could_not_read_make_it_uncertain() -> None:
    result = assess(LISINOPRIL, unchecked=("MedicationRequest: FHIR server error",))
    assert result.status is AssessmentStatus.UNCERTAIN
    assert result.unchecked == ("MedicationRequest: FHIR server error",)
    assert "Could not check MedicationRequest: FHIR server error." in result.reasons


def test_unreadable_records_are_named() -> None:
    result = assess(UNREADABLE)
    assert result.unchecked == ("MedicationStatement/x1: Medication/77 not found",)


def test_opioid_drafted_in_the_same_session_blocks() -> None:
    draft = record(named("Norco 5/325"), "draft", source=Source.REQUEST, id="d-2")
    result = assess(LISINOPRIL, drafts=(draft,))
    assert result.status is AssessmentStatus.DO_NOT_START
    assert result.findings[0].source == "draft orders"


def test_all_clear_says_what_was_checked() -> None:
    request = record(coded("197361", "amlodipine 5 MG Oral Tablet"), source=Source.REQUEST, id="q")
    result = assess(LISINOPRIL, request)
    assert result.status is AssessmentStatus.SAFE_TO_START
    assert result.reasons == (
        "No opioid found in the records checked (1 MedicationStatement, 1 MedicationRequest).",
    )
    coverage = {c.source: c for c in result.coverage}
    assert coverage["MedicationStatement"].earliest == date(2020, 5, 1)


def test_review_without_an_order() -> None:
    result = assess_naltrexone_order(None, [RECENT_OXY], KNOWLEDGE, TODAY)
    assert result.order is None
    assert result.status is AssessmentStatus.WAIT_UNTIL


def test_past_exposures_are_listed_apart() -> None:
    result = assess(PAST_OXY, RECENT_OXY)
    assert [e.reference for e in result.past] == ["MedicationStatement/p1"]
    assert [e.reference for e in result.findings] == ["MedicationStatement/r1"]


OPIOID_NAMES = ["oxycodone", "OxyContin", "Suboxone", "methadone", "fentanyl patch", "Sublocade"]


@given(
    names=st.lists(st.sampled_from(OPIOID_NAMES), min_size=1, max_size=4),
    dated_offsets=st.lists(st.integers(min_value=-3000, max_value=30), max_size=4),
    status=st.sampled_from(["completed", "stopped", "unknown", None]),
    source=st.sampled_from(list(Source)),
)
def test_unknown_dates_never_yield_safe_to_start(
    names: list[str], dated_offsets: list[int], status: str | None, source: Source
) -> None:
    undated = record(named(names[0]), status, source=source, id="undated")
    dated = [
        record(named(name), "completed", id=f"d{i}", ended=TODAY + timedelta(days=offset))
        for i, (name, offset) in enumerate(zip(names[1:], dated_offsets, strict=False))
    ]
    result = assess(undated, *dated)
    assert result.status is not AssessmentStatus.SAFE_TO_START


@given(
    ended=st.integers(min_value=-60, max_value=0),
    later=st.integers(min_value=0, max_value=60),
    name=st.sampled_from(["oxycodone", "OxyContin", "Suboxone"]),
)
def test_a_later_exposure_never_moves_the_decision_date_earlier(
    ended: int, later: int, name: str
) -> None:
    first = assess(record(named(name), "completed", ended=TODAY + timedelta(days=ended)))
    second = assess(record(named(name), "completed", ended=TODAY + timedelta(days=ended + later)))
    if first.earliest_start is not None:
        assert second.earliest_start is not None
        assert second.earliest_start >= first.earliest_start
