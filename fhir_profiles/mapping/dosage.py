"""Dosage (``dosage`` / ``dosageInstruction``) to doses and the instruction texts."""

from __future__ import annotations

from clinical.records import Quantity
from fhir_profiles.mapping.datatypes import quantity
from fhir_profiles.mapping.fields import Fields, JsonObject, join


def read_dosages(
    fields: Fields, resource: JsonObject, key: str
) -> tuple[tuple[Quantity, ...], tuple[str, ...]]:
    """Return every dose per administration and every instruction text, in the order sent.

    ``doseQuantity`` is taken as is; a ``doseRange`` gives its ``high`` (the most that may be
    taken), or its ``low`` when it has no upper bound. Texts are ``text`` then
    ``patientInstruction`` of each dosage.
    """
    doses: list[Quantity] = []
    texts: list[str] = []
    for path, dosage in fields.objects(resource, key, ""):
        for text_key in ("text", "patientInstruction"):
            text = fields.string(dosage, text_key, path)
            if text:
                texts.append(text)
        for rate_path, dose_and_rate in fields.objects(dosage, "doseAndRate", path):
            dose = _dose(fields, dose_and_rate, rate_path)
            if dose is not None:
                doses.append(dose)
    return tuple(doses), tuple(texts)


def _dose(fields: Fields, dose_and_rate: JsonObject, path: str) -> Quantity | None:
    amount = fields.object(dose_and_rate, "doseQuantity", path)
    if amount is not None:
        return quantity(fields, amount, join(path, "doseQuantity"))
    dose_range = fields.object(dose_and_rate, "doseRange", path)
    if dose_range is None:
        return None
    range_path = join(path, "doseRange")
    for bound in ("high", "low"):
        amount = fields.object(dose_range, bound, range_path)
        if amount is not None:
            return quantity(fields, amount, join(range_path, bound))
    return None
