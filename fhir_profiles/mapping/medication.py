"""``medication[x]`` and Medication resources to the clinical ``Medication``.

Reads the R4/R4B choice (``medicationCodeableConcept`` / ``medicationReference``) and the R5
CodeableReference (``medication.concept`` / ``medication.reference``) that some servers send, and
R4 and R5 ingredient shapes (``itemCodeableConcept``/``itemReference``/``strength`` and
``item.concept``/``item.reference``/``strengthRatio``/``strengthQuantity``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from clinical.records import Concept, Ingredient, Medication, Quantity
from fhir_profiles.mapping.datatypes import concept, optional_concept, quantity, strength
from fhir_profiles.mapping.fields import Fields, JsonObject, join, shorten
from fhir_profiles.mapping.references import References


def read_medication(
    fields: Fields, resource: JsonObject, references: References
) -> Medication | None:
    """Read what a MedicationStatement or MedicationRequest is about; ``None`` if unsaid."""
    coded = resource.get("medicationCodeableConcept")
    if type(coded) is dict:  # the usual shape, read without the checking reader's call
        return _coded_medication(fields, coded, references)
    coded = fields.object(resource, "medicationCodeableConcept", "")
    if coded is not None:
        return _coded_medication(fields, coded, references)
    reference = fields.object(resource, "medicationReference", "")
    if reference is not None:
        return _referenced(fields, reference, "medicationReference", references, resource)
    codeable_reference = fields.object(resource, "medication", "")
    if codeable_reference is None:
        return None
    coded = fields.object(codeable_reference, "concept", "medication")
    if coded is not None:
        return Medication(concept=concept(fields, coded, "medication.concept"))
    reference = fields.object(codeable_reference, "reference", "medication")
    if reference is not None:
        return _referenced(fields, reference, "medication.reference", references, resource)
    fields.note("medication has neither concept nor reference")
    return None


def _coded_medication(fields: Fields, coded: JsonObject, references: References) -> Medication:
    """Read ``medicationCodeableConcept`` (once per distinct value: ``_remembered``)."""
    return _remembered(fields, references, coded, _read_coded)


def _read_coded(fields: Fields, coded: JsonObject) -> Medication:
    return Medication(concept=concept(fields, coded, "medicationCodeableConcept"))


Read = tuple[Medication, tuple[str, ...]]


class _KeptAcrossCalls:
    """Medications read from short JSON, kept from one read (one hook call) to the next.

    A chart's products recur from call to call; one kept ``Medication`` object is then shared
    by them all, and the answers the rules keep about it (``clinical.opioids.Lasting``) are
    found by identity. What is kept is a function of its JSON alone (no reference in it) and
    immutable. Bounded in count and in the size of each JSON: when full, it starts again.
    """

    _COUNT = 2048
    _LONGEST = 1024  # bytes of JSON

    def __init__(self) -> None:
        self._kept: dict[bytes, Read] = {}

    def get(self, key: bytes) -> Read | None:
        return self._kept.get(key)

    def keep(self, key: bytes, read: Read) -> None:
        if len(key) > self._LONGEST:
            return
        if len(self._kept) >= self._COUNT:
            self._kept = {}
        self._kept[key] = read


_KEPT = _KeptAcrossCalls()


def _remembered(
    fields: Fields,
    references: References,
    source: Any,
    read: Callable[[Fields, Any], Medication],
) -> Medication:
    """Return ``read(fields, source)``, once per distinct JSON ``source`` (in one read of many
    resources, and across reads for short JSON: ``_KeptAcrossCalls``).

    The same Medication is then shared by every record naming it, with the problems noted
    reading it noted again for each. JSON naming a reference is read every time: what it
    points at depends on where it sits.
    """
    try:
        key = orjson.dumps(source)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits, nesting beyond orjson's limit
        return read(fields, source)
    if b'"reference"' in key:
        return read(fields, source)
    known = references.medications.get(key)
    if known is None:
        known = _KEPT.get(key)
        if known is None:
            noted = len(fields.problems)
            medication = read(fields, source)
            known = medication, tuple(fields.problems[noted:])
            _KEPT.keep(key, known)
        elif known[1]:
            fields.problems.extend(known[1])
        references.medications[key] = known
        if names_itself(known[0]):
            references.named.add(id(known[0]))
    elif known[1]:
        fields.problems.extend(known[1])
    return known[0]


def names_itself(medication: Medication) -> bool:
    """Tell whether ``medication`` carries a code, display or text saying what it is."""
    return any(
        concept.text or any(coding.code or coding.display for coding in concept.codings)
        for concept in medication.concepts()
    )


def _resolve(
    fields: Fields,
    reference: JsonObject,
    path: str,
    references: References,
    container: JsonObject,
    kinds: frozenset[str],
) -> JsonObject | None:
    """Return the resource a Reference points at, noting why when it cannot be had."""
    target = fields.string(reference, "reference", path)
    if target is None:
        fields.note(f"{path} has no literal reference to resolve")
        return None
    resolved = references.resolve(target, container)
    if resolved is None:
        fields.note(f"{path} {shorten(target)} could not be resolved")
        return None
    kind = resolved.get("resourceType")
    if not isinstance(kind, str) or kind not in kinds:
        fields.note(f"{path} {shorten(target)} is not a {' or '.join(sorted(kinds))}")
        return None
    return resolved


_MEDICATION = frozenset({"Medication"})
_INGREDIENT_ITEM = frozenset({"Medication", "Substance"})


def _referenced(
    fields: Fields,
    reference: JsonObject,
    path: str,
    references: References,
    container: JsonObject,
) -> Medication:
    """Read a referenced Medication; keep the reference's display when it cannot be resolved."""
    display = fields.string(reference, "display", path)
    resolved = _resolve(fields, reference, path, references, container, _MEDICATION)
    if resolved is None:
        return Medication(concept=Concept(text=display))
    found = resolved  # for the closure: a compounded product repeats across a chart

    def read(fields: Fields, _source: object) -> Medication:
        # '#id' inside a contained Medication still points into the outer resource's list.
        nested_container = container if _is_contained(found, container) else found
        medication = _medication_resource(fields, found, path, references, nested_container)
        if medication.concept.text is None and display:
            return Medication(
                concept=Concept(codings=medication.concept.codings, text=display),
                ingredients=medication.ingredients,
                form=medication.form,
            )
        return medication

    return _remembered(fields, references, [path, display, resolved], read)


