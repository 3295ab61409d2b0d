"""Measure the JSON mapping against fhir.resources model construction on 10,000 statements.

Run from the repository root: ``python tools/bench_mapping.py``. Both paths start from the same
JSON bytes and parse them with orjson; one maps the dicts with ``fhir_profiles.mapping``, the
other builds (and validates) ``fhir.resources.R4B`` MedicationStatement models.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import orjson
from fhir.resources.R4B.medicationstatement import MedicationStatement

from fhir_profiles.mapping import read_medication_records

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"


def statement(index: int) -> dict[str, Any]:
    """Return a realistic MedicationStatement: coded, dated, with one dose."""
    return {
        "resourceType": "MedicationStatement",
        "id": f"ms-{index}",
        "status": "active" if index % 3 else "completed",
        "medicationCodeableConcept": {
            "coding": [
                {"system": RXNORM, "code": "1049621", "display": "oxycodone 5 MG Oral Tablet"}
            ],
            "text": "oxyCODONE 5 mg tablet",
        },
        "subject": {"reference": "Patient/bench"},
        "effectivePeriod": {"start": "2024-01-05", "end": f"2024-{index % 12 + 1:02d}-15"},
        "dateAsserted": "2024-12-01T10:00:00Z",
        "dosage": [
            {
                "text": "5 mg every 6 hours as needed",
                "timing": {"repeat": {"frequency": 1, "period": 6, "periodUnit": "h"}},
                "doseAndRate": [
                    {"doseQuantity": {"value": 5, "unit": "mg", "system": UCUM, "code": "mg"}}
                ],
            }
        ],
    }


def best_of(runs: int, work: Callable[[], object]) -> float:
    """Return the fastest wall time of ``runs`` calls (the least disturbed by other load)."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    """Print resources per second for both paths and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    payload = orjson.dumps([statement(index) for index in range(args.count)])

    def parsing() -> None:
        orjson.loads(payload)

    def mapping() -> None:
        result = read_medication_records(orjson.loads(payload))
        if len(result.records) != args.count or result.problems:
            raise SystemExit(f"mapping lost resources: {result.problems[:3]}")

    def models() -> None:
        for resource in orjson.loads(payload):
            MedicationStatement.model_validate(resource)

    parsed = best_of(args.runs, parsing)
    mapped = best_of(args.runs, mapping)
    modelled = best_of(args.runs, models)
    megabytes = len(payload) / 1e6
    print(f"{args.count} MedicationStatements, {megabytes:.1f} MB of JSON, best of {args.runs}")
    print(f"orjson alone (parse only):      {args.count / parsed:12,.0f} resources/s")
    print(f"orjson + fhir_profiles.mapping: {args.count / mapped:12,.0f} resources/s")
    print(f"orjson + fhir.resources R4B:    {args.count / modelled:12,.0f} resources/s")
    print(f"mapping is {modelled / mapped:.1f}x faster than building R4B models")


if __name__ == "__main__":
    main()
