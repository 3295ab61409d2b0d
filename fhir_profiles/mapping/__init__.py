"""FHIR R4 JSON (as parsed by orjson) to the clinical record model, fast and without FHIR models.

This is the CDS hot path: it reads plain dicts and lists and never builds ``fhir.resources``
models. It never raises on bad input: whatever cannot be read is reported in
``MappingResult.problems`` (or, for a medication record read in part, in the record's own
``problems``), and text passes through untouched (escaping is the renderer's job).
"""

from fhir_profiles.mapping.bundle import read_bundle, read_condition_bundle
from fhir_profiles.mapping.conditions import read_conditions
from fhir_profiles.mapping.medication_records import read_for_decision, read_medication_records
from fhir_profiles.mapping.outcome import is_operation_outcome, summarise_operation_outcome
from fhir_profiles.mapping.patient import PatientBanner, read_patient
from fhir_profiles.mapping.result import MappingResult, Problem

__all__ = [
    "MappingResult",
    "PatientBanner",
    "Problem",
    "is_operation_outcome",
    "read_bundle",
    "read_condition_bundle",
    "read_conditions",
    "read_for_decision",
    "read_medication_records",
    "read_patient",
    "summarise_operation_outcome",
]
