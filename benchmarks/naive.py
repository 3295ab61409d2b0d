"""The naive path: validate the prefetch into fhir.resources models, against the product's mapping.

Full model validation is what a FHIR library offers first; the product maps the JSON it needs
instead (fhir_profiles.mapping) and keeps models for what it writes. This measures why, at one
chart size, side by side in the same process: the models against the mapping for the decision
(``fhir_profiles.mapping.read_for_decision``, what the check and the app's review use: records
that bear on the decision read whole, the others glanced at for their status and dates) and
against the whole mapping of every record (``read_medication_records``). Each path starts from
the same JSON, parsed afresh for every run; that parse comes before either path whichever is
taken, so it is timed apart and reported beside them.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fhir.resources.R4B.bundle import Bundle

from benchmarks.charts import chart_prefetch
from clinical.knowledge import load_knowledge
from fhir_profiles.mapping import read_for_decision, read_medication_records


@dataclass(frozen=True, slots=True)
class NaiveRow:
    """Seconds to turn one prefetch's medication Bundles into something the rules can read."""

    records: int
    parse: float
    check_mapping: float
    full_mapping: float
    models: float


def _best(runs: int, parse: Callable[[], Any], work: Callable[[Any], object]) -> float:
    """Return the best time of ``work`` over ``runs``, each on a fresh ``parse()`` (untimed)."""
    best = float("inf")
    for _ in range(runs):
        parsed = parse()
        gc.collect()  # each path starts from the same heap, not the garbage of the one before
        began = time.perf_counter()
        work(parsed)
        best = min(best, time.perf_counter() - began)
    return best


def run(records: int = 1_000, runs: int = 3) -> NaiveRow:
    """Time the three paths over the same JSON, parsed afresh for each run.

    The parse (orjson) comes before either path and is the same for both: it is timed on its
    own (``parse``), not inside the paths.
    """
    prefetch = chart_prefetch(records)
    texts = [orjson.dumps(prefetch[k]) for k in ("medicationStatements", "medicationRequests")]
    opioids = load_knowledge().opioids

    def bundles() -> list[Any]:
        return [orjson.loads(text) for text in texts]

    def resources(parsed: list[Any]) -> list[object]:
        return [e["resource"] for bundle in parsed for e in bundle["entry"]]

    def check_mapping(parsed: list[Any]) -> None:
        read_for_decision(resources(parsed), opioids.for_one_call())

    def full_mapping(parsed: list[Any]) -> None:
        read_medication_records(resources(parsed))

    def models(parsed: list[Any]) -> None:
        for bundle in parsed:
            Bundle.model_validate(bundle)

    return NaiveRow(
        records,
        _best(runs, lambda: texts, lambda raw: [orjson.loads(text) for text in raw]),
        _best(runs, bundles, check_mapping),
        _best(runs, bundles, full_mapping),
        _best(runs, bundles, models),
    )
