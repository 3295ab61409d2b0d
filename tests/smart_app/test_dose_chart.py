"""The dose chart's geometry: one point per day, a step line, axes from the protocol."""

from __future__ import annotations

from datetime import date

import pytest

from clinical.titration import TitrationProtocol, build_schedule
from smart_app.dose_chart import BOTTOM, HEIGHT, LEFT, TOP, dose_chart

PROTOCOL = TitrationProtocol.load()
START = date(2026, 3, 16)


def schedule(interval: int = 7, target: str = "4.5"):
    return build_schedule(START, interval_days=interval, target_mg=target, protocol=PROTOCOL)


@pytest.mark.parametrize(("interval", "target", "shown"), [(7, "4.5", 21), (14, "3", 21)])
def test_one_point_per_day_in_date_order(interval, target, shown) -> None:
    chart = dose_chart(schedule(interval, target), shown)
    assert len(chart.points) == shown
    assert [p.day_number for p in chart.points] == list(range(1, shown + 1))
    xs = [p.x for p in chart.points]
    assert xs == sorted(xs)
    assert len(set(xs)) == shown


def test_points_rise_exactly_at_each_step() -> None:
    chart = dose_chart(schedule(7, "4.5"), 21)
    doses = [p.dose for p in chart.points]
    assert doses[:7] == ["1.5 mg"] * 7
    assert doses[7:14] == ["3 mg"] * 7
    assert doses[14:] == ["4.5 mg"] * 7
    heights = sorted({p.y for p in chart.points}, reverse=True)
    assert len(heights) == 3  # higher doses are drawn higher (smaller y)
    assert chart.points[0].y == heights[0]
    assert chart.points[-1].y == heights[-1]


def test_the_line_holds_each_dose_until_the_next_day_then_rises_vertically() -> None:
    chart = dose_chart(schedule(7, "3"), 14)
    coords = [tuple(map(float, pair.split(","))) for pair in chart.line.split()]
    # 14 daily points plus one corner where the dose changes.
    assert len(coords) == 15
    corner, rise = coords[7], coords[8]
    assert corner[0] == rise[0]
    assert corner[1] == chart.points[6].y
    assert rise[1] == chart.points[7].y


def test_the_y_axis_runs_from_zero_to_the_highest_allowed_target() -> None:
    chart = dose_chart(schedule(7, "1.5"), 10)
    assert [t.label for t in chart.y_ticks] == ["0 mg", "1.5 mg", "3 mg", "4.5 mg"]
    assert chart.y_ticks[0].position == HEIGHT - BOTTOM
    assert chart.y_ticks[-1].position == TOP


def test_the_x_axis_labels_each_week() -> None:
    chart = dose_chart(schedule(14, "4.5"), 35)
    assert [t.label for t in chart.x_ticks] == ["Day 1", "Day 8", "Day 15", "Day 22", "Day 29"]
    assert chart.x_ticks[0].position == LEFT


def test_the_description_says_the_steps_in_words() -> None:
    chart = dose_chart(schedule(14, "3"), 21)
    assert chart.description == (
        "The nightly dose rises every 14 days: 1.5 mg from 2026-03-16, 3 mg from 2026-03-30. "
        "The chart shows one point per day for 21 days."
    )
    assert chart.title == "Nightly LDN dose, first 21 days"


def test_a_single_day_still_draws() -> None:
    chart = dose_chart(schedule(7, "1.5"), 1)
    assert len(chart.points) == 1
    assert chart.line == f"{chart.points[0].x},{chart.points[0].y}"
