"""Print how many medication records per second the opioid rules handle.

Builds 10,000 records in the mix a real chart has (coded products, ingredient codes, brand and
generic names in free text, compounded Medications, non-opioids) and times ``identify_opioid`` and
the whole ``assess_naltrexone_order``. Usage::

    python tools/bench_clinical.py [--records 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from datetime import date, timedelta

from clinical.assessment import assess_naltrexone_order
from clinical.opioids import OpioidKnowledge, identify_opioid
from clinical.records import (
    RXNORM,
    Coding,
    Concept,
    Ingredient,
    Medication,
    MedicationRecord,
    Quantity,
    Source,
)
from clinical.text import medication_words, words

TODAY = date(2026, 6, 15)


def _medications(knowledge: OpioidKnowledge) -> list[Medication]:
    products = list(knowledge.products.values())[::25]
    mix = [
        *(Medication(Concept((Coding(RXNORM, p.rxcui, p.name),))) for p in products),
        *(Medication(Concept(text=p.name)) for p in products),
        Medication(Concept((Coding(RXNORM, "7804", "oxycodone"),))),
        Medication(Concept(text="Norco 5/325 mg tablet, take 1 every 6 hours as needed")),
        Medication(Concept(text="Tylenol w/ Codeine #3")),
        Medication(
            Concept(text="Naltrexone 4.5 mg capsule (compounded)"),
            ingredients=(
                Ingredient(Concept((Coding(RXNORM, "7243", "naltrexone"),)), Quantity(4.5, "mg")),
            ),
        ),
    ]
    # Most of a chart is not opioids.
    fillers = [
        Medication(Concept((Coding(RXNORM, str(100000 + i), f"lisinopril {i} MG Oral Tablet"),)))
        for i in range(len(mix) * 3)
    ]
    return mix + fillers


def _records(knowledge: OpioidKnowledge, count: int) -> list[MedicationRecord]:
    medications = itertools.cycle(_medications(knowledge))
    return [
        MedicationRecord(
            source=Source.STATEMENT if i % 2 else Source.REQUEST,
            id=str(i),
            status=("active", "completed", "stopped", "unknown")[i % 4],
            medication=next(medications),
            started=TODAY - timedelta(days=i % 900),
            ended=TODAY - timedelta(days=i % 700) if i % 3 else None,
            supply_days=30 if i % 5 == 0 else None,
        )
        for i in range(count)
    ]


def _rate(
    label: str, count: int, repeat: int, run: Callable[[], object], knowledge: OpioidKnowledge
) -> None:
    best = min(_timed(run, knowledge) for _ in range(repeat))
    print(f"{label}: {count / best:,.0f} records/s ({best * 1000:.1f} ms for {count:,})")


def _timed(run: Callable[[], object], knowledge: OpioidKnowledge) -> float:
    # Time the cold path: names are tokenised and read afresh.
    words.cache_clear()
    medication_words.cache_clear()
    knowledge.names.clear_cache()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    """Time the opioid rules on a synthetic chart and print records per second."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    knowledge = OpioidKnowledge.load()
    records = _records(knowledge, args.records)
    _rate(
        "identify_opioid",
        len(records),
        args.repeat,
        lambda: [identify_opioid(r.medication, knowledge) for r in records],
        knowledge,
    )
    _rate(
        "assess_naltrexone_order",
        len(records),
        args.repeat,
        lambda: assess_naltrexone_order(None, records, knowledge, TODAY),
        knowledge,
    )


if __name__ == "__main__":
    main()
