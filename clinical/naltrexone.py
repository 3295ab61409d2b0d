"""Recognise a naltrexone (or other opioid-antagonist) order and its dose; LDN is 5 mg or less.

An order is naltrexone when a coding carries RxNorm ingredient 7243 or a known naltrexone product
code, when a Medication lists a naltrexone ingredient, or when its text names naltrexone ("LDN",
"low-dose naltrexone", Revia, Vivitrol). Naloxone, nalmefene and methylnaltrexone are never
naltrexone: names match as whole words only. Combinations with naltrexone (bupropion/naltrexone)
or samidorphan (olanzapine/samidorphan) are opioid antagonists too. Opioids with sequestered
naltrexone (Embeda, Troxyca) are opioids, not naltrexone orders.

LDN is a dose of at most 5 mg per administration (``ldnMaxMgPerDose`` in naltrexone.json), read
from, in order: the structured dose, the dosage text ("4.5mg", "LDN 3 mg"), the naltrexone
ingredient's strength, the product's name, and the coded product's known strength. LDN is often
a liquid ("naltrexone 1 mg/mL", "50 mg in 50 mL"): a volume ("4.5 mL") is converted by the
concentration the ingredient or the name gives; a concentration is never read as a dose, and a
volume whose concentration is not known leaves the dose unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from clinical.opioids import (
    AntagonistKnowledge,
    OpioidKnowledge,
    identify_opioid,
    label_of,
    rxnorm_codes,
    same_system,
)
from clinical.records import Concept, Medication, MedicationRecord, Quantity

# "4.5 mg", "4.5mg", "1,5 mg", "500 mcg": a number directly followed by a mass unit.
_MASS = re.compile(r"(\d+(?:[.,]\d+)?)\s*(mg|milligrams?|mcg|micrograms?|µg|ug)\b", re.IGNORECASE)
# "1 mg/mL", "1mg per ml", "5 mg/5 mL": a mass per volume, a concentration and not a dose.
_PER_VOLUME = re.compile(
    r"(\d+(?:[.,]\d+)?)\s*(mg|milligrams?|mcg|micrograms?|µg|ug)\s*(?:/|per|in)\s*"
    r"(\d+(?:[.,]\d+)?)?\s*(?:ml|millilit(?:er|re)s?)\b",
    re.IGNORECASE,
)
# "4.5 mL", "3ml": a volume taken.
_VOLUME = re.compile(r"(\d+(?:[.,]\d+)?)\s*(?:ml|millilit(?:er|re)s?)\b", re.IGNORECASE)
_VOLUME_UNITS = frozenset({"ml", "milliliter", "milliliters", "millilitre", "millilitres", "{ml}"})
_MG_PER = {"mg": 1.0, "milligram": 1.0, "milligrams": 1.0, "g": 1000.0, "gram": 1000.0}
_MG_PER.update(dict.fromkeys(("mcg", "ug", "µg", "microgram", "micrograms"), 0.001))
# Units that count doses of the product ("1 capsule"): multiplied by the strength per unit.
_COUNT_UNITS = frozenset(
    {
        "tablet",
        "tablets",
        "tab",
        "capsule",
        "capsules",
        "cap",
        "{tablet}",
        "{capsule}",
        "{tbl}",
        "{cap}",
        "each",
        "ea",
        "1",
        "{count}",
        "unit",
        "dose",
    }
)


class NaltrexoneKind(StrEnum):
    """What kind of antagonist order this is."""

    LDN = "ldn"
    FULL_DOSE = "full-dose"
    COMBINATION = "combination"
    UNKNOWN_DOSE = "unknown-dose"


@dataclass(frozen=True, slots=True)
class NaltrexoneOrder:
    """A recognised antagonist order: kind, dose per administration and how each was found."""

    reference: str
    kind: NaltrexoneKind
    antagonist: str
    label: str
    evidence: str
    dose_mg: float | None
    dose_basis: str | None
    partner: str | None = None


def recognise_naltrexone(
    record: MedicationRecord, knowledge: OpioidKnowledge
) -> NaltrexoneOrder | None:
    """Return the naltrexone order ``record`` carries, or None when it is not one."""
    medication = record.medication
    if identify_opioid(medication, knowledge) is not None:
        return None
    known = knowledge.antagonists
    found = _antagonist_evidence(medication, knowledge)
    if found is None:
        return None
    low_dose_named = any(
        next(known.low_dose_names.find(text), None)
        for text in (*_texts(medication), *record.dosage_text)
    )
    dose, basis = _dose(record, known, found.product_mg)
    if found.combination:
        kind = NaltrexoneKind.COMBINATION
    elif dose is not None:
        kind = NaltrexoneKind.LDN if dose <= known.ldn_max_mg else NaltrexoneKind.FULL_DOSE
    elif low_dose_named:
        kind, basis = NaltrexoneKind.LDN, "named as low-dose naltrexone"
    else:
        kind = NaltrexoneKind.UNKNOWN_DOSE
    return NaltrexoneOrder(
        reference=record.reference,
        kind=kind,
        antagonist=found.antagonist,
        label=label_of(medication) or found.antagonist,
        evidence=found.evidence,
        dose_mg=dose,
        dose_basis=basis,
        partner=found.partner,
    )


def _texts(medication: Medication) -> Iterator[str]:
    for concept in medication.concepts():
        yield from concept.words()


def _free_names(medication: Medication, known: AntagonistKnowledge) -> Iterator[str]:
    """Yield the texts and the displays of codings that are not known antagonist products."""
    for concept in medication.concepts():
        if concept.text:
            yield concept.text
        for coding in concept.codings:
            if coding.display and (coding.code or "") not in known.products:
                yield coding.display


@dataclass(frozen=True, slots=True)
class _Found:
    """What marked a medication as an antagonist."""

    antagonist: str
    partner: str | None
    evidence: str
    product_mg: float | None = None
    combination: bool = False


def names_antagonist(medication: Medication, knowledge: OpioidKnowledge) -> bool:
    """Tell whether a record of ``medication`` can be a naltrexone order (whatever its dose)."""
    return (
        identify_opioid(medication, knowledge) is None
        and _antagonist_evidence(medication, knowledge) is not None
    )


def _antagonist_evidence(medication: Medication, knowledge: OpioidKnowledge) -> _Found | None:
    """``_evidence``, once per medication under a knowledge ``for_one_call``."""
    remembered = knowledge.remembered
    if remembered is None:
        return _evidence(medication, knowledge.antagonists)
    key = ("antagonist", id(medication))
    if key not in remembered:
        evidence = knowledge.lasting.answer(("antagonist", medication), _evidence_of, knowledge)
        remembered[key] = medication, evidence
    kept = remembered[key][1]
    return kept if isinstance(kept, _Found) else None


def _evidence_of(medication: Medication, knowledge: OpioidKnowledge) -> _Found | None:
    """``_evidence`` with the whole knowledge (the signature ``Lasting.answer`` calls)."""
    return _evidence(medication, knowledge.antagonists)


def _evidence(medication: Medication, known: AntagonistKnowledge) -> _Found | None:
    """Find what marks an antagonist: a known product code, a name, or ingredient 7243."""
    for concept in medication.concepts():
        for coding in concept.codings:
            product = known.products.get(coding.code or "")
            if product is not None and same_system(coding.system, product.system):
                return _Found(
                    product.antagonist,
                    product.partner,
                    f"code {product.code} ({product.display})",
                    product.dose_mg,
                    product.kind == NaltrexoneKind.COMBINATION,
                )
    partner = next((hit.value for t in _texts(medication) for hit in known.partners.find(t)), None)
    for text in _texts(medication):
        for combo in known.combinations.find(text):
            value = combo.value
            return _Found(
                value.antagonist, value.partner or partner, f"name '{combo.term}'", None, True
            )
    if _has_ingredient_code(medication.concepts(), known.ingredient_rxcui):
        evidence = f"RxNorm ingredient {known.ingredient_rxcui}"
        return _Found("naltrexone", partner, evidence, None, partner is not None)
    for text in _texts(medication):
        named = next(known.names.find(text), None) or next(known.low_dose_names.find(text), None)
        if named is not None:
            evidence = f"name '{named.term}'"
            return _Found("naltrexone", partner, evidence, None, partner is not None)
    return None


def _has_ingredient_code(concepts: Iterable[Concept], rxcui: str) -> bool:
    return any(code == rxcui for concept in concepts for code in rxnorm_codes(concept))


def _dose(
    record: MedicationRecord, known: AntagonistKnowledge, product_mg: float | None
) -> tuple[float | None, str | None]:
    """Return the largest naltrexone dose per administration in mg, and where it was read."""
    strength = _strength_mg(record.medication, known)
    per_ml = _per_ml(record.medication, known)
    # A known product's own display ("... depot form, 1 mg" is a billing unit) says less than
    # its known strength; other names and free text are read.
    names = [
        _number(n) * _MG_PER[u.lower()]
        for t in _free_names(record.medication, known)
        for n, u in _masses(t)
    ]
    per_unit = strength or product_mg or (names[0] if len(names) == 1 else None)
    doses = [mg for q in record.doses if (mg := _dose_mg(q, per_unit, per_ml)) is not None]
    if doses:
        return max(doses), "dose"
    texts = [_number(n) * _MG_PER[u.lower()] for t in record.dosage_text for n, u in _masses(t)]
    if per_ml is not None:
        texts += [_number(v) * per_ml for t in record.dosage_text for v in _volumes(t)]
    if texts:
        return max(texts), "dosage text"
    if any(_is_volume(q) for q in record.doses) or any(
        _volumes(t) for t in record.dosage_text
    ):  # a volume taken, of a concentration not known: the dose is unknown
        return None, None
    if strength is not None:
        return strength, "ingredient strength"
    if names:
        return max(names), "product name"
    if product_mg is not None:
        return product_mg, "coded product strength"
    return None, None


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def _masses(text: str) -> list[tuple[str, str]]:
    """Masses in a text that are not part of a concentration ("1 mg/mL")."""
    return _MASS.findall(_PER_VOLUME.sub(" ", text))


def _volumes(text: str) -> list[str]:
    """Volumes taken in a text ("4.5 mL"), not the volume of a concentration."""
    return _VOLUME.findall(_PER_VOLUME.sub(" ", text))


def _is_volume(quantity: Quantity) -> bool:
    return (quantity.unit or "").strip().lower() in _VOLUME_UNITS


def _per_ml(medication: Medication, known: AntagonistKnowledge) -> float | None:
    """Return the mg of naltrexone per mL: the ingredient's strength or a name's concentration."""
    for ingredient in medication.ingredients:
        strength = ingredient.strength
        unit = (strength.unit or "").strip().lower() if strength else ""
        if strength is not None and unit.endswith("/ml") and _is_naltrexone(ingredient.item, known):
            mass = _mass_mg(strength)
            if mass is not None:
                return mass
    for text in _texts(medication):
        for amount, unit, volume in _PER_VOLUME.findall(text):
            factor = _MG_PER.get(unit.lower().rstrip("s"), _MG_PER.get(unit.lower()))
            if factor is not None:
                return _number(amount) * factor / (_number(volume) if volume else 1.0)
    return None


def _strength_mg(medication: Medication, known: AntagonistKnowledge) -> float | None:
    """Return the strength in mg per unit of the Medication's naltrexone ingredient."""
    for ingredient in medication.ingredients:
        strength = ingredient.strength
        if strength is None or (strength.unit or "").strip().lower().endswith("/ml"):
            continue  # a concentration is not a strength per unit
        if _is_naltrexone(ingredient.item, known):
            return _mass_mg(strength)
    return None


def _is_naltrexone(item: Concept, known: AntagonistKnowledge) -> bool:
    return _has_ingredient_code((item,), known.ingredient_rxcui) or any(
        next(known.names.find(text), None) for text in item.words()
    )


def _mass_mg(quantity: Quantity) -> float | None:
    unit = (quantity.unit or "").strip().lower().split("/")[0]
    factor = _MG_PER.get(unit)
    return None if factor is None else quantity.value * factor


def _dose_mg(quantity: Quantity, per_unit_mg: float | None, per_ml: float | None) -> float | None:
    """Convert one structured dose to mg: a mass directly, a count of units by the strength,
    a volume by the concentration."""
    mass = _mass_mg(quantity)
    if mass is not None:
        return mass
    if _is_volume(quantity):
        return None if per_ml is None else quantity.value * per_ml
    unit = (quantity.unit or "").strip().lower()
    if per_unit_mg is not None and (not unit or unit in _COUNT_UNITS):
        return quantity.value * per_unit_mg
    return None
