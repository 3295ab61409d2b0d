"""Loading the samples: idempotent, dates refreshed, the server's ids, clear errors."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests

from sandbox.fhir_server import FhirServer, free_loopback_port
from sandbox.loader import SampleLoadError, load_samples
from sandbox.patients import TAG_CODE, TAG_SYSTEM, identifier_query, sample_bundle, sample_keys

pytestmark = pytest.mark.integration

TODAY = date(2026, 3, 16)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FhirServer]:
    """Start an empty SEKMET of the test's own (these tests change what the server holds)."""
    with FhirServer(tmp_path) as running:
        yield running


def tagged_count(base_url: str, resource_type: str) -> int:
    """Count the resources of one type that carry the sample tag."""
    response = requests.get(
        f"{base_url}/{resource_type}",
        params={"_tag": f"{TAG_SYSTEM}|{TAG_CODE}", "_summary": "count"},
        timeout=10,
    )
    total: int = response.json()["total"]
    return total


def test_loading_twice_creates_no_duplicates(server: FhirServer) -> None:
    sent = Counter(e["resource"]["resourceType"] for e in sample_bundle(TODAY)["entry"])
    first = load_samples(server.base_url, today=TODAY)
    second = load_samples(server.base_url, today=TODAY)
    assert (first.created, first.updated) == (sum(sent.values()), 0)
    assert (second.created, second.updated) == (0, sum(sent.values()))
    assert second.patient_ids == first.patient_ids
    assert set(first.patient_ids) == set(sample_keys())
    for resource_type in ("Patient", "MedicationStatement", "MedicationRequest", "Condition"):
        assert tagged_count(server.base_url, resource_type) == sent[resource_type]


def test_loading_on_a_later_day_moves_the_dates(server: FhirServer) -> None:
    load_samples(server.base_url, today=TODAY)
    later = TODAY + timedelta(days=4)
    with requests.Session() as session:
        report = load_samples(server.base_url, session, today=later)
    statements = requests.get(
        f"{server.base_url}/MedicationStatement",
        params={"patient": report.patient_ids["hydrocodone-stopped"]},
        timeout=10,
    ).json()
    (entry,) = statements["entry"]
    assert entry["resource"]["effectivePeriod"]["end"] == (later - timedelta(days=5)).isoformat()


def test_patient_ids_are_the_servers_ids(fhir_server) -> None:
    for key, patient_id in fhir_server.patient_ids.items():
        found = requests.get(
            f"{fhir_server.base_url}/{identifier_query('Patient', key)}", timeout=10
        ).json()
        assert [e["resource"]["id"] for e in found["entry"]] == [patient_id]


def test_a_refused_transaction_raises_with_the_servers_reason(fhir_server) -> None:
    # Posted to [base]/Patient instead of [base]: the server refuses it and writes nothing.
    with pytest.raises(SampleLoadError, match=r"HTTP 400.*resourceType 'Bundle' does not match"):
        load_samples(f"{fhir_server.base_url}/Patient", today=TODAY)


def test_an_unreachable_server_raises_a_clear_error() -> None:
    base_url = f"http://127.0.0.1:{free_loopback_port()}/fhir"
    with pytest.raises(SampleLoadError, match="Could not reach the FHIR server"):
        load_samples(base_url, today=TODAY)
