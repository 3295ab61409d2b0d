"""MedicationStatement, MedicationRequest, MedicationDispense and MedicationAdministration to
``MedicationRecord``.

Dates follow ``clinical.records.MedicationRecord`` field by field; partial dates are resolved as
the ``dates`` module explains (start-like: first day; end-like: last day).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from clinical.opioids import OpioidKnowledge
from clinical.records import Medication, MedicationRecord, RecordGlance, Source
from clinical.relevance import bears_on_decision
from fhir_profiles.mapping.dosage import read_dosages
from fhir_profiles.mapping.fields import Fields, JsonObject
from fhir_profiles.mapping.medication import names_itself, read_medication
from fhir_profiles.mapping.references import REFERENCED_TYPES, References, is_referenced_type
from fhir_profiles.mapping.resources import Reader, map_resources
from fhir_profiles.mapping.result import MappingResult, Problem
from fhir_profiles.mapping.supply import read_days_supply, read_supply_days

Read = MedicationRecord | RecordGlance
RecordRead = tuple[Read | None, list[str]]
MedicationRead = tuple[Medication | None, tuple[str, ...]]
# Says whether a record of this medication is read whole (else only glanced at).
Relevance = Callable[[Medication], bool]


def _in_full(relevant: Relevance | None, medication: Medication, problems: tuple[str, ...]) -> bool:
    return relevant is None or bool(problems) or relevant(medication)


def _read_medication(
    fields: Fields, resource: JsonObject, references: References
) -> MedicationRead:
    """Read medication[x] and the problems met on the way (what the medication is)."""
    noted = len(fields.problems)
    medication = read_medication(fields, resource, references)
    if (
        medication is not None
        and len(fields.problems) == noted
        and id(medication) not in references.named
        and not names_itself(medication)
    ):
        # An empty concept would otherwise pass the rules as a medication that matched nothing.
        fields.note("medication[x] has no code, display or text")
    return medication, tuple(fields.problems[noted:]) if len(fields.problems) > noted else ()


def _no_medication(fields: Fields) -> RecordRead:
    if fields.problems:
        return None, [f"has no readable medication[x]: {'; '.join(fields.problems)}"]
    return None, ["has no medication[x]"]


def read_statement(
    resource: JsonObject, references: References, relevant: Relevance | None = None
) -> RecordRead:
    """Read one MedicationStatement (R4, R4B or R5 shape)."""
    fields = Fields()
    status = fields.string(resource, "status", "")
    medication, medication_problems = _read_medication(fields, resource, references)
    if medication is None:
        return _no_medication(fields)
    started = ended = None
    period = fields.object(resource, "effectivePeriod", "")
    if period is not None:
        started = fields.start_date(period, "start", "effectivePeriod")
        ended = fields.end_date(period, "end", "effectivePeriod")
    if started is None:
        started = fields.start_date(resource, "effectiveDateTime", "")
    asserted = fields.end_date(resource, "dateAsserted", "")
    if not _in_full(relevant, medication, medication_problems):
        return RecordGlance(Source.STATEMENT, status, started, ended, asserted), []
    ident = fields.string(resource, "id", "")
    doses, texts = read_dosages(fields, resource, "dosage")
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
    status = fields.string(resource, "status", "")
    medication, medication_problems = _read_medication(fields, resource, references)
    if medication is None:
        return _no_medication(fields)
    authored_first, authored_last = fields.dates(resource, "authoredOn", "")
    started = ended = None
    dispense = fields.object(resource, "dispenseRequest", "")
    if dispense is not None:
        validity = fields.object(dispense, "validityPeriod", "dispenseRequest")
        if validity is not None:
            path = "dispenseRequest.validityPeriod"
            started = fields.start_date(validity, "start", path)
            ended = fields.end_date(validity, "end", path)
    started = started or authored_first
    if not _in_full(relevant, medication, medication_problems):
        return RecordGlance(Source.REQUEST, status, started, ended, authored_last), []
    ident = fields.string(resource, "id", "")
    doses, texts = read_dosages(fields, resource, "dosageInstruction")
    supply_days = None if dispense is None else read_supply_days(fields, dispense)
    return MedicationRecord(
        source=Source.REQUEST,
        id=ident,
        status=status,
        medication=medication,
        doses=doses,
        dosage_text=texts,
        started=started,
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
    status = fields.string(resource, "status", "")
    medication, medication_problems = _read_medication(fields, resource, references)
    if medication is None:
        return _no_medication(fields)
    # A fill is one event: a partial date takes its last day, so that the supply it starts
    # never looks older than it may be (see the dates module).
    handed_over = fields.end_date(resource, "whenHandedOver", "")
    prepared = fields.end_date(resource, "whenPrepared", "")
    if not _in_full(relevant, medication, medication_problems):
        return RecordGlance(Source.DISPENSE, status, handed_over or prepared, None, None), []
    ident = fields.string(resource, "id", "")
    doses, texts = read_dosages(fields, resource, "dosageInstruction")
    return MedicationRecord(
        source=Source.DISPENSE,
        id=ident,
        status=status,
        medication=medication,
        doses=doses,
        dosage_text=texts,
        started=handed_over or prepared,
        supply_days=read_days_supply(fields, resource),
        problems=tuple(fields.problems),
        medication_problems=medication_problems,
    ), []


def read_administration(
    resource: JsonObject, references: References, relevant: Relevance | None = None
) -> RecordRead:
    """Read one MedicationAdministration: a dose given, whose time is a last exposure."""
    fields = Fields()
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
    started, ended = started or given_first, ended or given_last
    if not _in_full(relevant, medication, medication_problems):
        return RecordGlance(Source.ADMINISTRATION, status, started, ended, None), []
    ident = fields.string(resource, "id", "")
    texts: tuple[str, ...] = ()
    dosage = fields.object(resource, "dosage", "")
    if dosage is not None:
        text = fields.string(dosage, "text", "dosage")
        texts = (text,) if text else ()
    return MedicationRecord(
        source=Source.ADMINISTRATION,
        id=ident,
        status=status,
        medication=medication,
        dosage_text=texts,
        started=started,
        ended=ended,
        problems=tuple(fields.problems),
        medication_problems=medication_problems,
    ), []


def medication_readers(
    references: References, relevant: Relevance | None = None
) -> dict[str, Reader[Read]]:
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

    ``relevant``, when given, decides per medication whether a record is read whole: a record
    it declines is only glanced at (``RecordGlance``: source, status and dates, in
    ``glanced``), its medication, doses, dosage and supply left out. A record whose medication
    could not be read cleanly is always read whole.
    """
    items = list(resources)
    references = References()
    if medications:
        references.add_all(medications)
    for item in items:
        if is_referenced_type(item):
            references.add(item)
    return sort_reads(
        map_resources(
            ((f"resources[{index}]", item) for index, item in enumerate(items)),
            medication_readers(references, relevant),
            REFERENCED_TYPES,
        )
    )


def read_for_decision(
    resources: Iterable[object], knowledge: OpioidKnowledge
) -> MappingResult[MedicationRecord]:
    """Read a chart's medication resources for the naltrexone decision: in ``records`` every
    record whose medication bears on it (``clinical.relevance``), read whole; in ``glanced``
    the source, status and dates of every other, which is all the decision reads of them (the
    sources' coverage). ``knowledge`` is best one call's (``OpioidKnowledge.for_one_call``).
    """
    return read_medication_records(
        resources, relevant=lambda medication: bears_on_decision(medication, knowledge)
    )


def sort_reads(
    mapped: MappingResult[Read], problems: tuple[Problem, ...] = ()
) -> MappingResult[MedicationRecord]:
    """Put the records read whole in ``records`` and the glances in ``glanced``, ``problems``
    first among the problems."""
    records: list[MedicationRecord] = []
    glanced: list[RecordGlance] = []
    for read in mapped.records:
        if isinstance(read, RecordGlance):
            glanced.append(read)
        else:
            records.append(read)
    return MappingResult(tuple(records), (*problems, *mapped.problems), tuple(glanced))
