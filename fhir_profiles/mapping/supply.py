"""The days a prescription (``dispenseRequest.expectedSupplyDuration`` and repeats) or a pharmacy
fill (``MedicationDispense.daysSupply``) covers."""

from __future__ import annotations

import math
from fractions import Fraction

from fhir_profiles.mapping.fields import Fields, JsonObject, shorten

# Days per UCUM duration unit (code or spelled-out unit). A month is UCUM's mean month; the total
# is rounded up, so a supply never looks shorter than it may be. Fractions keep 24 h at one day.
_HOUR = Fraction(1, 24)
_WEEK = Fraction(7)
_MONTH = Fraction("30.4375")
_YEAR = Fraction("365.25")
_DAYS_PER_UNIT: dict[str, Fraction] = {
    "h": _HOUR,
    "hour": _HOUR,
    "hours": _HOUR,
    "d": Fraction(1),
    "day": Fraction(1),
    "days": Fraction(1),
    "wk": _WEEK,
    "week": _WEEK,
    "weeks": _WEEK,
    "mo": _MONTH,
    "month": _MONTH,
    "months": _MONTH,
    "a": _YEAR,
    "year": _YEAR,
    "years": _YEAR,
}
# unsignedInt's upper bound (FHIR R4 datatypes).
_MAX_REPEATS = 2**31 - 1
_PATH = "dispenseRequest"


def read_supply_days(fields: Fields, dispense: JsonObject) -> int | None:
    """Return the days covered by the first fill and every allowed repeat, or ``None``."""
    duration = fields.object(dispense, "expectedSupplyDuration", _PATH)
    if duration is None:
        return None
    path = f"{_PATH}.expectedSupplyDuration"
    value = fields.number(duration, "value", path)
    code = fields.string(duration, "code", path)
    unit = fields.string(duration, "unit", path)
    if value is None:
        if "value" not in duration:
            fields.note(f"{path} has no value")
        return None
    if value < 0:
        fields.note(f"{path}.value is negative")
        return None
    days_per_unit = _DAYS_PER_UNIT.get((code or unit or "").strip().lower())
    if days_per_unit is None:
        fields.note(f"{path} unit {shorten(code or unit or '(none)')} is not a known duration unit")
        return None
    return math.ceil(Fraction(repr(value)) * days_per_unit * (1 + _repeats(fields, dispense)))


def _repeats(fields: Fields, dispense: JsonObject) -> int:
    repeats = dispense.get("numberOfRepeatsAllowed")
    if repeats is None:
        return 0
    if isinstance(repeats, int) and not isinstance(repeats, bool) and 0 <= repeats <= _MAX_REPEATS:
        return repeats
    fields.note(f"{_PATH}.numberOfRepeatsAllowed is not a whole number of repeats")
    return 0


def read_days_supply(fields: Fields, dispense: JsonObject) -> int | None:
    """Return the days a MedicationDispense's ``daysSupply`` covers, rounded up, or ``None``."""
    supply = fields.object(dispense, "daysSupply", "")
    if supply is None:
        return None
    value = fields.number(supply, "value", "daysSupply")
    unit = fields.string(supply, "code", "daysSupply") or fields.string(
        supply, "unit", "daysSupply"
    )
    if value is None or value < 0:
        fields.note("daysSupply has no usable value")
        return None
    # A bare number of days is how pharmacy systems commonly send it.
    days_per_unit = _DAYS_PER_UNIT.get((unit or "d").strip().lower())
    if days_per_unit is None:
        fields.note(f"daysSupply unit {shorten(unit or '(none)')} is not a known duration unit")
        return None
    return math.ceil(Fraction(repr(value)) * days_per_unit)
