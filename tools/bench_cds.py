"""Time the CDS service end to end: signed order-select calls with 10 to 10,000 prefetched records.

Builds the real deployable in this process (``ldn_safety.app.create_app`` trusting a fresh ES384
key through an inline JWK Set, its store in SQLite in a temporary folder), drafts low-dose
naltrexone with the sandbox EHR's ``draft_order``, signs a real client JWT per call with its
``ClientKey`` and posts ``order-select`` through Flask's test client, the prefetch holding N
MedicationStatement and MedicationRequest records in a chart's mix (mostly coded non-opioids,
compounded products in contained Medications, a few opioids: one active, the rest long past).

Per N it prints the body size, the median and p95 wall time of a call, where the median call
spends its time (reading and parsing the body, mapping the records, the rules; the rest is the
JWT check, request checks, cards and the store) and, for the largest N, the peak Python memory
of one call (tracemalloc). The phases are timed inside the real call by wrapping the functions
the route calls, so nothing of the pipeline is copied here. The calls run under the cycle
collector as ``ldn-safety serve`` leaves it for its workers (``ldn_safety.collector``). Usage::

    python tools/bench_cds.py [--records 10 100 1000 10000] [--calls N] [--gc-off | --gc-compare]

``--gc-compare`` times calls in pairs, one with Python's cycle collector on and one with it off,
alternating in the same process so that a busy machine slows both alike, and prints both medians.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import tempfile
import time
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any
from unittest import mock

import orjson
from joserfc.jwk import ECKey

from cds_hooks import check, routes
from cds_hooks.state import EXTENSION, CdsState
from ldn_safety.app import create_app
from ldn_safety.collector import prepare_for_workers
from sandbox.cds_client import ClientKey, hook_request
from sandbox.order_drafts import CHOICES_BY_KEY, draft_order, reference

TODAY = date(2026, 6, 15)
PATIENT_ID = "bench-patient"
USER = "Practitioner/bench-prescriber"
ISSUER = "https://ehr.bench.test"
FHIR_BASE = "https://ehr.bench.test/fhir"
SERVICE_BASE = "https://cds.bench.test"
SERVICE_PATH = "/cds-services/ldn-naltrexone-order-select"
RECORD_COUNTS = (10, 100, 1_000, 10_000)

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"

# (RxNorm product, its display, the prescriber's text, the sig): what most of a chart holds.
_NON_OPIOIDS = (
    ("314076", "lisinopril 10 MG Oral Tablet", "Lisinopril 10 mg tablet", "1 tablet daily"),
    ("310798", "hydrochlorothiazide 25 MG Oral Tablet", "HCTZ 25 mg tablet", "1 tablet daily"),
    ("197361", "amlodipine 5 MG Oral Tablet", "Amlodipine 5 mg tablet", "1 tablet daily"),
    ("861007", "metformin hydrochloride 500 MG Oral Tablet", "Metformin 500 mg", "1 tablet bid"),
    ("617310", "atorvastatin 20 MG Oral Tablet", "Atorvastatin 20 mg tablet", "1 tablet nightly"),
    ("312940", "sertraline 50 MG Oral Tablet", "Sertraline 50 mg tablet", "1 tablet daily"),
    ("596934", "duloxetine 60 MG Delayed Release Oral Capsule", "Duloxetine 60 mg", "1 cap daily"),
    ("310431", "gabapentin 300 MG Oral Capsule", "Gabapentin 300 mg capsule", "1 capsule tid"),
    ("198440", "acetaminophen 500 MG Oral Tablet", "Tylenol 500 mg", "1-2 tablets q6h prn"),
)
# Opioid products by code; the long-past opioids also come as a brand named in free text only
# and as a compounded product in a contained Medication (_historic_opioid).
_OPIOID_CODED = (
    ("1049621", "oxycodone hydrochloride 5 MG Oral Tablet", "oxyCODONE 5 mg tablet"),
    ("857002", "acetaminophen 325 MG / hydrocodone bitartrate 5 MG Oral Tablet", "Norco 5-325"),
    ("835603", "tramadol hydrochloride 50 MG Oral Tablet", "Tramadol 50 mg tablet"),
    ("245134", "72 HR fentanyl 0.025 MG/HR Transdermal System", "Fentanyl 25 mcg/hr patch"),
)
_OPIOID_EVERY = 50  # one record in 50 is a (long past) opioid
_CONTAINED_EVERY = 10  # one record in 10 is a compounded product in a contained Medication


class BenchmarkFailed(Exception):
    """A call did not answer 200 with cards: the figures would be meaningless."""


@dataclass(frozen=True, slots=True)
class Row:
    """The figures for one prefetch size; times in seconds, phases as medians over the calls."""

    records: int
    body_bytes: int
    calls: int
    median: float
    p95: float
    parse: float
    mapping: float
    rules: float
    rest: float
    cards: Counter[str]  # cards by indicator (0 for an indicator not answered)
    peak_bytes: int | None


def _day(offset: int) -> str:
    return (TODAY - timedelta(days=offset)).isoformat()


def _coded(code: str, display: str, text: str) -> dict[str, Any]:
    return {"medicationCodeableConcept": {"coding": [_rx(code, display)], "text": text}}


def _rx(code: str, display: str) -> dict[str, str]:
    return {"system": RXNORM, "code": code, "display": display}


def _ingredient(code: str, name: str, milligrams: float) -> dict[str, Any]:
    return {
        "itemCodeableConcept": {"coding": [_rx(code, name)], "text": name},
        "strength": {
            "numerator": {"value": milligrams, "unit": "mg", "system": UCUM, "code": "mg"},
            "denominator": {"value": 1, "unit": "g", "system": UCUM, "code": "g"},
        },
    }


def _contained(text: str, *ingredients: dict[str, Any]) -> dict[str, Any]:
    medication = {
        "resourceType": "Medication",
        "id": "compounded",
        "code": {"text": text},
        "form": {"text": "cream"},
        "ingredient": list(ingredients),
    }
    return {"contained": [medication], "medicationReference": {"reference": "#compounded"}}


def _historic_opioid(index: int) -> dict[str, Any]:
    shape = (index // _OPIOID_EVERY) % (len(_OPIOID_CODED) + 2)
    if shape < len(_OPIOID_CODED):
        return _coded(*_OPIOID_CODED[shape])
    if shape == len(_OPIOID_CODED):
        return {"medicationCodeableConcept": {"text": "Percocet 5/325 mg, 1 tab q6h prn pain"}}
    return _contained("Morphine 0.1% in hydrogel", _ingredient("7052", "morphine", 1))


def _is_opioid(index: int) -> bool:
    return index == 0 or index % _OPIOID_EVERY == _OPIOID_EVERY // 2


def _medication(index: int) -> dict[str, Any]:
    if index == 0:
        return _coded(*_OPIOID_CODED[0])
    if _is_opioid(index):
        return _historic_opioid(index)
    if index % _CONTAINED_EVERY == _CONTAINED_EVERY - 3:
        return _contained(
            "Gabapentin 6% / baclofen 2% cream (compounded)",
            _ingredient("25480", "gabapentin", 60),
            _ingredient("1292", "baclofen", 20),
        )
    code, display, text, _ = _NON_OPIOIDS[index % len(_NON_OPIOIDS)]
    return _coded(code, display, text)


def _dosage(index: int) -> dict[str, Any]:
    sig = "1 tablet every 6 hours as needed for pain"
    if not _is_opioid(index):
        sig = _NON_OPIOIDS[index % len(_NON_OPIOIDS)][3]
    return {
        "text": sig,
        "timing": {"repeat": {"frequency": 1 + index % 3, "period": 1, "periodUnit": "d"}},
        "route": {"coding": [{"system": SNOMED, "code": "26643006", "display": "Oral route"}]},
        "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
    }


def _span(index: int) -> tuple[str, int, int | None]:
    """Return the status, days since the start and days since the end (None when open)."""
    if index == 0:
        return "active", 3, None
    if _is_opioid(index):
        # Long past: outside every washout, so only the active one makes the card critical.
        started = 400 + index % 300
        return "completed", started, started - 10
    started = 40 + (index * 37) % 1500
    return ("active", started, None) if index % 3 else ("completed", started, started - 30)


def _statement(index: int) -> dict[str, Any]:
    status, started, ended = _span(index)
    period = {"start": _day(started), **({"end": _day(ended)} if ended is not None else {})}
    return {
        "resourceType": "MedicationStatement",
        "id": f"ms-{index}",
        "meta": {"lastUpdated": f"{_day(started)}T09:30:00Z"},
        "status": status,
        **_medication(index),
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "effectivePeriod": period,
        "dateAsserted": f"{_day(started)}T09:30:00Z",
        "informationSource": {"reference": USER},
        "dosage": [_dosage(index)],
    }


def _request(index: int) -> dict[str, Any]:
    status, started, _ = _span(index)
    # Opioids are written for days without refills; the rest for a month with refills.
    supply = 10 if _is_opioid(index) else 30
    repeats = 0 if _is_opioid(index) else 5
    return {
        "resourceType": "MedicationRequest",
        "id": f"mr-{index}",
        "meta": {"lastUpdated": f"{_day(started)}T09:30:00Z"},
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.3.9999.1", "value": f"rx-{index}"}],
        "status": status,
        "intent": "order",
        **_medication(index),
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "authoredOn": _day(started),
        "requester": {"reference": USER},
        "dosageInstruction": [_dosage(index)],
        "dispenseRequest": {
            "validityPeriod": {
                "start": _day(started),
                "end": _day(started - supply * (repeats + 1)),
            },
            "numberOfRepeatsAllowed": repeats,
            "quantity": {"value": supply, "unit": "tablet"},
            "expectedSupplyDuration": {
                "value": supply,
                "unit": "days",
                "system": UCUM,
                "code": "d",
            },
        },
    }


def _searchset(resources: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {
                "fullUrl": f"{FHIR_BASE}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


def _condition(code: str, display: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": f"condition-{code}",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {"coding": [{"system": SNOMED, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
    }


def chart_prefetch(records: int) -> dict[str, Any]:
    """Return a prefetch with ``records`` medication records, half statements, half requests."""
    return {
        "patient": {"resourceType": "Patient", "id": PATIENT_ID},
        "medicationStatements": _searchset([_statement(i) for i in range(1, records, 2)]),
        "medicationRequests": _searchset([_request(i) for i in range(0, records, 2)]),
        "medicationDispenses": None,
        "medicationAdministrations": None,
        "conditions": _searchset(
            [
                _condition("203082005", "Fibromyalgia (disorder)"),
                _condition("38341003", "Hypertensive disorder, systemic arterial (disorder)"),
            ]
        ),
    }


class _PhaseClock:
    """Add up, per call, the time spent inside the wrapped functions of each phase."""

    def __init__(self) -> None:
        self.current: defaultdict[str, float] = defaultdict(float)

    def wrap(self, phase: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """Return ``function`` adding its wall time to ``phase``."""

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.current[phase] += time.perf_counter() - began

        return timed


# What each phase is, by the functions the route and the check call (looked up as module
# globals at call time, so wrapping them times the real call).
_PHASES: tuple[tuple[str, ModuleType, str], ...] = (
    ("parse", routes, "_json_body"),
    ("mapping", check, "read_bundle"),
    ("mapping", check, "read_for_decision"),
    ("mapping", check, "read_conditions"),
    ("rules", check, "recognise_naltrexone"),
    ("rules", check, "assess_naltrexone_order"),
    ("rules", check, "match_conditions"),
    ("rules", check, "find_cautions"),
)


@contextmanager
def _phases_timed(clock: _PhaseClock) -> Iterator[None]:
    with ExitStack() as stack:
        for phase, module, name in _PHASES:
            original = getattr(module, name)
            stack.enter_context(mock.patch.object(module, name, clock.wrap(phase, original)))
        yield


@contextmanager
def collector_as_served() -> Iterator[None]:
    """Run the block under the cycle collector as ``ldn-safety serve`` leaves it for its
    workers (``ldn_safety.collector``), then put the collector back as it was."""
    threshold = gc.get_threshold()
    prepare_for_workers()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


class CdsBench:
    """The deployable in this process, trusting one fresh ES384 client key."""

    def __init__(self, workdir: Path) -> None:
        self._key = ClientKey(ECKey.generate_key("P-384"))
        self._app = create_app(
            {
                "SECRET_KEY": "bench-secret",
                "LOG_LEVEL": "WARNING",
                "DATABASE_URL": f"sqlite:///{workdir / 'cds.sqlite3'}",
                "SESSION_DIR": str(workdir / "sessions"),
                "PUBLIC_BASE_URL": SERVICE_BASE,
                "CDS_TRUSTED_CLIENTS": {ISSUER: {"jwks": self._key.jwks()}},
                "TODAY": lambda: TODAY,
            }
        )
        self._collector = ExitStack()
        self._collector.enter_context(collector_as_served())
        self._client = self._app.test_client()
        self._order = draft_order(CHOICES_BY_KEY["ldn-1.5"], PATIENT_ID, USER)

    def __enter__(self) -> CdsBench:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        state: CdsState = self._app.extensions[EXTENSION]
        state.store.close()
        self._collector.close()

    def body(self, prefetch: Mapping[str, Any]) -> bytes:
        """Return the JSON of one order-select call selecting the LDN draft."""
        request = hook_request(
            "order-select",
            patient_id=PATIENT_ID,
            user=USER,
            draft_orders=[self._order],
            selections=[reference(self._order)],
            prefetch=prefetch,
            encounter_id="bench-encounter",
        )
        return orjson.dumps(request)

    def call(self, body: bytes) -> tuple[float, list[dict[str, Any]]]:
        """Post ``body`` with a fresh client JWT; return the wall time and the cards."""
        token = self._key.sign(ISSUER, SERVICE_BASE + SERVICE_PATH)
        began = time.perf_counter()
        response = self._client.post(
            SERVICE_PATH,
            data=body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )
        elapsed = time.perf_counter() - began
        answer = response.get_json(silent=True)
        if response.status_code != 200 or not isinstance(answer, dict):
            raise BenchmarkFailed(f"HTTP {response.status_code}: {response.get_data(True)[:300]}")
        cards: list[dict[str, Any]] = answer["cards"]
        return elapsed, cards


def _p95(values: Sequence[float]) -> float:
    """Return the nearest-rank 95th percentile (the slowest call when there are under 20)."""
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def _peak_bytes(bench: CdsBench, body: bytes) -> int:
    tracemalloc.start()
    try:
        bench.call(body)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def measure(bench: CdsBench, records: int, calls: int, *, trace_memory: bool = False) -> Row:
    """Time ``calls`` order-select calls with ``records`` prefetched records (after a warm-up)."""
    # Held as JSON text: a million live client-side objects would slow the service's garbage
    # collector, which a real service process never carries.
    prefetch = {
        key: orjson.Fragment(orjson.dumps(value)) for key, value in chart_prefetch(records).items()
    }
    bench.call(bench.body(prefetch))  # warm-up: first-use caches are not what a clinician waits on
    clock = _PhaseClock()
    totals: list[float] = []
    phases: dict[str, list[float]] = {"parse": [], "mapping": [], "rules": [], "rest": []}
    cards: list[dict[str, Any]] = []
    body = b""
    with _phases_timed(clock):
        for _ in range(calls):
            body = bench.body(prefetch)
            clock.current.clear()
            elapsed, cards = bench.call(body)
            totals.append(elapsed)
            for phase in ("parse", "mapping", "rules"):
                phases[phase].append(clock.current[phase])
            phases["rest"].append(elapsed - sum(clock.current.values()))
    return Row(
        records=records,
        body_bytes=len(body),
        calls=calls,
        median=statistics.median(totals),
        p95=_p95(totals),
        parse=statistics.median(phases["parse"]),
        mapping=statistics.median(phases["mapping"]),
        rules=statistics.median(phases["rules"]),
        rest=statistics.median(phases["rest"]),
        cards=Counter(card["indicator"] for card in cards),
        peak_bytes=_peak_bytes(bench, body) if trace_memory else None,
    )


@contextmanager
def _collector_off() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def compare_collector(bench: CdsBench, records: int, pairs: int) -> tuple[float, float]:
    """Return the median call time with the cycle collector on and off, timed in pairs."""
    prefetch = {
        key: orjson.Fragment(orjson.dumps(value)) for key, value in chart_prefetch(records).items()
    }
    bench.call(bench.body(prefetch))  # warm-up
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(pairs):
        for collector_on in (True, False):
            body = bench.body(prefetch)
            with nullcontext() if collector_on else _collector_off():
                times[collector_on].append(bench.call(body)[0])
    return statistics.median(times[True]), statistics.median(times[False])


def default_calls(records: int) -> int:
    """Return how many calls to time: 30 for small charts, down to 5 at 10,000 records."""
    return max(5, min(30, 10_000 // records))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


def print_table(rows: Sequence[Row]) -> None:
    """Print the figures, one line per prefetch size, then the memory of the largest."""
    print(
        "records  body MB  calls  median ms   p95 ms | parse ms   map ms rules ms  rest ms"
        " | e2e/parse  cards (critical/warning/info)"
    )
    for row in rows:
        cards = "/".join(str(row.cards[kind]) for kind in ("critical", "warning", "info"))
        print(
            f"{row.records:7,}  {row.body_bytes / 1e6:7.2f}  {row.calls:5} "
            f"{_ms(row.median)}  {_ms(row.p95)} | {_ms(row.parse)} {_ms(row.mapping)} "
            f"{_ms(row.rules)} {_ms(row.rest)} | {row.median / row.parse:8.1f}x  {cards}"
        )
    for row in rows:
        if row.peak_bytes is not None:
            print(
                f"peak Python memory of one call with {row.records:,} records: "
                f"{row.peak_bytes / 1e6:.1f} MB ({row.peak_bytes / row.body_bytes:.1f}x the body)"
            )


def main() -> None:
    """Time the CDS service for each prefetch size and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=list(RECORD_COUNTS))
    parser.add_argument("--calls", type=int, help="calls per size (default: 30 down to 5)")
    parser.add_argument(
        "--gc-off",
        action="store_true",
        help="switch Python's cyclic garbage collector off during the calls, to see its share",
    )
    parser.add_argument(
        "--gc-compare",
        action="store_true",
        help="time calls in pairs with the collector on and off, and print both medians",
    )
    args = parser.parse_args()
    if args.gc_compare:
        with tempfile.TemporaryDirectory() as workdir, CdsBench(Path(workdir)) as bench:
            print("records  pairs  collector on ms  collector off ms  off/on")
            for records in args.records:
                pairs = args.calls or default_calls(records)
                on, off = compare_collector(bench, records, pairs)
                print(f"{records:7,}  {pairs:5}  {_ms(on):>14}  {_ms(off):>16}  {off / on:6.2f}")
        return
    largest = max(args.records)
    print(
        "order-select through Flask's test client, in process; a fresh ES384 JWT per call; "
        "phases are medians; rest = JWT check, request checks, cards, store"
        + ("; garbage collector OFF" if args.gc_off else "")
    )
    with (
        tempfile.TemporaryDirectory() as workdir,
        CdsBench(Path(workdir)) as bench,
        _collector_off() if args.gc_off else nullcontext(),
    ):
        rows = [
            measure(
                bench,
                records,
                args.calls or default_calls(records),
                trace_memory=records == largest,
            )
            for records in args.records
        ]
    print_table(rows)


if __name__ == "__main__":
    main()
