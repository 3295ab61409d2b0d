"""MedicationStatement, MedicationRequest, MedicationDispense and MedicationAdministration to
``MedicationRecord``.

Dates follow ``clinical.records.MedicationRecord`` field by field; partial dates are resolved as
the ``dates`` module explains (start-like: first day; end-like: last day).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from clinical.records import Medication, MedicationRecord, Source
from fhir_profiles.mapping.dosage import read_dosages
from fhir_profiles.mapping.fields import Fields, JsonObject
from fhir_profiles.mapping.medication import read_medication
from fhir_profiles.mapping.references import REFERENCED_TYPES, References, is_referenced_type
from fhir_profiles.mapping.resources import Reader, map_resources
from fhir_profiles.mapping.result import MappingResult
from fhir_profiles.mapping.supply import read_days_supply, read_supply_days

RecordRead = tuple[MedicationRecord | None, list[str]]
MedicationRead = tuple[Medication | None, tuple[str, ...]]
# Says whether a record of this medication needs its doses, dosage and supply read.
Relevance = Callable[[Medication], bool]


def _in_full(relevant: Relevance | None, medication: Medication, problems: tuple[str, ...]) -> bool:
    return relevant is None or bool(problems) or relevant(medication)


def _read_medication(
    fields: Fields, resource: JsonObject, references: References
) -> MedicationRead:
    """Read medication[x] and the problems met on the way (what the medication is)."""
    noted = len(fields.problems)
    medication = read_medication(fields, resource, references)
    if medication is not None and len(fields.problems) == noted and not _names(medication):
        # An empty concept would otherwise pass the rules as a medication that matched nothing.
        fields.note("medication[x] has no code, display or text")
    return medication, tuple(fields.problems[noted:])


def _names(medication: Medication) -> bool:
    return any(
        concept.text or any(coding.code or coding.display for coding in concept.codings)
        for concept in medication.concepts()
    )


def _no_medication(fields: Fields) -> RecordRead:
    if fields.problems:
        return None, [f"has no readable medication[x]: {'; '.join(fields.problems)}"]
    return None, ["has no medication[x]"]


def read_statement(
    resource: JsonObject, references: References, relevant: Relevance | None = None
) -> RecordRead:
    """Read one MedicationStatement (R4, R4B or R5 shape)."""
    fields = Fields()
    ident = fields.string(resource, "id", "")
    status = fields.string(resource, "status", "")
    medication, medication_problems = _read_medication(fields, resource, references)
    if medication is None:
        return _no_medication(fields)
    doses, texts = (
        read_dosages(fields, resource, "dosage")
        if _in_full(relevant, medication, medication_problems)
        else ((), ())
    )
    started = ended = None
    period = fields.object(resource, "effectivePeriod", "")
    if period is not None:
        started = fields.start_date(period, "start", "effectivePeriod")
        ended = fields.end_date(period, "end", "effectivePeriod")
    if started is None:
        started = fields.start_date(resource, "effectiveDateTime", "")
    asserted = fields.end_date(resource, "dateAsserted", "")
    return MedicationRecord(
        source=Source.STATEMENT,
        id=ident,
        status=status,
        medication=medication,
        doses=doses,
        dosage_text=texts,
        started=started,
        ended=ended,
        asserted=asserted,
        problems=tuple(fields.problems),
        medication_problems=medication_problems,
    ), []


def read_request(
    resource: JsonObject, references: References, relevant: Relevance | None = None
) -> RecordRead:
    """Read one MedicationRequest (R4, R4B or R5 shape)."""
    fields = Fields()
    ident = fields.string(resource, "id", "")
    status = fields.string(resource, "status", "")
    medication, medication_problems = _read_medication(fields, resource, references)
    if medication is None:
        return _no_medication(fields)
    in_full = _in_full(relevant, medication, medication_problems)
    doses, texts = read_dosages(fields, resource, "dosageInstruction") if in_full else ((), ())
    authored_first, authored_last = fields.dates(resource, "authoredOn", "")
    started = ended = None
    supply_days = None
    dispense = fields.object(resource, "dispenseRequest", "")
    if dispense is not None:
        validity = fields.object(dispense, "validityPeriod", "dispenseRequest")
        if validity is not None:
            path = "dispenseRequest.validityPeriod"
            started = fields.start_date(validity, "start", path)
            ended = fields.end_date(validity, "end", path)
        supply_days = read_supply_days(fields, dispense) if in_full else None
    return MedicationRecord(
        source=Source.REQUEST,
        id=ident,
        status=status,
        medication=medication,
        doses=doses,
        dosage_text=texts,
        started=started or authored_first,
        ended=ended,
        asserted=authored_last,
        supply_days=supply_days,
        problems=tuple(fields.problems),
        medication_problems=medication_problems,
    ), []


def read_dispense(
    resource: JsonObject, references: References, relevant: Relevance | None = None
) -> RecordRead:
    """Read one MedicationDispense: a pharmacy fill, dated by hand-over and days' supply."""
    fields = Fields()
    ident = fields.string(resource, "id", "")
    status = fields.string(resource, "status", "")
    medication, medication_problems = _read_medication(fields, resource, references)
    if medication is None:
        return _no_medication(fields)
    in_full = _in_full(relevant, medication, medication_problems)
    doses, texts = read_dosages(fields, resource, "dosageInstruction") if in_full else ((), ())
    # A fill is one event: a partial date takes its last day, so that the supply it starts
    # never looks older than it may be (see the dates module).
    handed_over = fields.end_date(resource, "whenHandedOver", "")
    prepared = fields.end_date(resource, "whenPrepared", "")
    return MedicationRecord(
        source=Source.DISPENSE,
        id=ident,
        status=status,
        medication=medication,
        doses=doses,
        dosage_text=texts,
        started=handed_over or prepared,
        supply_days=read_days_supply(fields, resource) if in_full else None,
        problems=tuple(fields.problems),
        medication_problems=medication_problems,
    ), []