def _is_contained(resource: JsonObject, container: JsonObject) -> bool:
    contained = container.get("contained")
    return isinstance(contained, list) and any(item is resource for item in contained)


def _medication_resource(
    fields: Fields,
    resource: JsonObject,
    path: str,
    references: References,
    container: JsonObject,
) -> Medication:
    """Read a Medication resource: code, form and ingredients."""
    ingredients = tuple(
        ingredient
        for item_path, item in fields.objects(resource, "ingredient", path)
        if (ingredient := _ingredient(fields, item, item_path, references, container))
    )
    form = optional_concept(fields, resource, "form", path) or optional_concept(
        fields, resource, "doseForm", path
    )
    return Medication(
        concept=optional_concept(fields, resource, "code", path) or Concept(),
        ingredients=ingredients,
        form=form,
    )


def _ingredient(
    fields: Fields,
    ingredient: JsonObject,
    path: str,
    references: References,
    container: JsonObject,
) -> Ingredient | None:
    item = _ingredient_item(fields, ingredient, path, references, container)
    if item is None:
        fields.note(f"{path} names no ingredient")
        return None
    return Ingredient(item=item, strength=_ingredient_strength(fields, ingredient, path))


def _ingredient_item(
    fields: Fields,
    ingredient: JsonObject,
    path: str,
    references: References,
    container: JsonObject,
) -> Concept | None:
    """Read ``item[x]`` (R4) or ``item`` (R5 CodeableReference) as the ingredient's concept."""
    coded = optional_concept(fields, ingredient, "itemCodeableConcept", path)
    if coded is not None:
        return coded
    reference = fields.object(ingredient, "itemReference", path)
    reference_path = join(path, "itemReference")
    codeable_reference = fields.object(ingredient, "item", path)
    if reference is None and codeable_reference is not None:
        coded = optional_concept(fields, codeable_reference, "concept", join(path, "item"))
        if coded is not None:
            return coded
        reference = fields.object(codeable_reference, "reference", join(path, "item"))
        reference_path = join(path, "item.reference")
    if reference is None:
        return None
    display = fields.string(reference, "display", reference_path)
    resolved = _resolve(fields, reference, reference_path, references, container, _INGREDIENT_ITEM)
    if resolved is None:
        return Concept(text=display)
    return optional_concept(fields, resolved, "code", reference_path) or Concept(text=display)


def _ingredient_strength(fields: Fields, ingredient: JsonObject, path: str) -> Quantity | None:
    """Read ``strength`` (R4 Ratio), ``strengthRatio`` or ``strengthQuantity`` (R5)."""
    for key in ("strength", "strengthRatio"):
        ratio = fields.object(ingredient, key, path)
        if ratio is not None:
            return strength(fields, ratio, join(path, key))
    amount = fields.object(ingredient, "strengthQuantity", path)
    return None if amount is None else quantity(fields, amount, join(path, "strengthQuantity"))
