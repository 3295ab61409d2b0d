"""The words for an opioid finding: plain, never a future "last dose", the same for every face."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical.exposure import ExposureState, OpioidExposure, assess_exposures
from clinical.opioids import DurationClass, OpioidKnowledge
from clinical.records import MedicationRecord
from clinical.wording import ExposureWords, exposure_words, washout_words
from tests.clinical.medication_builders import coded, named, record

KNOWLEDGE = OpioidKnowledge.load()
TODAY = date(2026, 6, 15)
FHIR_WORDS = (
    "status ",
    "effective",
    "validity",
    "period end",
    "MedicationStatement",
    "draft order",
)


def words_for(
    rec: MedicationRecord, *, draft: bool = False
) -> tuple[OpioidExposure, ExposureWords]:
    review = (
        assess_exposures([], KNOWLEDGE, TODAY, drafts=[rec])
        if draft
        else assess_exposures([rec], KNOWLEDGE, TODAY)
    )
    (exposure,) = review.exposures
    return exposure, exposure_words(exposure)


def days(n: int) -> date:
    return TODAY + timedelta(days=n)


@pytest.mark.parametrize(
    ("rec", "status", "earliest"),
    [
        (
            record(named("oxycodone 5 mg tablet")),
            "Taking now, no end date recorded",
            "only after it is stopped, plus the washout",
        ),
        (
            record(named("fentanyl 25 mcg/hr patch"), started=days(-20), ended=days(30)),
            f"Taking now, planned to end {days(30)}",
            f"{days(30 + 14)} if it ends as planned",
        ),
        (
            record(named("oxycodone 5 mg tablet"), "completed", started=days(-9), ended=days(-3)),
            f"Stopped recently, last dose {days(-3)}",
            str(days(-3 + 10)),
        ),
        (
            record(named("oxycodone 5 mg tablet"), "completed", ended=days(-200)),
            f"Stopped, last dose {days(-200)}: washout over",
            str(days(-200 + 10)),
        ),
        (
            record(named("oxycodone 5 mg tablet"), "completed", asserted=None),
            "Last dose not recorded",
            "cannot be worked out: last dose not recorded",
        ),
    ],
)
def test_each_state_reads_plainly(rec: MedicationRecord, status: str, earliest: str) -> None:
    _, words = words_for(rec)
    assert words.status == status
    assert words.earliest == earliest
    for jargon in FHIR_WORDS:
        assert jargon not in f"{words.status} {words.earliest}"


def test_a_future_end_date_is_a_planned_end_never_a_last_dose() -> None:
    exposure, words = words_for(record(named("morphine ER 30 mg"), ended=days(45)))
    assert exposure.state is ExposureState.ACTIVE
    assert "last dose" not in words.status
    assert f"planned to end {days(45)}" in words.status


def test_a_drafted_opioid_says_it_was_ordered_now() -> None:
    _, words = words_for(record(named("hydrocodone 5 mg / APAP 325 mg"), "draft"), draft=True)
    assert words.status == "Ordered in this session"


def test_drug_names_the_product_and_its_ingredient_once() -> None:
    _, branded = words_for(record(named("OxyContin 20 mg")))
    assert "(oxycodone)" in branded.drug
    assert branded.kind == "long-acting opioid"


def test_depot_and_methadone_say_specialist_guidance_never_a_number() -> None:
    _, depot = words_for(record(coded("1996189"), "completed", started=days(-40)))
    assert depot.kind.startswith("depot ")
    assert depot.washout == "specialist guidance"
    assert depot.earliest == "specialist guidance"
    _, methadone = words_for(record(named("methadone 10 mg"), "stopped", ended=days(-5)))
    assert methadone.washout == "specialist guidance"
    assert not any(ch.isdigit() for ch in methadone.earliest)


def test_a_site_washout_is_marked_as_set_locally() -> None:
    local = KNOWLEDGE.with_washout(DurationClass.METHADONE, 30)
    assert washout_words(local.washouts[DurationClass.METHADONE]).startswith("30 days")
    assert "(set locally)" in washout_words(local.washouts[DurationClass.METHADONE])


@pytest.mark.parametrize("duration_class", list(DurationClass))
def test_numeric_windows_are_written_as_ranges(duration_class: DurationClass) -> None:
    washout = KNOWLEDGE.washouts[duration_class]
    shown = washout_words(washout)
    if washout.max_days is None:
        assert shown == "specialist guidance"
    else:
        assert shown.startswith(f"{washout.min_days}\N{EN DASH}{washout.max_days} days")


@given(st.integers(min_value=-400, max_value=400))
def test_no_phrase_ever_calls_a_future_day_a_last_dose(offset: int) -> None:
    rec = replace(record(named("tramadol 50 mg"), "completed"), ended=days(offset))
    _, words = words_for(rec)
    if offset >= 0:
        assert "last dose" not in words.status
    else:
        assert f"last dose {days(offset)}" in words.status


def test_a_first_dose_date_alone_gives_an_at_least_until_date() -> None:
    exposure, words = words_for(
        record(named("oxycodone 5 mg tablet"), "completed", started=days(-3))
    )
    assert exposure.at_least
    assert words.status == f"Dose on {days(-3)}; later doses not ruled out"
    assert words.earliest == f"at least until {days(-3 + 10)}"


def test_an_open_window_past_its_critical_band_asks_for_specialist_guidance() -> None:
    exposure, words = words_for(
        record(named("methadone 10 mg tablet"), "stopped", started=days(-400), ended=days(-30))
    )
    assert exposure.state is ExposureState.GUIDANCE
    assert words.status == f"Stopped, last dose {days(-30)}: specialist guidance"
    assert words.earliest.startswith("specialist guidance (until ")
