"""FHIR general-purpose data types (CodeableConcept, Quantity, Ratio) to clinical values.

Masses are converted to milligrams when the unit says so (g, mcg/ug/µg), because the rules compare
doses and strengths in mg (LDN is a dose of 5 mg or less). Any other unit is kept as sent.
"""

from __future__ import annotations

from decimal import Decimal

from clinical.records import Coding, Concept, Quantity
from fhir_profiles.mapping.fields import Fields, JsonObject, join

MG = "mg"

# Factors to milligrams, keyed by the lower-cased UCUM code or free-text unit. Decimal keeps
# 4500 mcg at exactly 4.5 mg (binary floats would not).
_TO_MG: dict[str, Decimal] = {
    "mg": Decimal(1),
    "milligram": Decimal(1),
    "milligrams": Decimal(1),
    "g": Decimal(1000),
    "gm": Decimal(1000),
    "gram": Decimal(1000),
    "grams": Decimal(1000),
    "mcg": Decimal("0.001"),
    "ug": Decimal("0.001"),
    "µg": Decimal("0.001"),  # micro sign
    "μg": Decimal("0.001"),  # Greek mu
    "microgram": Decimal("0.001"),
    "micrograms": Decimal("0.001"),
}

# Units that count whole dose units (a strength "per capsule" is a strength per unit of product).
_COUNT_UNITS = frozenset(
    {
        "1",
        "cap",
        "capsule",
        "capsules",
        "tab",
        "tablet",
        "tablets",
        "each",
        "ea",
        "dose",
        "doses",
        "unit",
        "patch",
        "film",
        "troche",
        "lozenge",
        "suppository",
    }
)
_DRUG_FORM_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm"


def concept(fields: Fields, value: JsonObject, path: str) -> Concept:
    """Read a CodeableConcept: its codings (as sent) and its text."""
    codings = tuple(
        Coding(
            system=fields.string(item, "system", item_path),
            code=fields.string(item, "code", item_path),
            display=fields.string(item, "display", item_path),
        )
        for item_path, item in fields.objects(value, "coding", path)
    )
    return Concept(codings=codings, text=fields.string(value, "text", path))


def optional_concept(fields: Fields, parent: JsonObject, key: str, path: str) -> Concept | None:
    """Read the CodeableConcept at ``key`` when it is there."""
    value = fields.object(parent, key, path)
    return None if value is None else concept(fields, value, join(path, key))


def _unit_token(fields: Fields, value: JsonObject, path: str) -> tuple[str | None, str | None]:
    """Return ``(code, unit)``: the coded unit and the human-readable one."""
    return fields.string(value, "code", path), fields.string(value, "unit", path)


def quantity(fields: Fields, value: JsonObject, path: str) -> Quantity | None:
    """Read a Quantity, converting masses to mg; note it when it has no numeric value."""
    amount = fields.number(value, "value", path)
    code, unit = _unit_token(fields, value, path)
    if amount is None:
        if "value" not in value:
            fields.note(f"{path} has no value")
        return None
    token = code or unit
    if token == MG:  # the common case, spelled exactly: no conversion
        return Quantity(amount, MG)
    factor = _TO_MG.get((token or "").strip().lower())
    if factor is not None:
        return Quantity(float(Decimal(repr(amount)) * factor), MG)
    return Quantity(amount, unit or code)


def _counts_units(system: str | None, unit: str) -> bool:
    if system == _DRUG_FORM_SYSTEM:
        return True
    token = unit.strip().lower()
    return token in _COUNT_UNITS or (token.startswith("{") and token.endswith("}"))


def strength(fields: Fields, ratio: JsonObject, path: str) -> Quantity | None:
    """Read a strength Ratio as the amount in one unit of the product (``4.5 mg`` per capsule).

    A strength per count of dose units (capsule, tablet, ``{tbl}``) becomes the amount per one
    unit; a strength per volume or time keeps its denominator in the unit (``1 mg/mL``), so a
    liquid is never mistaken for a per-dose amount.
    """
    numerator_value = fields.object(ratio, "numerator", path)
    if numerator_value is None:
        if "numerator" not in ratio:
            fields.note(f"{path} has no numerator")
        return None
    numerator = quantity(fields, numerator_value, join(path, "numerator"))
    denominator_value = fields.object(ratio, "denominator", path)
    if numerator is None or denominator_value is None:
        return numerator
    denominator_path = join(path, "denominator")
    per = fields.number(denominator_value, "value", denominator_path)
    if per is None or per <= 0:
        if per is not None or "value" not in denominator_value:
            fields.note(f"{denominator_path} has no positive value")
        return None
    amount = float(Decimal(repr(numerator.value)) / Decimal(repr(per)))
    code, unit = _unit_token(fields, denominator_value, denominator_path)
    per_unit = code or unit
    system = fields.string(denominator_value, "system", denominator_path)
    if per_unit is None or _counts_units(system, per_unit):
        return Quantity(amount, numerator.unit)
    return Quantity(amount, f"{numerator.unit or '1'}/{per_unit}")
