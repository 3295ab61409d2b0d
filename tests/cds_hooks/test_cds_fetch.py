"""Without prefetch the service reads the FHIR server in one round: every query at once, each in
one large page, so the EHR's wait is the slowest query's, not the sum of six queries and their
pages; a query that breaks fails its own source only. On the real FHIR server, through a proxy
that delays every request and records when each arrived and was answered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from benchmarks.delay_proxy import DelayProxy, sequential_rounds
from benchmarks.fetch import queries
from cds_hooks.fetch import fetch_all
from fhir_client import FhirClient
from tests.conftest import SampleFhirServer

pytestmark = pytest.mark.integration

# Long enough that queries made one after another can never look as if they overlapped.
DELAY_SECONDS = 0.3


@pytest.fixture(scope="module")
def proxy(fhir_server: SampleFhirServer) -> Iterator[DelayProxy]:
    with DelayProxy(fhir_server.base_url, DELAY_SECONDS) as running:
        yield running


def test_every_query_runs_at_once_and_a_long_chart_comes_in_one_page(
    proxy: DelayProxy, fhir_server: SampleFhirServer
) -> None:
    asked = queries(fhir_server.patient_ids["many-records"])
    proxy.take_served()
    found = fetch_all(proxy.base_url, "a-token", asked, deadline=30)
    served = proxy.take_served()
    assert {key: fetched.failure for key, fetched in found.items()} == dict.fromkeys(
        (q.key for q in asked), None
    )
    # The sample's long chart, read in full: 151 statements and 149 orders.
    assert len(found["medicationStatements"].resources) == 151
    assert len(found["medicationRequests"].resources) == 149
    assert len(served) == len(asked)
    assert sequential_rounds(served) == 1


def test_the_rounds_counted_are_the_queries_made_one_after_another(
    proxy: DelayProxy, fhir_server: SampleFhirServer
) -> None:
    asked = queries(fhir_server.patient_ids["many-records"])[:3]
    proxy.take_served()
    for query in asked:
        assert fetch_all(proxy.base_url, None, [query], deadline=30)[query.key].failure is None
    assert sequential_rounds(proxy.take_served()) == 3


def test_an_unexpected_error_in_one_query_fails_that_source_only(
    proxy: DelayProxy,
    fhir_server: SampleFhirServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    search = FhirClient.search

    def broken_for_statements(client: FhirClient, resource_type: str, *args: Any) -> Any:
        if resource_type == "MedicationStatement":
            raise RuntimeError("a bug")
        return search(client, resource_type, *args)

    monkeypatch.setattr(FhirClient, "search", broken_for_statements)
    asked = queries(fhir_server.patient_ids["oxycodone-active"])
    with caplog.at_level(logging.ERROR, logger="ldn.cds_hooks.fetch"):
        found = fetch_all(proxy.base_url, None, asked, deadline=30)
    assert found["medicationStatements"].failure == "the FHIR server's answer could not be read"
    assert found["medicationStatements"].resources == ()
    assert all(found[q.key].failure is None for q in asked if q.key != "medicationStatements")
    assert [getattr(r, "event", None) for r in caplog.records] == ["fhir-fetch-error"]
