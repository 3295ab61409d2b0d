"""Turn the article's LDN titration protocol into a dated, day-by-day dosing schedule.

Implements the article section "Dosing and Titration": start at 1.5 mg once nightly at bedtime,
raise by one 1.5 mg step every 1-2 weeks as tolerated, aim for 4.5 mg, and allow a lower target
because some patients do best at 1.5-3 mg. The protocol itself is data (``clinical/data/
titration.json``); this module only reads it and does date arithmetic. Doses are ``Decimal`` so
that 1.5 + 1.5 is exactly 3.0.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any

DATA_FILE = "titration.json"


class InvalidTitration(ValueError):
    """A titration choice the protocol does not allow; the message is written for the clinician."""


def format_mg(amount: Decimal) -> str:
    """Render a dose for people: ``Decimal("3.0")`` becomes ``"3 mg"``, 1.5 becomes ``"1.5 mg"``."""
    return f"{amount.normalize():f} mg"


def _join_choices(choices: list[str]) -> str:
    """Join ``["a", "b", "c"]`` as ``"a, b or c"`` for messages."""
    return choices[0] if len(choices) == 1 else f"{', '.join(choices[:-1])} or {choices[-1]}"


@dataclass(frozen=True, slots=True)
class TitrationProtocol:
    """The article's titration protocol, as reviewed data."""

    id: str
    version: str
    title: str
    start_dose_mg: Decimal
    step_mg: Decimal
    default_target_mg: Decimal
    allowed_targets_mg: tuple[Decimal, ...]
    default_interval_days: int
    allowed_intervals_days: tuple[int, ...]
    event_timing: str
    doses_per_day: int
    timing_display: str
    source_section: str
    notes: tuple[str, ...]

    @classmethod
    def load(cls) -> TitrationProtocol:
        """Return the packaged protocol (read once from ``clinical/data/titration.json``, cached).

        This is the only file access in the titration module.
        """
        return _load_packaged_protocol()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TitrationProtocol:
        """Build and check a protocol from the JSON shape of ``titration.json``."""
        timing = data["timing"]
        protocol = cls(
            id=str(data["id"]),
            version=str(data["version"]),
            title=str(data["title"]),
            start_dose_mg=Decimal(data["startDoseMg"]),
            step_mg=Decimal(data["stepMg"]),
            default_target_mg=Decimal(data["defaultTargetMg"]),
            allowed_targets_mg=tuple(Decimal(value) for value in data["allowedTargetsMg"]),
            default_interval_days=int(data["defaultIntervalDays"]),
            allowed_intervals_days=tuple(int(value) for value in data["allowedIntervalsDays"]),
            event_timing=str(timing["eventTiming"]),
            doses_per_day=int(timing["dosesPerDay"]),
            timing_display=str(timing["display"]),
            source_section=str(data["provenance"]["section"]),
            notes=tuple(str(note) for note in data.get("notes", ())),
        )
        protocol._check()
        return protocol

    def _check(self) -> None:
        # A target that is not a whole number of steps above the start dose would make the
        # schedule overshoot or stall, so the data is refused rather than silently rounded.
        if self.start_dose_mg <= 0 or self.step_mg <= 0:
            raise ValueError(f"{DATA_FILE}: start dose and step must be positive")
        for target in self.allowed_targets_mg:
            steps = (target - self.start_dose_mg) / self.step_mg
            if steps < 0 or steps != steps.to_integral_value():
                raise ValueError(f"{DATA_FILE}: target {target} mg is not start + whole steps")
        if list(self.allowed_targets_mg) != sorted(set(self.allowed_targets_mg)):
            raise ValueError(f"{DATA_FILE}: allowed targets must increase")
        if any(days < 1 for days in self.allowed_intervals_days):
            raise ValueError(f"{DATA_FILE}: step intervals must be at least one day")
        if self.default_target_mg not in self.allowed_targets_mg:
            raise ValueError(f"{DATA_FILE}: default target is not an allowed target")
        if self.default_interval_days not in self.allowed_intervals_days:
            raise ValueError(f"{DATA_FILE}: default interval is not an allowed interval")

    def target_choices(self) -> str:
        """Describe the allowed targets for messages, e.g. ``"1.5, 3 or 4.5 mg"``."""
        labels = [f"{target.normalize():f}" for target in self.allowed_targets_mg]
        return f"{_join_choices(labels)} mg"

    def interval_choices(self) -> str:
        """Describe the allowed step intervals for messages, e.g. ``"7 or 14 days"``."""
        return f"{_join_choices([str(days) for days in self.allowed_intervals_days])} days"


