"""Put synthetic charts on the real FHIR server (SEKMET, started as the tests start it): patients
with N medication records each, served behind the delaying proxy.

An EHR's FHIR server answers concurrent queries in parallel (a threaded server such as HAPI FHIR
serves each request on a thread of its own); one SEKMET process answers them one at a time (its
Python work holds one interpreter), so a fetch of several queries could never come near its
slowest query, whatever the client did. The charts are therefore served by as many SEKMET
processes as the FHIR client sends queries at once (``fhir_client.MAX_CONCURRENT``), each on its
own copy of one database, and the proxy hands every request to the one with the fewest in hand.

The records are the benchmark chart's (``benchmarks.charts``: half MedicationStatements, half
MedicationRequests in a real chart's mix, two Conditions), each patient's under ids of its own so
that charts of several sizes live side by side on one server. They go in as transactions of
PUTs by id, so loading again replaces them instead of adding copies.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from benchmarks.charts import PATIENT_ID, chart_prefetch
from benchmarks.delay_proxy import DelayProxy
from benchmarks.servers import STARTUP_SECONDS
from fhir_client import FhirClient
from fhir_client.client import MAX_CONCURRENT
from sandbox.fhir_server import FhirServer

_PER_TRANSACTION = 1_000
_LOAD_TIMEOUT_SECONDS = 300.0
SERVER_COPIES = MAX_CONCURRENT


def chart_resources(patient_id: str, records: int) -> list[dict[str, Any]]:
    """Return the Patient, ``records`` medication records and the Conditions of one chart."""
    prefetch = chart_prefetch(records)
    found: list[dict[str, Any]] = [
        {
            "resourceType": "Patient",
            "id": patient_id,
            "name": [{"use": "official", "family": "Bench", "given": [f"Chart {records}"]}],
            "birthDate": "1970-01-01",
            "gender": "female",
        }
    ]
    for key in ("medicationStatements", "medicationRequests", "conditions"):
        for entry in prefetch[key]["entry"]:
            found.append(_moved(entry["resource"], patient_id))
    return found


def load_chart(base_url: str, patient_id: str, records: int) -> int:
    """Write one chart to the server at ``base_url``; return how many resources it holds."""
    resources = chart_resources(patient_id, records)
    client = FhirClient(base_url, timeout=_LOAD_TIMEOUT_SECONDS)
    for batch in _batches(resources):
        client.transaction(
            {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [
                    {
                        "resource": resource,
                        "request": {
                            "method": "PUT",
                            "url": f"{resource['resourceType']}/{resource['id']}",
                        },
                    }
                    for resource in batch
                ],
            }
        )
    return len(resources)


def _moved(resource: Mapping[str, Any], patient_id: str) -> dict[str, Any]:
    """Return ``resource`` as ``patient_id``'s, under an id no other chart uses."""
    text = orjson.dumps(resource).replace(
        f"Patient/{PATIENT_ID}".encode(), f"Patient/{patient_id}".encode()
    )
    moved: dict[str, Any] = orjson.loads(text)
    moved["id"] = f"{patient_id}-{resource['id']}"
    return moved


def _batches(resources: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(resources), _PER_TRANSACTION):
        yield resources[start : start + _PER_TRANSACTION]


def copy_database(source: Path, target: Path) -> None:
    """Copy SEKMET's SQLite database while the server runs (SQLite's online backup)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(source)) as read, closing(sqlite3.connect(target)) as write:
        read.backup(write)


@dataclass(frozen=True, slots=True)
class ChartsServed:
    """The real FHIR server behind the delaying proxy, and the patient holding each chart size."""

    proxy: DelayProxy
    patients: Mapping[int, str]
    servers: int


@contextmanager
def charts_behind_proxy(
    sizes: Iterable[int], delay: float, copies: int = SERVER_COPIES
) -> Iterator[ChartsServed]:
    """Start ``copies`` SEKMET processes holding one chart per size in ``sizes``, behind a proxy
    adding ``delay`` s to every request."""
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ldn-bench-fhir-")))
        first = stack.enter_context(FhirServer(folder / "1", startup_timeout=STARTUP_SECONDS))
        patients = {size: f"bench-chart-{size}" for size in sizes}
        for size, patient_id in patients.items():
            load_chart(first.base_url, patient_id, size)
        servers = [first]
        for number in range(2, copies + 1):
            copy = FhirServer(folder / str(number), startup_timeout=STARTUP_SECONDS)
            copy_database(first.database_path, copy.database_path)
            servers.append(stack.enter_context(copy))
        proxy = stack.enter_context(DelayProxy([server.base_url for server in servers], delay))
        yield ChartsServed(proxy, patients, len(servers))
