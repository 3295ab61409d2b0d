"""The patient handout: article-backed points, with the plan's own numbers filled in."""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from importlib import resources
from typing import Any

import pytest

from clinical.evidence import EvidenceKnowledge
from clinical.handout import Handout, HandoutKnowledge
from clinical.knowledge import load_knowledge
from clinical.titration import TitrationProtocol, build_schedule

HANDOUT = HandoutKnowledge.load()
PROTOCOL = TitrationProtocol.load()
DATA = resources.files("clinical.data")
START = date(2026, 4, 1)
SECTION_KEYS = [
    "how_to_take",
    "no_opioids",
    "what_you_might_notice",
    "what_to_expect",
    "good_to_know",
]
WASHOUTS = load_knowledge().opioids.washouts


def _raw(name: str = "handout.json") -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA.joinpath(name).read_text("utf-8"))
    return data


def _text(handout: Handout, key: str) -> str:
    return " ".join(p.text for s in handout.sections if s.key == key for p in s.points)


def _protocol(**changes: object) -> TitrationProtocol:
    data = _raw("titration.json")
    data.update(changes)
    return TitrationProtocol.from_json(data)


def _handout(
    interval: int = 7, target: str = "4.5", protocol: TitrationProtocol = PROTOCOL
) -> Handout:
    schedule = build_schedule(START, interval_days=interval, target_mg=target, protocol=protocol)
    return HANDOUT.for_schedule(schedule, WASHOUTS)


def test_the_handout_has_its_four_sections_each_with_points() -> None:
    assert [s.key for s in HANDOUT.sections] == SECTION_KEYS
    assert all(s.title and s.points for s in HANDOUT.sections)
    assert [s.key for s in HANDOUT.sections if s.key_point] == ["no_opioids"]
    assert [s.key for s in HANDOUT.sections if s.shows_schedule] == ["how_to_take"]
    assert load_knowledge().handout is HANDOUT


def test_every_point_cites_a_section_of_the_article() -> None:
    known = {entry["id"] for entry in _raw("evidence.json")["articleSections"]}
    cited = [point["source"] for s in _raw()["sections"] for point in s["points"]]
    assert cited
    assert set(cited) <= known
    assert all(p.source.heading for s in HANDOUT.sections for p in s.points)


def test_the_words_carry_no_numbers_of_their_own() -> None:
    # Doses and intervals come from the schedule, so the handout cannot contradict its table.
    texts = [p["text"] for s in _raw()["sections"] for p in s["points"]]
    texts += [s["title"] for s in _raw()["sections"]]
    assert [text for text in texts if re.search(r"\d", text)] == []


def test_the_plans_numbers_are_filled_in() -> None:
    handout = _handout(interval=14, target="3")
    how = _text(handout, "how_to_take")
    assert "once nightly at bedtime" in how
    assert "Begin with 1.5 mg. Then go up one step of 1.5 mg every 14 days (2 weeks)" in how
    assert "until you reach 3 mg" in how
    assert not any("{" in p.text or "}" in p.text for s in handout.sections for p in s.points)
    assert "every 7 days (1 week)," in _text(_handout(interval=7), "how_to_take")


def test_the_numbers_follow_the_protocol_not_the_text() -> None:
    protocol = _protocol(
        startDoseMg="2",
        stepMg="2",
        defaultTargetMg="6",
        allowedTargetsMg=["2", "4", "6"],
        allowedIntervalsDays=[10, 14],
        defaultIntervalDays=10,
    )
    how = _text(_handout(interval=10, target="6", protocol=protocol), "how_to_take")
    assert "Begin with 2 mg. Then go up one step of 2 mg every 10 days, until you reach 6 mg" in how


def test_a_plan_that_starts_at_its_target_has_no_step_up_points() -> None:
    handout = _handout(target="1.5")
    how = _text(handout, "how_to_take")
    assert "once nightly at bedtime" in how
    assert "go up" not in how.lower()
    rising = sum(p.only_when_rising for s in HANDOUT.sections for p in s.points)
    assert rising > 0
    assert sum(len(s.points) for s in handout.sections) == (
        sum(len(s.points) for s in HANDOUT.sections) - rising
    )


