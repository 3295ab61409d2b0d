"""Cautions beside the opioid decision: opioid use disorder, naltrexone already taken, and the
question every answer asks about opioid use the record may not show.

The texts are data (``clinical/data/cautions.json``), each naming the article section it comes
from. Both faces (the CDS cards and the app's review) call :func:`find_cautions`, so they always
raise the same cautions for the same patient.

* **Opioid use disorder** on the chart (the condition group of ``conditions.json``, built from
  the shared OUD code lists) raises a caution: the article's opioid safety section applies with
  more force, and the naltrexone approved for it is the 50 mg dose, not LDN.
* **Naltrexone therapy** already taken (any antagonist product ``recognise_naltrexone`` knows:
  50 mg tablet, extended-release injection, naltrexone/bupropion, samidorphan combinations, or
  another LDN) raises a caution naming each. Taken means an active status or an end not yet
  passed; a monthly injection also counts for its month after it was given.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

from clinical.conditions import ConditionGroup, ConditionMatch
from clinical.exposure import still_taken, was_taken
from clinical.naltrexone import recognise_naltrexone
from clinical.opioids import OpioidKnowledge
from clinical.records import MedicationRecord
from clinical.text import TermIndex
from clinical.windows import OpenWindows

DATA_FILE = "cautions.json"


class CautionKind(StrEnum):
    """What a caution is about (keys of ``cautions.json``)."""

    OPIOID_USE_DISORDER = "opioid-use-disorder"
    NALTREXONE_THERAPY = "naltrexone-therapy"


@dataclass(frozen=True, slots=True)
class CautionPoint:
    """One sentence of a caution and the article section (or other source) behind it."""

    text: str
    source: str


@dataclass(frozen=True, slots=True)
class CautionText:
    """The words of one kind of caution."""

    summary: str
    points: tuple[CautionPoint, ...]


@dataclass(frozen=True, slots=True)
class Caution:
    """A caution raised for this patient, with what on the chart raised it."""

    kind: CautionKind
    text: CautionText
    found: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class CautionKnowledge:
    """The texts of ``cautions.json``."""

    unrecorded_use: CautionPoint
    texts: Mapping[CautionKind, CautionText]
    monthly_injection_words: TermIndex[str]

    @classmethod
    def load(cls) -> CautionKnowledge:
        """Return the packaged texts (read once)."""
        return _load_packaged()

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> CautionKnowledge:
        """Build the texts from the parsed ``cautions.json``."""
        texts = {
            CautionKind(key): CautionText(
                entry["summary"],
                tuple(CautionPoint(p["text"], p["source"]) for p in entry["points"]),
            )
            for key, entry in document["cautions"].items()
        }
        if set(texts) != set(CautionKind):
            raise ValueError(f"{DATA_FILE}: the cautions must be exactly {list(CautionKind)}")
        unrecorded = document["unrecordedUse"]
        words = document["monthlyInjectionWords"]["words"]
        return cls(
            unrecorded_use=CautionPoint(unrecorded["text"], unrecorded["source"]),
            texts=texts,
            monthly_injection_words=TermIndex.build({w: w for w in words}),
        )


@cache
def _load_packaged() -> CautionKnowledge:
    text = resources.files("clinical.data").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return CautionKnowledge.from_document(json.loads(text))


def find_cautions(
    records: Iterable[MedicationRecord],
    conditions: Iterable[ConditionMatch],
    knowledge: OpioidKnowledge,
    texts: CautionKnowledge,
    windows: OpenWindows,
    today: date,
) -> tuple[Caution, ...]:
    """Return the cautions this chart raises, opioid use disorder first."""
    cautions: list[Caution] = []
    oud = [_condition_found(m) for m in conditions if m.group is ConditionGroup.OPIOID_USE_DISORDER]
    if oud:
        kind = CautionKind.OPIOID_USE_DISORDER
        cautions.append(Caution(kind, texts.texts[kind], tuple(oud)))
    therapy = [
        f"{order.label} ({record.reference})"
        for record in records
        if (order := recognise_naltrexone(record, knowledge)) is not None
        and _taken(record, texts, windows, today)
    ]
    if therapy:
        kind = CautionKind.NALTREXONE_THERAPY
        cautions.append(Caution(kind, texts.texts[kind], tuple(therapy)))
    return tuple(cautions)


def _condition_found(match: ConditionMatch) -> str:
    label = next(match.condition.code.words(), None) or match.matched
    ident = match.condition.id
    return f"{label} (Condition/{ident})" if ident else label


def _taken(
    record: MedicationRecord, texts: CautionKnowledge, windows: OpenWindows, today: date
) -> bool:
    """Tell whether naltrexone on the chart is taken now; a monthly injection for its month."""
    if still_taken(record, today):
        return True
    given = record.ended or record.started
    if given is None or today >= given + timedelta(days=windows.depot_release_days):
        return False
    if not was_taken(record):
        return False
    names = (w for concept in record.medication.concepts() for w in concept.words())
    return any(next(texts.monthly_injection_words.find(name), None) for name in names)
