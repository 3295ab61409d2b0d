"""Fill the patient handout's plain-language points with the numbers of one titration schedule.

The words are data (``clinical/data/handout.json``): each point rests on an article section of
``evidence.json`` (sections "Dosing and Titration", "Side Effects", "The Critical Safety Issue:
Opioids", "What to Avoid When Taking LDN", "Compounding and Access", "Stopping LDN"). Doses, the
step and the interval are never written in the words: a point names them as ``{placeholders}``
that are filled from the patient's schedule, so the handout cannot disagree with its dose table.
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
from clinical.titration import TitrationSchedule, format_mg

DATA_FILE = "handout.json"
PLACEHOLDERS = frozenset({"timing", "start_dose", "step", "interval", "target"})


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

    def for_schedule(self, schedule: TitrationSchedule) -> Handout:
        """Return the handout for ``schedule``: its numbers in, step-up points only if it rises."""
        values = {
            "timing": schedule.timing_display,
            "start_dose": format_mg(schedule.steps[0].dose_mg),
            "step": format_mg(schedule.protocol.step_mg),
            "interval": _interval_words(schedule.interval_days),
            "target": format_mg(schedule.target_mg),
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