@pytest.mark.parametrize(
    ("key", "needle"),
    [
        ("how_to_take", "stay on that dose instead of going up, and call us"),
        ("no_opioids", "withdrawal"),
        ("no_opioids", "codeine, which is also in some cough medicines"),
        ("no_opioids", "tramadol"),
        ("no_opioids", "buprenorphine"),
        ("no_opioids", "methadone"),
        ("no_opioids", "Before any operation"),
        ("no_opioids", "In an emergency"),
        ("what_you_might_notice", "vivid or strange dreams, trouble sleeping, or feeling tired"),
        ("what_you_might_notice", "headache"),
        ("good_to_know", "disulfiram"),
        ("good_to_know", "cravings for alcohol, drinking works against"),
        ("good_to_know", "compounding pharmacy"),
        ("good_to_know", "no need to lower the dose bit by bit"),
    ],
)
def test_key_facts_for_the_patient(key: str, needle: str) -> None:
    assert needle in _text(_handout(), key)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("sections", 0, "points", 0, "source"), "nowhere", "unknown article section"),
        (("sections", 0, "points", 0, "text"), "Take {dose}.", "unknown placeholder"),
        (("sections", 0, "points", 0, "text"), "{step.__class__}", "unknown placeholder"),
        (("sections", 0, "points", 0, "text"), "{target:>9}", "unknown placeholder"),
        (("sections", 1, "key"), "how_to_take", "keys must be unique"),
    ],
)
def test_malformed_handout_data_is_refused(
    path: tuple[str | int, ...], value: str, message: str
) -> None:
    data = copy.deepcopy(_raw())
    target: Any = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(ValueError, match=message):
        HandoutKnowledge.from_json(data, EvidenceKnowledge.load().article_sections)


# The article's facts the handout must carry, derived here in the project's words (the article
# itself is not read by tests): (article section, the fact, what the handout says for it).
REQUIRED_FACTS = [
    ("Overview", "no use of LDN is approved at this dose", "what_to_expect", "off-label"),
    ("Overview", "no use is approved", "what_to_expect", "not approved at this low dose"),
    ("How to Talk to Your Doctor", "set realistic expectations", "what_to_expect", "not a cure"),
    ("How to Talk to Your Doctor", "improvement is partial", "what_to_expect", "eased partly"),
    ("How to Talk to Your Doctor", "agree a trial period", "what_to_expect", "how long to try"),
    (
        "How to Talk to Your Doctor",
        "agree how to tell it works",
        "what_to_expect",
        "how we will both tell whether it helps",
    ),
    (
        "Side Effects; Evidence Gaps",
        "long-term safety unknown",
        "what_to_expect",
        "one or two years",
    ),
    ("The Critical Safety Issue", "short-acting: 7-10 days", "no_opioids", "7 to 10 days"),
    (
        "The Critical Safety Issue",
        "long-acting and buprenorphine: 10-14 days or more",
        "no_opioids",
        "14 days or more for long-acting opioids and for buprenorphine",
    ),
    (
        "The Critical Safety Issue",
        "methadone: longer, specialist guidance",
        "no_opioids",
        "for methadone longer still; we will plan how long with a specialist",
    ),
    ("What to Avoid", "LDN affects opioid pain options", "no_opioids", "treating pain with opioid"),
    ("What to Avoid", "disclose before surgery", "no_opioids", "Before any operation"),
    ("What to Avoid", "disclose in emergency care", "no_opioids", "In an emergency"),
    ("Stopping LDN", "no taper needed", "good_to_know", "no need to lower the dose bit by bit"),
]
# Claims the article does not make: the handout must never say them.
UNSUPPORTED = [
    "will not work",  # the article says LDN affects opioid pain options, not that they fail
    "FDA-approved",
    "safe long-term",
    "no side effects",
    "cures",
]


@pytest.mark.parametrize(
    ("section", "fact", "key", "needle"),
    REQUIRED_FACTS,
    ids=[fact for _, fact, _, _ in REQUIRED_FACTS],
)
def test_the_handout_carries_the_articles_facts(
    section: str, fact: str, key: str, needle: str
) -> None:
    assert needle in _text(_handout(), key), f"{fact} ({section})"


def test_the_handout_says_nothing_the_article_does_not() -> None:
    every = " ".join(_text(_handout(), key) for key in SECTION_KEYS).lower()
    assert [claim for claim in UNSUPPORTED if claim.lower() in every] == []


def test_a_locally_agreed_methadone_washout_is_said_as_a_minimum_with_the_specialist() -> None:
    washouts = load_knowledge(21).opioids.washouts
    schedule = build_schedule(START, interval_days=7, target_mg="4.5", protocol=PROTOCOL)
    text = _text(HANDOUT.for_schedule(schedule, washouts), "no_opioids")
    assert "for methadone at least 21 days, planned with a specialist" in text
