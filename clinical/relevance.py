"""Which medication records the naltrexone decision reads in full.

A record bears on the decision when its medication is, or may be, an opioid (a match, words
that leave doubt, or no name at all to say what it is) or an antagonist (naltrexone already
taken is a caution). Of every other record the decision reads only what was read and when
(status and dates, for the sources' coverage): its doses, dosage text and supply can change
nothing, so the mapping may leave them unread.
"""

from __future__ import annotations

from clinical.naltrexone import names_antagonist
from clinical.opioids import OpioidKnowledge, recognise_medication
from clinical.records import Medication


def bears_on_decision(medication: Medication, knowledge: OpioidKnowledge) -> bool:
    """Tell whether a record of ``medication`` needs its doses, dosage and supply read (once
    per medication under a knowledge ``for_one_call``)."""
    remembered = knowledge.remembered
    if remembered is None:
        return _bears(medication, knowledge)
    key = ("relevant", id(medication))
    if key not in remembered:
        remembered[key] = medication, _bears(medication, knowledge)
    return remembered[key][1] is True


def _bears(medication: Medication, knowledge: OpioidKnowledge) -> bool:
    recognition = recognise_medication(medication, knowledge)
    if recognition.match is not None or recognition.doubts:
        return True
    if not any(True for concept in medication.concepts() for _ in concept.words()):
        return True  # named by codes alone: whether it can be cleared is the rules' call
    return names_antagonist(medication, knowledge)
