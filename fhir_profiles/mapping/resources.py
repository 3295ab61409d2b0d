"""Map a sequence of resources with one reader per resource type, reporting everything else."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from fhir_profiles.mapping.fields import JsonObject, describe
from fhir_profiles.mapping.outcome import (
    is_informational,
    is_operation_outcome,
    summarise_operation_outcome,
)
from fhir_profiles.mapping.result import MappingResult, Problem

T = TypeVar("T")

# A reader returns the record, or None, and problems: why there is no record, or what of the
# record could not be read (when the record type has no field of its own for that).
Reader = Callable[[JsonObject], tuple[T | None, Sequence[str]]]


def map_resources(
    items: Iterable[tuple[str, object]],
    readers: Mapping[str, Reader[T]],
    referenced_types: frozenset[str] = frozenset(),
) -> MappingResult[T]:
    """Read each ``(position, resource)`` with the reader for its type; report all the rest.

    ``referenced_types`` are resources that only serve to resolve references (Medication,
    Substance): they are neither records nor problems. So is an OperationOutcome whose issues
    are all informational; any other OperationOutcome is reported with its summary.
    """
    records: list[T] = []
    problems: list[Problem] = []
    expected = " or ".join(readers)
    for position, item in items:
        if not isinstance(item, dict):
            problems.append(Problem(position, f"is {describe(item)}"))
            continue
        kind = item.get("resourceType")
        if not isinstance(kind, str):
            problems.append(Problem(position, "is a JSON object without a resourceType"))
            continue
        reader = readers.get(kind)
        if reader is not None:
            record, notes = reader(item)
            if record is not None:
                records.append(record)
            elif not notes:
                notes = ["could not be read"]
            # Only the (rare) problems pay for naming the resource.
            if notes:
                where = f"{position} {describe(item)}"
                if record is None:
                    problems.append(Problem(where, "; ".join(notes), kind))
                else:
                    problems.extend(Problem(where, note, kind) for note in notes)
        elif kind in referenced_types:
            continue
        elif is_operation_outcome(item):
            if not is_informational(item):
                summary = summarise_operation_outcome(item)
                where = f"{position} {describe(item)}"
                problems.append(Problem(where, f"the server reported: {summary}", kind))
        else:
            problems.append(Problem(f"{position} {describe(item)}", f"is not a {expected}", kind))
    return MappingResult(records=tuple(records), problems=tuple(problems))
