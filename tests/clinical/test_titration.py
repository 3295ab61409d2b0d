"""The titration schedule follows the article's protocol and refuses what the protocol forbids."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical.titration import (
    InvalidTitration,
    TitrationProtocol,
    build_schedule,
    format_mg,
)

PROTOCOL = TitrationProtocol.load()
START = date(2026, 3, 2)


def d(text: str) -> Decimal:
    return Decimal(text)


def test_packaged_protocol_is_the_articles() -> None:
    assert PROTOCOL.start_dose_mg == d("1.5")
    assert PROTOCOL.step_mg == d("1.5")
    assert PROTOCOL.default_target_mg == d("4.5")
    assert PROTOCOL.allowed_targets_mg == (d("1.5"), d("3"), d("4.5"))
    assert PROTOCOL.allowed_intervals_days == (7, 14)
    assert PROTOCOL.default_interval_days in PROTOCOL.allowed_intervals_days
    assert PROTOCOL.event_timing == "HS"
    assert PROTOCOL.doses_per_day == 1
    assert "bedtime" in PROTOCOL.timing_display
    assert PROTOCOL.source_section == "Dosing and Titration"


@pytest.mark.parametrize(
    ("interval", "target", "expected"),
    [
        # (dose, first day offset, last day offset or None for the open-ended maintenance step)
        (7, "4.5", [("1.5", 0, 6), ("3", 7, 13), ("4.5", 14, None)]),
        (14, "4.5", [("1.5", 0, 13), ("3", 14, 27), ("4.5", 28, None)]),
        (7, "3", [("1.5", 0, 6), ("3", 7, None)]),
        (14, "3", [("1.5", 0, 13), ("3", 14, None)]),
        (7, "1.5", [("1.5", 0, None)]),
        (14, "1.5", [("1.5", 0, None)]),
    ],
)
def test_schedule_steps(
    interval: int, target: str, expected: list[tuple[str, int, int | None]]
) -> None:
    schedule = build_schedule(START, interval_days=interval, target_mg=d(target), protocol=PROTOCOL)
    got = [
        (
            step.dose_mg,
            (step.first_day - START).days,
            None if step.last_day is None else (step.last_day - START).days,
        )
        for step in schedule.steps
    ]
    assert got == [(d(dose), first, last) for dose, first, last in expected]
    assert schedule.steps[-1].is_maintenance
    assert not any(step.is_maintenance for step in schedule.steps[:-1])


@pytest.mark.parametrize("target", [4.5, d("4.5"), "4.5", " 4.50 "])
def test_target_may_be_float_decimal_or_text(target: Decimal | float | str) -> None:
    schedule = build_schedule(START, interval_days=7, target_mg=target, protocol=PROTOCOL)
    assert schedule.target_mg == d("4.5")
    assert schedule.dose_on(START + timedelta(days=400)) == d("4.5")


def test_doses_are_exact_decimals() -> None:
    schedule = build_schedule(START, interval_days=7, target_mg=4.5, protocol=PROTOCOL)
    assert schedule.steps[1].dose_mg == d("3.0")
    assert schedule.steps[1].dose_mg + schedule.steps[0].dose_mg == schedule.steps[2].dose_mg
    assert [format_mg(step.dose_mg) for step in schedule.steps] == ["1.5 mg", "3 mg", "4.5 mg"]


def test_dose_on_and_day_by_day_table() -> None:
    schedule = build_schedule(START, interval_days=7, target_mg=3, protocol=PROTOCOL)
    assert schedule.dose_on(START - timedelta(days=1)) is None
    assert schedule.dose_on(START) == d("1.5")
    assert schedule.dose_on(START + timedelta(days=6)) == d("1.5")
    assert schedule.dose_on(START + timedelta(days=7)) == d("3")
    assert schedule.maintenance_start == START + timedelta(days=7)
    rows = list(schedule.days(9))
    assert [row.day for row in rows] == [START + timedelta(days=i) for i in range(9)]
    assert [row.dose_mg for row in rows] == [d("1.5")] * 7 + [d("3")] * 2
    assert [row.step_number for row in rows] == [1] * 7 + [2] * 2
    assert [row.is_maintenance for row in rows] == [False] * 7 + [True] * 2
    assert list(schedule.days(0)) == []
    assert schedule.timing_display == PROTOCOL.timing_display


@pytest.mark.parametrize("interval", [10, 0, -7, 1, 21, True])
def test_interval_outside_protocol_is_refused(interval: int) -> None:
    with pytest.raises(InvalidTitration, match="every 7 or 14 days"):
        build_schedule(START, interval_days=interval, target_mg=4.5, protocol=PROTOCOL)


@pytest.mark.parametrize("target", [2, 6, 0, -1.5, 4.4, "abc", "", "NaN", "Infinity", True])
def test_target_outside_protocol_is_refused(target: Decimal | float | str) -> None:
    with pytest.raises(InvalidTitration, match=r"choose 1\.5, 3 or 4\.5 mg"):
        build_schedule(START, interval_days=7, target_mg=target, protocol=PROTOCOL)


def test_invalid_titration_is_a_value_error_with_a_clinical_message() -> None:
    with pytest.raises(ValueError, match="A target dose of 6 mg is not part of the protocol"):
        build_schedule(START, interval_days=7, target_mg=6, protocol=PROTOCOL)


def test_start_must_be_a_calendar_date() -> None:
    with pytest.raises(InvalidTitration, match="calendar date"):
        build_schedule(
            datetime(2026, 3, 2, 22, 0), interval_days=7, target_mg=4.5, protocol=PROTOCOL
        )


def test_negative_day_count_is_refused() -> None:
    schedule = build_schedule(START, interval_days=7, target_mg=4.5, protocol=PROTOCOL)
    with pytest.raises(InvalidTitration):
        list(schedule.days(-1))


def _protocol_json(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "id": "t",
        "version": "1",
        "title": "t",
        "provenance": {"section": "Dosing and Titration"},
        "startDoseMg": "1.5",
        "stepMg": "1.5",
        "defaultTargetMg": "4.5",
        "allowedTargetsMg": ["1.5", "3", "4.5"],
        "defaultIntervalDays": 7,
        "allowedIntervalsDays": [7, 14],
        "timing": {"eventTiming": "HS", "dosesPerDay": 1, "display": "at bedtime"},
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    "changes",
    [
        {"allowedTargetsMg": ["1.5", "2", "4.5"]},  # 2 mg is not start + whole steps
        {"allowedTargetsMg": ["4.5", "3", "1.5"]},  # targets must rise
        {"stepMg": "0"},
        {"defaultTargetMg": "6"},
        {"defaultIntervalDays": 10},
        {"allowedIntervalsDays": [0, 7]},
    ],
)
def test_malformed_protocol_data_is_refused(changes: dict[str, object]) -> None:
    TitrationProtocol.from_json(_protocol_json())  # the baseline is valid
    with pytest.raises(ValueError, match=r"titration\.json"):
        TitrationProtocol.from_json(_protocol_json(**changes))


@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
    interval=st.sampled_from(PROTOCOL.allowed_intervals_days),
    target=st.sampled_from(PROTOCOL.allowed_targets_mg),
    count=st.integers(min_value=1, max_value=120),
)
def test_schedule_properties(start: date, interval: int, target: Decimal, count: int) -> None:
    schedule = build_schedule(start, interval_days=interval, target_mg=target, protocol=PROTOCOL)
    rows = list(schedule.days(count))
    step = PROTOCOL.step_mg

    assert schedule.steps[0].first_day == start
    assert schedule.dose_on(start - timedelta(days=1)) is None
    assert rows[0].day == start
    assert rows[0].dose_mg == PROTOCOL.start_dose_mg
    # Days are contiguous, one row per calendar day.
    assert all(b.day - a.day == timedelta(days=1) for a, b in pairwise(rows))
    # Never above the target; every rise is exactly one step.
    assert all(row.dose_mg <= target for row in rows)
    assert all(b.dose_mg - a.dose_mg in (0, step) for a, b in pairwise(rows))
    # Steps tile the calendar without gaps or overlaps.
    for before, after in pairwise(schedule.steps):
        assert before.last_day is not None
        assert after.first_day == before.last_day + timedelta(days=1)
        assert after.dose_mg - before.dose_mg == step
    # Maintenance begins (target/1.5 - 1) intervals after the start, and lasts.
    reach = int(target / step - 1) * interval
    assert schedule.maintenance_start == start + timedelta(days=reach)
    assert schedule.dose_on(start + timedelta(days=reach)) == target
    if reach:
        assert schedule.dose_on(start + timedelta(days=reach - 1)) == target - step
    assert schedule.dose_on(start + timedelta(days=reach + count * 30)) == target
    assert all(row.dose_mg == schedule.dose_on(row.day) for row in rows)
