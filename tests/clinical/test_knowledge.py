"""The shared knowledge bundle and the site's methadone washout setting."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from clinical.assessment import AssessmentStatus, assess_naltrexone_order
from clinical.knowledge import load_knowledge
from clinical.opioids import DurationClass
from clinical.records import MedicationRecord
from tests.clinical.medication_builders import named, record

TODAY = date(2026, 3, 16)


def _methadone_stopped(days_ago: int) -> MedicationRecord:
    day = TODAY - timedelta(days=days_ago)
    return record(named("methadone 10 mg tablet"), "completed", started=day, ended=day)


def test_by_default_methadone_needs_specialist_guidance_and_no_number() -> None:
    knowledge = load_knowledge()
    assert knowledge.opioids.washouts[DurationClass.METHADONE].max_days is None
    result = assess_naltrexone_order(None, [_methadone_stopped(6)], knowledge.opioids, TODAY)
    assert result.status is AssessmentStatus.SPECIALIST_GUIDANCE
    assert result.earliest_start is None


def test_a_site_washout_for_methadone_gives_a_date_and_is_marked_configured() -> None:
    knowledge = load_knowledge(21)
    washout = knowledge.opioids.washouts[DurationClass.METHADONE]
    assert (washout.max_days, washout.configured) == (21, True)
    inside = assess_naltrexone_order(None, [_methadone_stopped(5)], knowledge.opioids, TODAY)
    assert inside.status is AssessmentStatus.WAIT_UNTIL
    assert inside.earliest_start == TODAY + timedelta(days=16)
    after = assess_naltrexone_order(None, [_methadone_stopped(30)], knowledge.opioids, TODAY)
    assert after.status is AssessmentStatus.SAFE_TO_START


def test_the_site_setting_leaves_the_other_classes_alone() -> None:
    default, site = load_knowledge(), load_knowledge(21)
    for duration_class in (DurationClass.SHORT_ACTING, DurationClass.LONG_ACTING):
        assert site.opioids.washouts[duration_class] == default.opioids.washouts[duration_class]


@pytest.mark.parametrize("value", [0, -3, 2.5, "14", True, 3, 13])
def test_a_malformed_site_washout_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="washout"):
        load_knowledge(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, 44, 2.5, "180", True])
def test_a_horizon_shorter_than_a_depots_critical_window_or_malformed_is_refused(
    value: object,
) -> None:
    with pytest.raises(ValueError, match="LDN_SPECIALIST_GUIDANCE_HORIZON_DAYS"):
        load_knowledge(None, value)  # type: ignore[arg-type]


def test_a_site_horizon_is_marked_configured_and_the_default_is_the_data_files() -> None:
    assert load_knowledge().windows.horizon_days == 180
    assert not load_knowledge().windows.horizon_configured
    site = load_knowledge(None, 365).windows
    assert (site.horizon_days, site.horizon_configured) == (365, True)
