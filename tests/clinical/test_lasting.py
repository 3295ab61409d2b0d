"""Answers about medications kept across calls stay bounded and never change an answer."""

from __future__ import annotations

from collections.abc import Callable

from clinical.opioids import Lasting, OpioidKnowledge, recognise_medication
from clinical.records import Concept, Medication


def _counting() -> tuple[list[str], Callable[[Medication, OpioidKnowledge], str]]:
    asked: list[str] = []

    def work(medication: Medication, knowledge: OpioidKnowledge) -> str:
        asked.append(medication.concept.text or "")
        return f"answer for {medication.concept.text}"

    return asked, work


def test_a_small_medication_is_answered_once_and_the_oldest_leaves_first() -> None:
    lasting = Lasting(size=2)
    asked, work = _counting()
    knowledge = OpioidKnowledge.load()
    names = ["Lisinopril 10 mg", "Metformin 500 mg", "Lisinopril 10 mg", "Sertraline 50 mg"]
    for name in names:
        medication = Medication(Concept(text=name))
        assert lasting.answer(("t", medication), work, knowledge) == f"answer for {name}"
    assert asked == ["Lisinopril 10 mg", "Metformin 500 mg", "Sertraline 50 mg"]
    # Kept at most two: Metformin (least recently used) left when Sertraline came.
    lasting.answer(("t", Medication(Concept(text="Metformin 500 mg"))), work, knowledge)
    assert asked[-1] == "Metformin 500 mg"


def test_a_large_medication_is_answered_every_time_and_never_kept() -> None:
    lasting = Lasting()
    asked, work = _counting()
    knowledge = OpioidKnowledge.load()
    huge = Medication(Concept(text="oxycodone " + "x" * 10_000))
    for _ in range(3):
        lasting.answer(("t", huge), work, knowledge)
    assert len(asked) == 3


def test_kept_answers_are_the_answers() -> None:
    knowledge = OpioidKnowledge.load()
    for text in ("Percocet 5/325", "Lisinopril 10 mg", "oxy 5mg maybe"):
        fresh = recognise_medication(Medication(Concept(text=text)), OpioidKnowledge.load())
        for _ in range(2):
            call = knowledge.for_one_call()
            assert recognise_medication(Medication(Concept(text=text)), call) == fresh
