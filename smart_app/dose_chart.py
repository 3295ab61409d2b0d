"""The dose-over-time chart as geometry for a server-rendered SVG (no script, no external assets).

One point per day of the schedule, joined by a step line (the dose changes overnight, so the
line rises vertically at each step). The template draws it with a title, a description and a
table alternative; this module only computes coordinates and words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from clinical.titration import ScheduledDose, TitrationSchedule, format_mg

# A small canvas, so that the labels stay legible when a 400 px iframe scales it down.
WIDTH = 420
HEIGHT = 240
# Room for the axis labels around the plot area.
LEFT, RIGHT, TOP, BOTTOM = 58, 14, 14, 34
# A labelled tick every week keeps the axis readable at 5 to 12 weeks.
X_TICK_EVERY_DAYS = 7


@dataclass(frozen=True, slots=True)
class ChartPoint:
    """One day's dose and where it is drawn."""

    x: float
    y: float
    day: date
    day_number: int
    dose: str


@dataclass(frozen=True, slots=True)
class Tick:
    """An axis tick: its position along the axis and its label."""

    position: float
    label: str


@dataclass(frozen=True, slots=True)
class DoseChart:
    """Everything the SVG template draws."""

    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    points: tuple[ChartPoint, ...]
    line: str
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    title: str
    description: str


def dose_chart(schedule: TitrationSchedule, days: int) -> DoseChart:
    """Lay out the first ``days`` days of ``schedule`` (at least one) as a step chart."""
    doses = list(schedule.days(max(days, 1)))
    protocol = schedule.protocol
    top_dose = max(protocol.allowed_targets_mg)
    right, bottom = WIDTH - RIGHT, HEIGHT - BOTTOM
    x_step = (right - LEFT) / max(len(doses) - 1, 1)

    def y_of(dose: Decimal) -> float:
        return round(bottom - float(dose / top_dose) * (bottom - TOP), 2)

    points = tuple(
        ChartPoint(round(LEFT + i * x_step, 2), y_of(d.dose_mg), d.day, i + 1, format_mg(d.dose_mg))
        for i, d in enumerate(doses)
    )
    y_values = [Decimal(0)]
    while y_values[-1] + protocol.step_mg <= top_dose:
        y_values.append(y_values[-1] + protocol.step_mg)
    return DoseChart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=right,
        top=TOP,
        bottom=bottom,
        points=points,
        line=_step_line(points),
        y_ticks=tuple(Tick(y_of(v), format_mg(v)) for v in y_values),
        x_ticks=tuple(
            Tick(p.x, f"Day {p.day_number}")
            for p in points
            if (p.day_number - 1) % X_TICK_EVERY_DAYS == 0
        ),
        title=f"Nightly LDN dose, first {len(points)} days",
        description=describe(schedule, doses),
    )


def describe(schedule: TitrationSchedule, doses: list[ScheduledDose]) -> str:
    """Say in one sentence what the chart shows (its SVG description)."""
    steps = ", ".join(
        f"{format_mg(step.dose_mg)} from {step.first_day.isoformat()}" for step in schedule.steps
    )
    return (
        f"The nightly dose rises every {schedule.interval_days} days: {steps}. "
        f"The chart shows one point per day for {len(doses)} days."
    )


def _step_line(points: tuple[ChartPoint, ...]) -> str:
    """Return SVG polyline points that hold each dose until the next day's point."""
    coords: list[str] = []
    for previous, point in zip((None, *points), points, strict=False):
        if previous is not None and previous.y != point.y:
            coords.append(f"{point.x},{previous.y}")
        coords.append(f"{point.x},{point.y}")
    return " ".join(coords)
