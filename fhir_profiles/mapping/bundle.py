"""Bundles (searchset with ``_include``, transaction, collection) to records.

A Bundle's Medication entries resolve ``medicationReference`` by ``Medication/id``, by absolute
fullUrl, or by ``urn:uuid:`` fullUrl (a transaction's placeholder ids). One Bundle is one page:
the caller follows ``next`` links and reads each page (``_include``d resources come on the page
of the resource that references them).
"""

from __future__ import annotations

from collections.abc import Mapping

from clinical.records import ConditionRecord, MedicationRecord
from fhir_profiles.mapping.conditions import CONDITION_READERS
from fhir_profiles.mapping.fields import describe
from fhir_profiles.mapping.medication_records import medication_readers, sort_reads
from fhir_profiles.mapping.outcome import is_operation_outcome, summarise_operation_outcome
from fhir_profiles.mapping.references import REFERENCED_TYPES, References, is_referenced_type
from fhir_profiles.mapping.resources import map_resources
from fhir_profiles.mapping.result import MappingResult, Problem

Positioned = list[tuple[str, object]]


def _unpack(bundle: object, references: References) -> tuple[Positioned, list[Problem]]:
    """Return the entry resources by position and the problems of the Bundle and its entries.

    Medication and Substance entries are added to ``references`` under their fullUrl and id.
    """
    if not isinstance(bundle, dict):
        return [], [Problem("Bundle", f"is {describe(bundle)}")]
    if is_operation_outcome(bundle):
        summary = summarise_operation_outcome(bundle)
        return [], [Problem("Bundle", f"is an OperationOutcome: {summary}")]
    if bundle.get("resourceType") != "Bundle":
        return [], [Problem("Bundle", f"is {describe(bundle)}, not a Bundle")]
    entries = bundle.get("entry")
    if entries is None:
        return [], []
    if not isinstance(entries, list):
        return [], [Problem("Bundle.entry", "is not an array")]
    items: Positioned = []
    problems: list[Problem] = []
    for index, entry in enumerate(entries):
        position = f"Bundle.entry[{index}]"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if resource is None:
            message = "has no resource" if isinstance(entry, dict) else "is not an object"
            problems.append(Problem(position, message))
            continue
        items.append((position, resource))
        if is_referenced_type(resource):
            references.add(resource, entry.get("fullUrl"))
    return items, problems


def read_bundle(
    bundle: object, *, medications: Mapping[str, object] | None = None
) -> MappingResult[MedicationRecord]:
    """Read a Bundle's MedicationStatements and MedicationRequests, reporting every other entry."""
    references = References()
    if medications:
        references.add_all(medications)
    items, problems = _unpack(bundle, references)
    return sort_reads(
        map_resources(items, medication_readers(references), REFERENCED_TYPES), tuple(problems)
    )


def read_condition_bundle(bundle: object) -> MappingResult[ConditionRecord]:
    """Read a Bundle's Conditions, reporting every other entry."""
    items, problems = _unpack(bundle, References())
    mapped = map_resources(items, CONDITION_READERS)
    return MappingResult(records=mapped.records, problems=(*problems, *mapped.problems))
