"""Without prefetch the service reads the FHIR server in one round: every query at once, each in
one large page, so the EHR's wait is the slowest query's, not the sum of six queries and their
pages. On the real FHIR server, through a proxy that delays every request and records when each
arrived and was answered.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks.delay_proxy import DelayProxy, sequential_rounds
from benchmarks.fetch import queries
from cds_hooks.fetch import fetch_all
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
