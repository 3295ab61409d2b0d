"""The one shape that the four medication resources and Condition map to.

The clinical rules never see FHIR JSON or FHIR models: ``fhir_profiles.mapping`` turns whatever a
server sends into these frozen dataclasses, and the rules read only these. Dates are calendar dates
(the rules reason in days); a missing date is ``None`` and the rules treat it as uncertainty.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import NamedTuple

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


class Source(StrEnum):
    """The FHIR resource type a medication record was read from."""

    STATEMENT = "MedicationStatement"
    REQUEST = "MedicationRequest"
    DISPENSE = "MedicationDispense"
    ADMINISTRATION = "MedicationAdministration"


@dataclass(frozen=True, slots=True)
class Coding:
    """One code from one code system, as sent (code and display untouched)."""

    system: str | None = None
    code: str | None = None
    display: str | None = None


@dataclass(frozen=True, slots=True)
class Concept:
    """A CodeableConcept: any number of codings plus free text."""

    codings: tuple[Coding, ...] = ()
    text: str | None = None

    def codes(self, system: str) -> Iterator[str]:
        """Yield every code this concept carries in ``system``."""
        for coding in self.codings:
            if coding.system == system and coding.code:
                yield coding.code

    def words(self) -> Iterator[str]:
        """Yield every human-readable label: the text, then each coding's display."""
        if self.text:
            yield self.text
        for coding in self.codings:
            if coding.display:
                yield coding.display


@dataclass(frozen=True, slots=True)
class Quantity:
    """An amount with its unit as sent (UCUM code or free text such as ``mg``)."""

    value: float
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class Ingredient:
    """One ingredient of a Medication, with its strength per unit of the product when known."""

    item: Concept
    strength: Quantity | None = None


@dataclass(frozen=True, slots=True)
class Medication:
    """What was taken or ordered: the product concept and, when known, its ingredients.

    ``concept`` is ``medicationCodeableConcept`` or the referenced Medication's ``code``;
    ``ingredients`` come from a contained or referenced Medication (a compounded product often has
    only these).
    """

    concept: Concept = field(default_factory=Concept)
    ingredients: tuple[Ingredient, ...] = ()
    form: Concept | None = None
    _hash: int | None = field(default=None, init=False, repr=False, compare=False)

    def __hash__(self) -> int:
        # Computed once: answers about a medication are looked up by it several times a call.
        cached = self._hash
        if cached is None:
            cached = hash((self.concept, self.ingredients, self.form))
            object.__setattr__(self, "_hash", cached)
        return cached

    def concepts(self) -> Iterator[Concept]:
        """Yield the product concept, then each ingredient's concept."""
        yield self.concept
        for ingredient in self.ingredients:
            yield ingredient.item


@dataclass(frozen=True, slots=True)
class MedicationRecord:
    """A medication the patient takes, took, or was ordered, from either resource type.

    Dates (each ``None`` when the resource does not say):

    * ``started``: MedicationStatement ``effectivePeriod.start`` or ``effectiveDateTime``;
      MedicationRequest ``dispenseRequest.validityPeriod.start`` or else ``authoredOn``;
      MedicationDispense ``whenHandedOver`` or else ``whenPrepared``; MedicationAdministration
      ``effectivePeriod.start`` or ``effectiveDateTime``.
    * ``ended``: MedicationStatement ``effectivePeriod.end``; MedicationRequest
      ``dispenseRequest.validityPeriod.end``; MedicationAdministration ``effectiveDateTime`` or
      ``effectivePeriod.end`` (an administration is a dose given: its time is a last exposure).
    * ``asserted``: MedicationStatement ``dateAsserted``; MedicationRequest ``authoredOn``.
    * ``supply_days``: MedicationRequest expected supply in days, repeats included;
      MedicationDispense ``daysSupply``.

    ``problems`` lists everything the mapping could not read; ``medication_problems`` is the part
    of it about *what* the medication is (for example an unresolved ``medicationReference``).
    The rules treat a record with medication problems that names no opioid as data that could
    not be checked; a malformed date or dose on a record that names a non-opioid does not hide
    an opioid, so it does not make the record unchecked.
    """

    source: Source
    id: str | None
    status: str | None
    medication: Medication
    doses: tuple[Quantity, ...] = ()
    dosage_text: tuple[str, ...] = ()
    started: date | None = None
    ended: date | None = None
    asserted: date | None = None
    supply_days: int | None = None
    problems: tuple[str, ...] = ()
    medication_problems: tuple[str, ...] = ()

    @property
    def reference(self) -> str:
        """``ResourceType/id`` of the source resource, or the type alone when it has no id."""
        return f"{self.source}/{self.id}" if self.id else str(self.source)


class RecordGlance(NamedTuple):
    """What is read of a record whose medication cannot bear on a decision: its source, status
    and dates, for the sources' coverage and the statuses set aside.

    Such a record is neither an opioid, nor possibly one, nor an antagonist, and names what it
    is (``clinical.relevance``): the rules would visit it only to count it, so the mapping
    glances at it (``relevant=`` of ``fhir_profiles.mapping.read_medication_records``) instead
    of reading it whole. A tuple: a long chart holds thousands.
    """

    source: Source
    status: str | None
    started: date | None
    ended: date | None
    asserted: date | None


@dataclass(frozen=True, slots=True)
class ConditionRecord:
    """A Condition on the patient's chart."""

    id: str | None
    code: Concept
    clinical_status: str | None = None
    verification_status: str | None = None
    onset: date | None = None
    abatement: date | None = None
