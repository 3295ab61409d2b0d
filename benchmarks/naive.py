"""The naive path: validate the prefetch into fhir.resources models, against the product's mapping.

Full model validation is what a FHIR library offers first; the product maps the JSON it needs
instead (fhir_profiles.mapping) and keeps models for what it writes. This measures why, at one
chart size, side by side in the same process: the models against the mapping for the decision
(``fhir_profiles.mapping.read_for_decision``, what the check and the app's review use: records
that bear on the decision read whole, the others glanced at for their status and dates) and
against the whole mapping of every record (``read_medication_records``).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from fhir.resources.R4B.bundle import Bundle

from benchmarks.charts import chart_prefetch
from clinical.knowledge import load_knowledge
from fhir_profiles.mapping import read_for_decision, read_medication_records


@dataclass(frozen=True, slots=True)
class NaiveRow:
    """Seconds to turn one prefetch's medication Bundles into something the rules can read."""

    records: int
    check_mapping: float
    full_mapping: float
    models: float


def _best(runs: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        gc.collect()  # each path starts from the same heap, not the garbage of the one before
        began = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - began)
    return best


def run(records: int = 1_000, runs: int = 3) -> NaiveRow:
    """Time the three paths over the same JSON text (parsed afresh by each)."""
    prefetch = chart_prefetch(records)
    texts = [orjson.dumps(prefetch[k]) for k in ("medicationStatements", "medicationRequests")]
    opioids = load_knowledge().opioids

    def resources() -> list[object]:
        return [e["resource"] for t in texts for e in orjson.loads(t)["entry"]]

    def check_mapping() -> None:
        read_for_decision(resources(), opioids.for_one_call())

    def full_mapping() -> None:
        read_medication_records(resources())

    def models() -> None:
        for text in texts:
            Bundle.model_validate(orjson.loads(text))

    return NaiveRow(
        records,
        _best(runs, check_mapping),
        _best(runs, full_mapping),
        _best(runs, models),
    )
