"""All the clinical knowledge, loaded once, with the site's own settings applied.

Both faces (the CDS card and the SMART app) take their knowledge from :func:`load_knowledge` so
that a site setting such as a methadone washout agreed with local specialists changes what both
of them say, never one alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from clinical.cautions import CautionKnowledge
from clinical.conditions import ConditionKnowledge
from clinical.evidence import EvidenceKnowledge
from clinical.handout import HandoutKnowledge
from clinical.opioids import DurationClass, OpioidKnowledge
from clinical.titration import TitrationProtocol
from clinical.windows import HORIZON_SETTING, METHADONE_SETTING, OpenWindows


@dataclass(frozen=True, slots=True)
class Knowledge:
    """The packaged clinical knowledge the rules read."""

    opioids: OpioidKnowledge
    windows: OpenWindows
    conditions: ConditionKnowledge
    evidence: EvidenceKnowledge
    titration: TitrationProtocol
    handout: HandoutKnowledge
    cautions: CautionKnowledge


@cache
def load_knowledge(
    methadone_washout_days: int | None = None, horizon_days: int | None = None
) -> Knowledge:
    """Return the packaged knowledge with the site's settings; raise ValueError on a bad one.

    The article gives no number for methadone, so by default none is shown. A site that has
    agreed one with its specialists sets it (``LDN_METHADONE_WASHOUT_DAYS``): a whole number of
    days, never shorter than the long-acting washout. ``LDN_SPECIALIST_GUIDANCE_HORIZON_DAYS``
    sets how long an open window stays a specialist-guidance warning (``clinical/windows.py``).
    """
    opioids = OpioidKnowledge.load()
    windows = OpenWindows.load(opioids)
    if methadone_washout_days is not None:
        days = windows.check_methadone_washout(methadone_washout_days)
        opioids = opioids.with_washout(DurationClass.METHADONE, days)
    if horizon_days is not None:
        windows = windows.with_horizon(horizon_days)
    return Knowledge(
        opioids,
        windows,
        ConditionKnowledge.load(),
        EvidenceKnowledge.load(),
        TitrationProtocol.load(),
        HandoutKnowledge.load(),
        CautionKnowledge.load(),
    )


def site_knowledge(config: Mapping[str, Any]) -> Knowledge:
    """Return the knowledge with the site's windows read from ``config``; ValueError if bad.

    The one place the site's windows are read and checked: ``METHADONE_WASHOUT_DAYS`` and
    ``SPECIALIST_GUIDANCE_HORIZON_DAYS`` (environment ``LDN_<NAME>``, JSON-parsed). Each face
    keeps the result in its settings, so the card, the app's review and the service's source
    page apply the same windows. A bad value raises ValueError naming its setting.
    """
    packaged = load_knowledge()
    windows = packaged.windows
    methadone = _site_days(config, METHADONE_SETTING, windows.check_methadone_washout)
    horizon = _site_days(config, HORIZON_SETTING, windows.check_horizon)
    return load_knowledge(methadone, horizon)


def _site_days(
    config: Mapping[str, Any], setting: str, check: Callable[[object], int]
) -> int | None:
    value = config.get(setting.removeprefix("LDN_"))
    return None if value is None else check(value)
