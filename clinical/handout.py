"""Fill the patient handout's plain-language points with the numbers of one titration schedule.

The words are data (``clinical/data/handout.json``): each point rests on an article section of
``evidence.json`` (sections "Overview", "Dosing and Titration", "Side Effects", "The Critical
Safety Issue: Opioids", "What to Avoid When Taking LDN", "Compounding and Access", "Stopping
LDN", "Evidence Gaps", "How to Talk to Your Doctor About LDN"). Doses, the step, the interval and
the washouts are never written in the words: a point names them as ``{placeholders}`` filled
from the patient's schedule and the washout data (``washouts.json``, with a site's methadone
setting), so the handout cannot disagree with its dose table or with the opioid review.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from string import Formatter
from typing import Any

from clinical.evidence import ArticleSection, EvidenceKnowledge
from clinical.opioids import DurationClass, Washout
from clinical.titration import TitrationSchedule, format_mg

DATA_FILE = "handout.json"
PLACEHOLDERS = frozenset(
    {
        "timing",
        "start_dose",
        "step",
        "interval",
        "target",
        "short_acting_wait",
        "long_acting_wait",
        "methadone_wait",
    }
)


@dataclass(frozen=True, slots=True)
class HandoutPoint:
    """One point for the patient, the article section it rests on, and when it applies.

    ``only_when_rising`` marks points about going up a dose: a plan that starts at its target
    has no step up, so they are left out.
    """

    text: str
    source: ArticleSection
    only_when_rising: bool = False


@dataclass(frozen=True, slots=True)
class HandoutSection:
    """A headed group of points; ``key_point`` asks for emphasis, ``shows_schedule`` the table."""

    key: str
    title: str
    points: tuple[HandoutPoint, ...]
    key_point: bool
    shows_schedule: bool


@dataclass(frozen=True, slots=True)
class Handout:
    """The handout for one schedule: every placeholder filled, points that do not apply left out."""

    title: str
    sections: tuple[HandoutSection, ...]


@dataclass(frozen=True, slots=True)
class HandoutKnowledge:
    """The handout's reviewed words, with placeholders for the schedule's numbers."""

    title: str
    version: str
    sections: tuple[HandoutSection, ...]

    @classmethod
    def load(cls) -> HandoutKnowledge:
        """Return the packaged handout (read once from ``clinical/data/handout.json``, cached)."""
        return _load_packaged_handout()

    @classmethod
    def from_json(
        cls, data: Mapping[str, Any], article_sections: Iterable[ArticleSection]
    ) -> HandoutKnowledge:
        """Build the handout from the JSON shape of ``handout.json``; unknown references fail."""
        known = {section.id: section for section in article_sections}
        sections = tuple(_section(entry, known) for entry in data["sections"])
        keys = [section.key for section in sections]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{DATA_FILE}: section keys must be unique")
        return cls(title=data["title"], version=data["version"], sections=sections)

    def for_schedule(
        self, schedule: TitrationSchedule, washouts: Mapping[DurationClass, Washout]
    ) -> Handout:
        """Return the handout for ``schedule``: its numbers in, step-up points only if it rises.

        ``washouts`` are the ones the opioid review applies (``OpioidKnowledge.washouts``).
        """
        values = {
            "timing": schedule.timing_display,
            "start_dose": format_mg(schedule.steps[0].dose_mg),
            "step": format_mg(schedule.protocol.step_mg),
            "interval": _interval_words(schedule.interval_days),
            "target": format_mg(schedule.target_mg),
            "short_acting_wait": wait_words(washouts[DurationClass.SHORT_ACTING]),
            "long_acting_wait": wait_words(washouts[DurationClass.LONG_ACTING]),
            "methadone_wait": wait_words(washouts[DurationClass.METHADONE]),
        }
        rises = len(schedule.steps) > 1
        sections = tuple(
            replace(
                section,
                points=tuple(
                    replace(point, text=point.text.format_map(values))
                    for point in section.points
                    if rises or not point.only_when_rising
                ),
            )
            for section in self.sections
        )
        return Handout(self.title, sections)


def wait_words(washout: Washout) -> str:
    """Say a washout in plain words for the patient: "7 to 10 days", "10 to 14 days or more".

    Without a number (methadone, as the article gives none) it says who sets the wait instead;
    a number agreed locally is said as a minimum, still with the specialist.
    """
    if washout.max_days is None:
        return "longer still; we will plan how long with a specialist"
    if washout.min_days is not None and washout.min_days != washout.max_days:
        words = f"{washout.min_days} to {washout.max_days} days"
    else:
        words = f"{washout.max_days} days"
    if washout.or_more:
        words += " or more"
    if washout.specialist_guidance:
        words = f"at least {washout.max_days} days, planned with a specialist"
    return words


def _interval_words(days: int) -> str:
    # The days as the clinician chose them (the dose table steps by them), and the weeks beside
    # them for patients who count in weeks: "14 days (2 weeks)".
    if days % 7:
        return f"{days} days"
    weeks = days // 7
    return f"{days} days ({weeks} week{'s' if weeks > 1 else ''})"


def _section(entry: Mapping[str, Any], known: Mapping[str, ArticleSection]) -> HandoutSection:
    return HandoutSection(
        key=entry["key"],
        title=entry["title"],
        points=tuple(_point(point, known) for point in entry["points"]),
        key_point=bool(entry["keyPoint"]),
        shows_schedule=bool(entry["showsSchedule"]),
    )


def _point(entry: Mapping[str, Any], known: Mapping[str, ArticleSection]) -> HandoutPoint:
    text = entry["text"]
    if entry["source"] not in known:
        raise ValueError(f"{DATA_FILE}: unknown article section {entry['source']!r}")
    # Only bare names: "{step.__class__}" or "{target:>9}" would let the data reach into objects.
    for _, name, spec, conversion in Formatter().parse(text):
        if name is not None and (name not in PLACEHOLDERS or spec or conversion):
            raise ValueError(f"{DATA_FILE}: unknown placeholder {{{name}}} in {text!r}")
    return HandoutPoint(text, known[entry["source"]], bool(entry.get("onlyWhenRising", False)))


@cache
def _load_packaged_handout() -> HandoutKnowledge:
    text = resources.files("clinical.data").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return HandoutKnowledge.from_json(json.loads(text), EvidenceKnowledge.load().article_sections)