@cache
def _load_packaged_protocol() -> TitrationProtocol:
    text = resources.files("clinical.data").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return TitrationProtocol.from_json(json.loads(text))


@dataclass(frozen=True, slots=True)
class TitrationStep:
    """One dose held over a run of days; the maintenance step has no last day."""

    dose_mg: Decimal
    first_day: date
    last_day: date | None

    @property
    def is_maintenance(self) -> bool:
        """Whether this is the open-ended step at the target dose."""
        return self.last_day is None

    def covers(self, day: date) -> bool:
        """Whether the dose of this step is the one taken on ``day``."""
        return self.first_day <= day and (self.last_day is None or day <= self.last_day)


@dataclass(frozen=True, slots=True)
class ScheduledDose:
    """The dose for one calendar day, for tables and charts."""

    day: date
    dose_mg: Decimal
    step_number: int
    is_maintenance: bool


@dataclass(frozen=True, slots=True)
class TitrationSchedule:
    """A dated LDN titration: rising steps, then an open-ended maintenance dose."""

    start: date
    interval_days: int
    target_mg: Decimal
    steps: tuple[TitrationStep, ...]
    protocol: TitrationProtocol

    @property
    def maintenance_start(self) -> date:
        """The first day at the target dose."""
        return self.steps[-1].first_day

    @property
    def timing_display(self) -> str:
        """When each dose is taken, in words (``"once nightly at bedtime"``)."""
        return self.protocol.timing_display

    def dose_on(self, day: date) -> Decimal | None:
        """Return the nightly dose on ``day``, or ``None`` before the schedule starts."""
        for step in self.steps:
            if step.covers(day):
                return step.dose_mg
        return None

    def days(self, count: int) -> Iterator[ScheduledDose]:
        """Yield the dose for each of the first ``count`` days, starting on the start date."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InvalidTitration(f"The number of days to show must be 0 or more, not {count!r}.")
        for offset in range(count):
            day = self.start + timedelta(days=offset)
            number, step = next((n, s) for n, s in enumerate(self.steps, 1) if s.covers(day))
            yield ScheduledDose(day, step.dose_mg, number, step.is_maintenance)


def build_schedule(
    start: date,
    *,
    interval_days: int,
    target_mg: Decimal | float | str,
    protocol: TitrationProtocol,
) -> TitrationSchedule:
    """Lay out the protocol from ``start``: one step up every ``interval_days`` until the target.

    Raises ``InvalidTitration`` when the start is not a calendar date or the interval or target is
    not one the protocol allows.
    """
    # datetime is a subclass of date; a time of day would make day comparisons silently wrong.
    if isinstance(start, datetime) or not isinstance(start, date):
        raise InvalidTitration(f"The start must be a calendar date, not {start!r}.")
    interval = _checked_interval(interval_days, protocol)
    target = _checked_target(target_mg, protocol)
    step_count = int((target - protocol.start_dose_mg) / protocol.step_mg) + 1
    steps = []
    for index in range(step_count):
        first = start + timedelta(days=index * interval)
        is_last = index == step_count - 1
        last = None if is_last else first + timedelta(days=interval - 1)
        steps.append(TitrationStep(protocol.start_dose_mg + index * protocol.step_mg, first, last))
    return TitrationSchedule(start, interval, target, tuple(steps), protocol)


def _checked_interval(interval_days: int, protocol: TitrationProtocol) -> int:
    if (
        isinstance(interval_days, bool)
        or not isinstance(interval_days, int)
        or interval_days not in protocol.allowed_intervals_days
    ):
        raise InvalidTitration(
            f"A step interval of {interval_days} days is not part of the protocol: raise the "
            f"dose every {protocol.interval_choices()}."
        )
    return interval_days


def _checked_target(target_mg: Decimal | float | str, protocol: TitrationProtocol) -> Decimal:
    # str(float) keeps what the user typed (1.5 -> "1.5"), where Decimal(1.1) would not.
    if isinstance(target_mg, bool):
        target = None
    else:
        try:
            target = Decimal(str(target_mg).strip())
        except InvalidOperation:
            target = None
    if target is None or not target.is_finite() or target not in protocol.allowed_targets_mg:
        raise InvalidTitration(
            f"A target dose of {target_mg} mg is not part of the protocol: choose "
            f"{protocol.target_choices()}."
        )
    # Hand back the protocol's own value so "3.00" and 3 both become the reviewed Decimal("3").
    return next(allowed for allowed in protocol.allowed_targets_mg if allowed == target)
