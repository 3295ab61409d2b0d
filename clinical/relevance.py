"""Which medication records the naltrexone decision reads in full.

A record bears on the decision when its medication is, or may be, an opioid (a match, words
that leave doubt, or no name at all to say what it is) or an antagonist (naltrexone already
taken is a caution). Of every other record the decision reads only its source, status and
dates (the sources' coverage): its medication, doses, dosage text and supply can change
nothing, so the mapping only glances at it (``clinical.records.RecordGlance``).
"""

from __future__ import annotations

from clinical.naltrexone import names_antagonist
from clinical.opioids import OpioidKnowledge, recognise_medication
from clinical.records import Medication


def bears_on_decision(medication: Medication, knowledge: OpioidKnowledge) -> bool:
    """Tell whether a record of ``medication`` is read whole for the decision, not only glanced
    at (once per medication under a knowledge ``for_one_call``, and across calls for small
    ones)."""
    remembered = knowledge.remembered
    if remembered is None:
        return _bears(medication, knowledge)
    key = ("relevant", id(medication))
    found = remembered.get(key)
    if found is None:
        # Kept across calls too (``Lasting``): a chart's products recur from call to call.
        found = remembered[key] = (
            medication,
            knowledge.lasting.answer(("relevant", medication), _bears, knowledge),
        )
    return found[1] is True


def _bears(medication: Medication, knowledge: OpioidKnowledge) -> bool:
    recognition = recognise_medication(medication, knowledge)
    if recognition.match is not None or recognition.doubts:
        return True
    if not any(True for concept in medication.concepts() for _ in concept.words()):
        return True  # named by codes alone: whether it can be cleared is the rules' call
    return names_antagonist(medication, knowledge)
