"""What a mapping call returns: the records it could read and the problems it met."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from clinical.records import RecordGlance

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Problem:
    """Input that could not be read: where (``resources[2] MedicationStatement/a``) and why."""

    where: str
    message: str
    # The resourceType of the entry or item the problem is about, when it has one: lets a caller
    # tell a malformed MedicationRequest (data not checked) from, say, a ServiceRequest among
    # draft orders (nothing to check).
    resource_type: str | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True, slots=True)
class MappingResult(Generic[T]):
    """The records read from the input, plus every problem not already carried on a record.

    Each input resource ends up in exactly one place: a record, a glance (a medication record
    its caller's relevance test declined: ``read_medication_records``), a problem, or (for
    Medication, Substance and purely informational OperationOutcome resources) the material used
    to resolve references. A ``MedicationRecord`` that was read only in part carries its own
    ``problems``; Condition and Patient records have no such field, so their partial problems
    are listed here next to the record.
    """

    records: tuple[T, ...] = ()
    problems: tuple[Problem, ...] = ()
    glanced: tuple[RecordGlance, ...] = ()
