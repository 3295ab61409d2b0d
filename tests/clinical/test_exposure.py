"""Opioid records are placed against the article's washout windows; unknowns stay unknown."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical.exposure import DRAFTS, ExposureState, OpioidExposure, assess_exposures
from clinical.opioids import DurationClass, OpioidKnowledge
from clinical.records import Medication, MedicationRecord, RecordGlance, Source
from clinical.windows import OpenWindows
from tests.clinical.medication_builders import coded, named, record

KNOWLEDGE = OpioidKnowledge.load()
TODAY = date(2026, 6, 15)
OXYCODONE = named("oxycodone 5 mg tablet")
OXYCONTIN = named("OxyContin 20 mg")
SUBOXONE = named("Suboxone 8/2 mg film")
METHADONE = named("methadone 10 mg tablet")
SUBLOCADE = coded("1996189")


def one(rec: MedicationRecord, knowledge: OpioidKnowledge = KNOWLEDGE) -> OpioidExposure:
    review = assess_exposures([rec], knowledge, TODAY)
    assert len(review.exposures) == 1
    return review.exposures[0]


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


@pytest.mark.parametrize(
    ("medication", "duration_class", "window"),
    [
        (OXYCODONE, DurationClass.SHORT_ACTING, 10),
        (OXYCONTIN, DurationClass.LONG_ACTING, 14),
        (SUBOXONE, DurationClass.BUPRENORPHINE, 14),
    ],
)
def test_earliest_start_is_last_exposure_plus_the_articles_upper_bound(
    medication: Medication, duration_class: DurationClass, window: int
) -> None:
    exposure = one(record(medication, "completed", started=days_ago(8), ended=days_ago(3)))
    assert exposure.match.duration_class is duration_class
    assert exposure.state is ExposureState.RECENT
    assert exposure.last_exposure == days_ago(3)
    assert exposure.earliest_start == days_ago(3) + timedelta(days=window)
    assert exposure.washout.max_days == window
    assert not exposure.specialist_guidance


@pytest.mark.parametrize(
    ("medication", "window"), [(OXYCODONE, 10), (OXYCONTIN, 14), (SUBOXONE, 14)]
)
def test_window_closes_on_the_earliest_start(medication: Medication, window: int) -> None:
    course = {"started": days_ago(window + 5)}  # a short course: not long use of buprenorphine
    inside = one(record(medication, "stopped", ended=days_ago(window - 1), **course))
    closed = one(record(medication, "stopped", ended=days_ago(window), **course))
    assert inside.state is ExposureState.RECENT
    assert closed.state is ExposureState.PAST
    assert closed.earliest_start == TODAY


@pytest.mark.parametrize("ended_days_ago", [3, 13])
def test_methadone_gets_specialist_guidance_never_a_number(ended_days_ago: int) -> None:
    exposure = one(record(METHADONE, "completed", ended=days_ago(ended_days_ago)))
    assert exposure.match.duration_class is DurationClass.METHADONE
    assert exposure.state is ExposureState.RECENT
    assert exposure.earliest_start is None
    assert exposure.specialist_guidance
    assert exposure.washout.max_days is None
    assert "specialist" in exposure.washout.guidance


def test_configured_methadone_washout_gives_a_date() -> None:
    local = KNOWLEDGE.with_washout(DurationClass.METHADONE, 30)
    exposure = one(record(METHADONE, "completed", ended=days_ago(3)), local)
    assert exposure.earliest_start == days_ago(3) + timedelta(days=30)
    assert exposure.washout.configured
    assert exposure.specialist_guidance


@pytest.mark.parametrize("status", ["completed", "active"])
def test_depot_buprenorphine_keeps_releasing_drug(status: str) -> None:
    exposure = one(record(SUBLOCADE, status, source=Source.REQUEST, started=days_ago(40)))
    assert exposure.match.depot
    assert exposure.state in (ExposureState.RECENT, ExposureState.ACTIVE)
    assert exposure.earliest_start is None
    assert exposure.specialist_guidance


@pytest.mark.parametrize(
    ("source", "status"),
    [
        (Source.STATEMENT, "active"),
        (Source.STATEMENT, "intended"),
        (Source.STATEMENT, "on-hold"),
        (Source.REQUEST, "active"),
        (Source.REQUEST, "on-hold"),
        (Source.REQUEST, "draft"),
        (Source.STATEMENT, "ACTIVE"),
    ],
)
def test_active_statuses_are_active_whatever_the_dates(source: Source, status: str) -> None:
    exposure = one(record(OXYCODONE, status, source=source, ended=days_ago(400)))
    assert exposure.state is ExposureState.ACTIVE
    assert exposure.earliest_start is None


def test_active_with_a_planned_end_gives_the_earliest_start() -> None:
    planned = TODAY + timedelta(days=5)
    exposure = one(record(OXYCODONE, "active", source=Source.REQUEST, ended=planned))
    assert exposure.state is ExposureState.ACTIVE
    assert exposure.planned_end == planned
    assert exposure.last_exposure is None  # a future end is a plan, never a last exposure
    assert exposure.earliest_start == planned + timedelta(days=10)


def test_request_supply_counts_from_its_start() -> None:
    exposure = one(
        record(OXYCODONE, "completed", source=Source.REQUEST, started=days_ago(35), supply_days=30)
    )
    assert exposure.last_exposure == days_ago(5)
    assert exposure.earliest_start == days_ago(5) + timedelta(days=10)
    assert "30 days' supply" in exposure.basis


def test_request_uses_the_later_of_validity_end_and_supply() -> None:
    exposure = one(
        record(
            OXYCODONE,
            "completed",
            source=Source.REQUEST,
            started=days_ago(40),
            ended=days_ago(20),
            supply_days=30,
        )
    )
    assert exposure.last_exposure == days_ago(10)


def test_supply_still_running_is_active_even_if_status_is_unknown() -> None:
    exposure = one(
        record(OXYCODONE, "unknown", source=Source.REQUEST, started=days_ago(5), supply_days=30)
    )
    assert exposure.state is ExposureState.ACTIVE
    assert exposure.earliest_start == days_ago(5) + timedelta(days=40)


def test_stopped_statement_without_end_is_bounded_by_its_assertion_date() -> None:
    exposure = one(record(OXYCODONE, "stopped", started=days_ago(90), asserted=days_ago(2)))
    assert exposure.last_exposure == days_ago(2)
    assert exposure.state is ExposureState.RECENT
    assert "recorded" in exposure.basis


def test_request_authored_date_is_not_an_end() -> None:
    exposure = one(
        record(
            OXYCODONE,
            "completed",
            source=Source.REQUEST,
            started=days_ago(90),
            asserted=days_ago(90),
        )
    )
    assert exposure.state is ExposureState.UNKNOWN
    assert exposure.earliest_start is None


@pytest.mark.parametrize("status", ["completed", "stopped", "unknown", None, "weird-status"])
def test_missing_dates_are_unknown_not_safe(status: str | None) -> None:
    exposure = one(record(OXYCODONE, status, started=None))
    assert exposure.state is ExposureState.UNKNOWN
    assert exposure.earliest_start is None
    assert exposure.basis == "no dates recorded"


@pytest.mark.parametrize(
    ("source", "status"), [(Source.STATEMENT, "not-taken"), (Source.REQUEST, "cancelled")]
)
def test_never_taken_records_are_read_but_are_no_exposure(source: Source, status: str) -> None:
    review = assess_exposures([record(OXYCODONE, status, source=source)], KNOWLEDGE, TODAY)
    assert review.exposures == ()
    assert {c.source: c.records for c in review.coverage}[str(source)] == 1


def test_entered_in_error_is_ignored_entirely() -> None:
    review = assess_exposures(
        [record(OXYCODONE, "entered-in-error", ended=days_ago(1))], KNOWLEDGE, TODAY
    )
    assert review.exposures == ()
    assert review.ignored == 1
    assert all(c.records == 0 for c in review.coverage)


def test_draft_orders_of_the_session_count_as_active() -> None:
    draft = record(OXYCODONE, "cancelled", source=Source.REQUEST, id="draft-1")
    review = assess_exposures([], KNOWLEDGE, TODAY, drafts=[draft])
    assert [e.state for e in review.exposures] == [ExposureState.ACTIVE]
    assert review.exposures[0].source == DRAFTS
    assert {c.source: c.records for c in review.coverage}[DRAFTS] == 1


@pytest.mark.parametrize(
    ("medication", "problems", "reason"),
    [
        (named("lisinopril"), ("medicationReference Medication/9 could not be read",), "could not"),
        (Medication(), (), "no medication code or name"),
        (coded("00093-0058", system="http://hl7.org/fhir/sid/ndc"), (), "other than RxNorm"),
        (coded("313782"), (), "RxNorm code 313782 is not a known opioid"),
    ],
)
def test_unidentified_records_are_reported_unchecked(
    medication: Medication, problems: tuple[str, ...], reason: str
) -> None:
    review = assess_exposures(
        [record(medication, "active", id="m9", medication_problems=problems)], KNOWLEDGE, TODAY
    )
    assert review.exposures == ()
    assert len(review.unchecked) == 1
    assert review.unchecked[0].reference == "MedicationStatement/m9"
    assert reason in review.unchecked[0].reason


def test_a_malformed_date_on_a_named_non_opioid_leaves_it_checked() -> None:
    problems = ("effectivePeriod.end is not a valid date",)
    review = assess_exposures(
        [record(named("lisinopril 10 mg"), problems=problems)], KNOWLEDGE, TODAY
    )
    assert review.unchecked == ()


def test_identified_non_opioids_are_checked_and_silent() -> None:
    records = [record(named("lisinopril 10 mg")), record(coded("29046", "lisinopril"), id="2")]
    review = assess_exposures(records, KNOWLEDGE, TODAY)
    assert review.exposures == ()
    assert review.unchecked == ()


def test_coverage_counts_each_source_and_its_date_span() -> None:
    records = [
        record(named("lisinopril"), started=date(2024, 1, 2)),
        record(named("metformin"), started=date(2025, 3, 1), ended=date(2025, 9, 1), id="2"),
        record(named("atorvastatin"), source=Source.REQUEST, started=date(2026, 1, 1)),
    ]
    coverage = {c.source: c for c in assess_exposures(records, KNOWLEDGE, TODAY).coverage}
    statements = coverage["MedicationStatement"]
    assert (statements.records, statements.earliest, statements.latest) == (
        2,
        date(2024, 1, 2),
        date(2025, 9, 1),
    )
    assert coverage["MedicationRequest"].records == 1


def test_records_glanced_at_count_in_the_coverage_as_if_read_whole() -> None:
    whole = [
        record(named("lisinopril"), started=date(2024, 1, 2)),
        record(named("metformin"), started=date(2025, 3, 1), ended=date(2025, 9, 1), id="2"),
        record(named("atorvastatin"), status="entered-in-error", started=date(2019, 1, 1), id="3"),
        record(named("amlodipine"), source=Source.REQUEST, started=date(2026, 1, 1), id="4"),
    ]
    glanced = [RecordGlance(r.source, r.status, r.started, r.ended, r.asserted) for r in whole]
    oxycodone = record(OXYCODONE, status="active", started=date(2026, 6, 1), id="5")
    read_whole = assess_exposures([*whole, oxycodone], KNOWLEDGE, TODAY)
    glanced_at = assess_exposures([oxycodone], KNOWLEDGE, TODAY, glanced=glanced)
    assert glanced_at == read_whole
    assert glanced_at.ignored == 1  # the entered-in-error record is set aside, not counted
    statements = {c.source: c for c in glanced_at.coverage}["MedicationStatement"]
    assert (statements.records, statements.earliest, statements.latest) == (
        3,
        date(2024, 1, 2),
        date(2026, 6, 1),
    )


@given(
    ended=st.integers(min_value=-400, max_value=400),
    later=st.integers(min_value=0, max_value=400),
    medication=st.sampled_from([OXYCODONE, OXYCONTIN, SUBOXONE, METHADONE, SUBLOCADE]),
    status=st.sampled_from(["completed", "stopped", "unknown", "active"]),
)
def test_a_later_last_exposure_never_moves_the_earliest_start_earlier(
    ended: int, later: int, medication: Medication, status: str
) -> None:
    first = one(record(medication, status, ended=TODAY + timedelta(days=ended)))
    second = one(record(medication, status, ended=TODAY + timedelta(days=ended + later)))
    if first.earliest_start is not None and second.earliest_start is not None:
        assert second.earliest_start >= first.earliest_start
    if first.specialist_guidance:
        # A window the product cannot close stays open when the exposure moves later.
        assert second.earliest_start is None


@given(
    status=st.sampled_from(["completed", "stopped", "unknown", None, "on-hold", "active"]),
    started=st.none() | st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 1, 1)),
    source=st.sampled_from(list(Source)),
)
def test_an_opioid_without_an_end_is_never_past(
    status: str | None, started: date | None, source: Source
) -> None:
    exposure = one(record(OXYCODONE, status, source=source, started=started))
    assert exposure.state is not ExposureState.PAST


@given(
    started=st.integers(min_value=0, max_value=60),
    medication=st.sampled_from([OXYCODONE, OXYCONTIN, SUBOXONE, METHADONE, SUBLOCADE]),
    source=st.sampled_from(list(Source)),
    status=st.sampled_from(["completed", "stopped", "unknown", None]),
)
def test_a_dose_proven_by_a_first_date_is_never_an_all_clear(
    started: int, medication: Medication, source: Source, status: str | None
) -> None:
    exposure = one(record(medication, status, source=source, started=days_ago(started)))
    assert exposure.state is not ExposureState.PAST
    if not exposure.match.depot:  # a depot's date is when it was given: one exact dose
        assert exposure.state in (ExposureState.RECENT, ExposureState.UNKNOWN)
    if exposure.state is ExposureState.RECENT and exposure.earliest_start is not None:
        # Only a lower bound: the card says "at least until", never a plain date.
        assert exposure.at_least or exposure.match.depot


@pytest.mark.parametrize(
    ("ended_days_ago", "state"),
    [
        (13, ExposureState.RECENT),
        (14, ExposureState.GUIDANCE),
        (179, ExposureState.GUIDANCE),
        (180, ExposureState.PAST),
        (1826, ExposureState.PAST),
    ],
)
def test_methadones_open_window_closes_in_two_steps(
    ended_days_ago: int, state: ExposureState
) -> None:
    ended = days_ago(ended_days_ago)
    exposure = one(record(METHADONE, "completed", started=ended - timedelta(days=300), ended=ended))
    assert exposure.state is state
    assert exposure.critical_until == ended + timedelta(days=14)
    assert exposure.guidance_until == ended + timedelta(days=180)
    assert exposure.earliest_start is None


@pytest.mark.parametrize(
    ("given_days_ago", "state"),
    [(44, ExposureState.RECENT), (45, ExposureState.GUIDANCE), (180, ExposureState.PAST)],
)
def test_a_depot_is_critical_for_its_month_and_the_long_acting_bound(
    given_days_ago: int, state: ExposureState
) -> None:
    given = days_ago(given_days_ago)
    exposure = one(
        record(SUBLOCADE, "completed", source=Source.ADMINISTRATION, started=given, ended=given)
    )
    assert exposure.state is state
    assert exposure.critical_until == given + timedelta(days=31 + 14)


@pytest.mark.parametrize(
    ("course_days", "state"),
    [
        (7, ExposureState.PAST),
        (29, ExposureState.PAST),
        (30, ExposureState.GUIDANCE),
        (400, ExposureState.GUIDANCE),
    ],
)
def test_long_use_of_buprenorphine_keeps_a_specialist_guidance_warning(
    course_days: int, state: ExposureState
) -> None:
    ended = days_ago(14)
    started = ended - timedelta(days=course_days)
    exposure = one(record(SUBOXONE, "completed", started=started, ended=ended))
    assert exposure.state is state


def test_a_site_horizon_moves_the_end_of_the_warning() -> None:
    windows = OpenWindows.load(KNOWLEDGE).with_horizon(365)
    methadone = record(METHADONE, "completed", started=days_ago(500), ended=days_ago(200))
    review = assess_exposures([methadone], KNOWLEDGE, TODAY, windows=windows)
    (exposure,) = review.exposures
    assert exposure.state is ExposureState.GUIDANCE
    assert exposure.guidance_until == days_ago(200) + timedelta(days=365)
    assert one(methadone).state is ExposureState.PAST  # the default 180 days


def test_a_future_end_is_a_planned_end_for_every_source() -> None:
    for source in Source:
        exposure = one(
            record(OXYCODONE, "completed", source=source, started=days_ago(2), supply_days=10)
        )
        assert exposure.state is ExposureState.ACTIVE
        assert exposure.planned_end == days_ago(2) + timedelta(days=10)
        assert exposure.last_exposure is None
