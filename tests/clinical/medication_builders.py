"""Small builders for medication records, and the terminology snapshot as ground truth.

The ground truth is read from the repository's ``terminology/`` folder (the public code lists the
data files are built from), never from the project's own data files, so that a wrong data file
cannot agree with itself.
"""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from clinical.records import (
    RXNORM,
    Coding,
    Concept,
    Medication,
    MedicationRecord,
    Quantity,
    Source,
)

TERMINOLOGY = Path(__file__).parents[2] / "terminology"
CDC = TERMINOLOGY / "opioids" / "cdc"
OMTK = "cdc-omtk-drug-ingredients-2020.json"


def coded(code: str, display: str | None = None, system: str = RXNORM) -> Medication:
    """Return a medication coded with one coding."""
    return Medication(Concept((Coding(system, code, display),)))


def named(text: str) -> Medication:
    """Return a medication known only by its text."""
    return Medication(Concept(text=text))


def record(
    medication: Medication,
    status: str | None = "active",
    *,
    source: Source = Source.STATEMENT,
    id: str = "1",
    started: date | None = None,
    ended: date | None = None,
    asserted: date | None = None,
    supply_days: int | None = None,
    doses: tuple[Quantity, ...] = (),
    dosage_text: tuple[str, ...] = (),
    problems: tuple[str, ...] = (),
    medication_problems: tuple[str, ...] = (),
) -> MedicationRecord:
    """Return a medication record with only the fields a test cares about."""
    return MedicationRecord(
        source=source,
        id=id,
        status=status,
        medication=medication,
        doses=doses,
        dosage_text=dosage_text,
        started=started,
        ended=ended,
        asserted=asserted,
        supply_days=supply_days,
        problems=(*problems, *medication_problems),
        medication_problems=medication_problems,
    )


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def cdc_value_sets() -> dict[str, tuple[tuple[str, str], ...]]:
    """Return each CDC opioid value set as (code, display) pairs, keyed by set id."""
    sets = {}
    for path in sorted(CDC.glob("cdc-*.json")):
        if path.name != OMTK:
            data = _read(path)
            sets[data["id"]] = tuple((c["code"], c["display"]) for c in data["contains"])
    return sets


@cache
def omtk_ingredients() -> dict[str, frozenset[tuple[str, str]]]:
    """Return the OMTK table: product code -> (ingredient RxCUI, ingredient name) pairs."""
    table: dict[str, set[tuple[str, str]]] = {}
    for row in _read(CDC / OMTK)["rows"]:
        table.setdefault(row["drugCode"], set()).add((row["ingredientCode"], row["ingredientName"]))
    return {code: frozenset(pairs) for code, pairs in table.items()}


@cache
def omtk_names() -> dict[str, str]:
    """Return the OMTK table's RxNorm name of each product code."""
    return {row["drugCode"]: row["drugName"] for row in _read(CDC / OMTK)["rows"]}


@cache
def naloxone_only() -> frozenset[str]:
    """Return the CDC naloxone-set codes found in no opioid list: naloxone alone."""
    sets = cdc_value_sets()
    opioid_codes = set(omtk_ingredients())
    for name, concepts in sets.items():
        if name != "naloxone-medications":
            opioid_codes.update(code for code, _ in concepts)
    return frozenset(code for code, _ in sets["naloxone-medications"] if code not in opioid_codes)


def shared(relative: str) -> Any:
    """Read one file of the terminology snapshot (``relative`` to ``terminology/``)."""
    path = TERMINOLOGY / relative
    if not path.is_file():
        raise FileNotFoundError(
            f"{relative} is not in terminology/: copy it there from its source with its "
            "provenance and list it in terminology/README.md"
        )
    return _read(path)