def read_administration(
    resource: JsonObject, references: References, relevant: Relevance | None = None
) -> RecordRead:
    """Read one MedicationAdministration: a dose given, whose time is a last exposure."""
    fields = Fields()
    ident = fields.string(resource, "id", "")
    status = fields.string(resource, "status", "")
    medication, medication_problems = _read_medication(fields, resource, references)
    if medication is None:
        return _no_medication(fields)
    started = ended = None
    period = fields.object(resource, "effectivePeriod", "")
    if period is not None:
        started = fields.start_date(period, "start", "effectivePeriod")
        ended = fields.end_date(period, "end", "effectivePeriod")
    given_first, given_last = fields.dates(resource, "effectiveDateTime", "")
    texts: tuple[str, ...] = ()
    dosage = fields.object(resource, "dosage", "")
    if dosage is not None and _in_full(relevant, medication, medication_problems):
        text = fields.string(dosage, "text", "dosage")
        texts = (text,) if text else ()
    return MedicationRecord(
        source=Source.ADMINISTRATION,
        id=ident,
        status=status,
        medication=medication,
        dosage_text=texts,
        started=started or given_first,
        ended=ended or given_last,
        problems=tuple(fields.problems),
        medication_problems=medication_problems,
    ), []


def medication_readers(
    references: References, relevant: Relevance | None = None
) -> dict[str, Reader[MedicationRecord]]:
    """Return the reader for each medication resource type, resolving through ``references``."""
    return {
        Source.STATEMENT.value: lambda resource: read_statement(resource, references, relevant),
        Source.REQUEST.value: lambda resource: read_request(resource, references, relevant),
        Source.DISPENSE.value: lambda resource: read_dispense(resource, references, relevant),
        Source.ADMINISTRATION.value: lambda resource: read_administration(
            resource, references, relevant
        ),
    }


def read_medication_records(
    resources: Iterable[object],
    *,
    medications: Mapping[str, object] | None = None,
    relevant: Relevance | None = None,
) -> MappingResult[MedicationRecord]:
    """Read the four medication resource types into records, reporting what is not.

    ``resources`` may also hold the Medication (and Substance) resources they reference, as a
    search with ``_include`` returns them. ``medications`` adds Medications fetched separately,
    keyed by the reference that names them (``Medication/123`` or a full URL).

    ``relevant``, when given, decides per medication whether a record's doses, dosage texts
    and supply are read: a record it declines keeps its status, dates and medication (and the
    problems met reading them) with no doses, dosage or supply. A record whose medication could
    not be read cleanly is always read in full.
    """
    items = list(resources)
    references = References()
    if medications:
        references.add_all(medications)
    for item in items:
        if is_referenced_type(item):
            references.add(item)
    return map_resources(
        ((f"resources[{index}]", item) for index, item in enumerate(items)),
        medication_readers(references, relevant),
        REFERENCED_TYPES,
    )
