"""All the clinical knowledge, loaded once, with the site's own settings applied.

Both faces (the CDS card and the SMART app) take their knowledge from :func:`load_knowledge` so
that a site setting such as a methadone washout agreed with local specialists changes what both
of them say, never one alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from clinical.conditions import ConditionKnowledge
from clinical.evidence import EvidenceKnowledge
from clinical.handout import HandoutKnowledge
from clinical.opioids import DurationClass, OpioidKnowledge
from clinical.titration import TitrationProtocol


@dataclass(frozen=True, slots=True)
class Knowledge:
    """The packaged clinical knowledge the rules read."""

    opioids: OpioidKnowledge
    conditions: ConditionKnowledge
    evidence: EvidenceKnowledge
    titration: TitrationProtocol
    handout: HandoutKnowledge


@cache
def load_knowledge(methadone_washout_days: int | None = None) -> Knowledge:
    """Return the packaged knowledge; a methadone washout in days replaces "specialist guidance".

    The article gives no number for methadone, so by default none is shown. A site that has
    agreed one with its specialists sets it (``LDN_METHADONE_WASHOUT_DAYS``); it must be a
    whole number of days, at least one.
    """
    opioids = OpioidKnowledge.load()
    if methadone_washout_days is not None:
        if isinstance(methadone_washout_days, bool) or not isinstance(methadone_washout_days, int):
            raise ValueError(
                f"the methadone washout must be a whole number of days: {methadone_washout_days!r}"
            )
        opioids = opioids.with_washout(DurationClass.METHADONE, methadone_washout_days)
    return Knowledge(
        opioids,
        ConditionKnowledge.load(),
        EvidenceKnowledge.load(),
        TitrationProtocol.load(),
        HandoutKnowledge.load(),
    )
