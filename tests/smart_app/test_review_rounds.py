"""The review waits for one round of FHIR reads, not one read after another (a user notices the
latency): on the real FHIR server, through a proxy that delays every request and records when
each arrived and was answered, the review's reads overlap, and a long chart is not paged through
in many small pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from flask import Flask

from benchmarks.delay_proxy import DelayProxy, sequential_rounds
from ldn_safety.app import create_app
from sandbox.patients import Expectation
from tests.conftest import SampleFhirServer
from tests.smart_app.pages_testkit import APP, launch_context, sign_in

pytestmark = pytest.mark.integration

# Long enough that reads made one after another can never look as if they overlapped.
DELAY_SECONDS = 0.3
# The Patient, four medication sources and the Conditions.
READS = {
    "Patient",
    "MedicationStatement",
    "MedicationRequest",
    "MedicationDispense",
    "MedicationAdministration",
    "Condition",
}


@pytest.fixture(scope="module")
def proxy(fhir_server: SampleFhirServer) -> Iterator[DelayProxy]:
    with DelayProxy(fhir_server.base_url, DELAY_SECONDS) as running:
        yield running


@pytest.fixture(scope="module")
def app(proxy: DelayProxy, tmp_path_factory: pytest.TempPathFactory, sample_today: date) -> Flask:
    folder: Path = tmp_path_factory.mktemp("review-rounds")
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "review-rounds",
            "SERVER_NAME": "app.example.test",
            "PREFERRED_URL_SCHEME": "https",
            "SESSION_DIR": str(folder / "sessions"),
            "DATABASE_URL": f"sqlite:///{folder / 'store.sqlite3'}",
            "SMART_ISSUERS": {proxy.base_url: {"client_id": "ldn-app"}},
            "TODAY": lambda: sample_today,
        }
    )


@pytest.mark.parametrize("patient", ["oxycodone-active", "many-records"])
def test_the_review_reads_the_chart_in_at_most_two_sequential_rounds(
    app: Flask,
    proxy: DelayProxy,
    fhir_server: SampleFhirServer,
    sample_expectations: dict[str, Expectation],
    patient: str,
) -> None:
    browser = app.test_client()
    patient_id = fhir_server.patient_ids[patient]
    launch_id = sign_in(browser, launch_context(iss=proxy.base_url, patient=patient_id))
    proxy.take_served()
    response = browser.get(f"{APP}/review", query_string={"launch_id": launch_id})
    served = proxy.take_served()
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'data-status="{sample_expectations[patient].status}"' in page
    # Every source was read, each in one page (the long chart holds 300 records)...
    assert sorted(s.path.split("?")[0].split("/")[2] for s in served) == sorted(READS)
    # ...and the reads overlapped instead of waiting for each other.
    assert sequential_rounds(served) <= 2
