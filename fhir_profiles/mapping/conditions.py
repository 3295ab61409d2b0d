"""Condition to ``ConditionRecord`` (the chart conditions the evidence summary puts first)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from clinical.records import Concept, ConditionRecord
from fhir_profiles.mapping.datatypes import concept, optional_concept
from fhir_profiles.mapping.fields import Fields, JsonObject
from fhir_profiles.mapping.resources import Reader, map_resources
from fhir_profiles.mapping.result import MappingResult


def read_condition(resource: JsonObject) -> tuple[ConditionRecord | None, Sequence[str]]:
    """Read one Condition; without a readable ``code`` there is nothing to match, so no record.

    ``onset`` is ``onsetDateTime`` or ``onsetPeriod.start`` (first possible day); ``abatement`` is
    ``abatementDateTime`` or ``abatementPeriod.end`` (last possible day, so a resolved condition
    never looks resolved earlier than it may have been).
    """
    fields = Fields()
    ident = fields.string(resource, "id", "")
    code = fields.object(resource, "code", "")
    if code is None:
        return None, fields.problems or ["has no code"]
    onset = fields.start_date(resource, "onsetDateTime", "")
    onset_period = fields.object(resource, "onsetPeriod", "")
    if onset is None and onset_period is not None:
        onset = fields.start_date(onset_period, "start", "onsetPeriod")
    abatement = fields.end_date(resource, "abatementDateTime", "")
    abatement_period = fields.object(resource, "abatementPeriod", "")
    if abatement is None and abatement_period is not None:
        abatement = fields.end_date(abatement_period, "end", "abatementPeriod")
    record = ConditionRecord(
        id=ident,
        code=concept(fields, code, "code"),
        clinical_status=_status(optional_concept(fields, resource, "clinicalStatus", "")),
        verification_status=_status(optional_concept(fields, resource, "verificationStatus", "")),
        onset=onset,
        abatement=abatement,
    )
    return record, fields.problems


def _status(status: Concept | None) -> str | None:
    """Return the status code (the first coding with a code), as sent."""
    if status is None:
        return None
    return next((coding.code for coding in status.codings if coding.code), None)


CONDITION_READERS: dict[str, Reader[ConditionRecord]] = {"Condition": read_condition}


def read_conditions(resources: Iterable[object]) -> MappingResult[ConditionRecord]:
    """Read Condition resources into records, reporting whatever is not a readable Condition."""
    return map_resources(
        ((f"resources[{index}]", item) for index, item in enumerate(resources)),
        CONDITION_READERS,
    )
