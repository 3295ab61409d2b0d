"""The sandbox EHR's pages against the real FHIR server (the CDS service is not running here)."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from sandbox.auth import LaunchContext, current_auth
from sandbox.auth.launch import APP_CONTEXT_LIMIT
from sandbox.fhir_server import free_loopback_port
from sandbox.patients import expectations, sample_keys
from tests.sandbox.ehr_testkit import APP_ORIGIN, PROXY_BASE, card_indicators, sandbox_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def app(fhir_server: Any) -> Flask:
    return sandbox_app(fhir_server.base_url)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="module")
def ids(fhir_server: Any) -> dict[str, str]:
    return dict(fhir_server.patient_ids)


def test_patient_list_shows_every_sample_patient_with_markup_as_text(
    client: FlaskClient, ids: dict[str, str]
) -> None:
    response = client.get("/ehr/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for key in sample_keys():
        assert f'href="/ehr/patients/{ids[key]}"' in page
    assert "<%= 7*7 %>" not in page
    assert "<script>alert" not in page
    # As written, isolated, not evaluated.
    assert "<bdi>&lt;script&gt;alert(1)&lt;/script&gt; {{7*7}} ${7*7} &lt;%= 7*7 %&gt;" in page


def test_the_patient_list_names_each_sample_patients_scenario(
    client: FlaskClient, ids: dict[str, str]
) -> None:
    page = client.get("/ehr/").get_data(as_text=True)
    for key, expected in expectations(date.today()).items():
        assert f'<strong class="scenario-key">{key}</strong>' in page
        assert expected.why in html.unescape(page)
    outcome = '(expected: <span class="scenario-outcome">do not start</span>)'
    row = page[page.index('<strong class="scenario-key">methadone-maintenance</strong>') :]
    assert row.startswith(f'<strong class="scenario-key">methadone-maintenance</strong> {outcome}')


def test_the_chart_gives_status_dates_and_the_drug_named_in_a_contained_medication(
    client: FlaskClient, ids: dict[str, str], sample_today: date
) -> None:
    page = client.get(f"/ehr/patients/{ids['fentanyl-contained']}").get_data(as_text=True)
    assert '<bdi class="medication-name">Fentanyl 25 mcg/hour transdermal patch</bdi>' in page
    assert "#med1" not in page
    assert '<span class="medication-facts">(order, active, ordered ' in page
    stopped = client.get(f"/ehr/patients/{ids['hydrocodone-stopped']}").get_data(as_text=True)
    start, end = (sample_today - timedelta(days=n) for n in (19, 5))
    assert f"(statement, completed, from {start} to {end})" in stopped


def test_the_sandbox_has_a_favicon(client: FlaskClient) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.content_type == "image/svg+xml"


def test_pages_carry_a_strict_content_security_policy(client: FlaskClient) -> None:
    policy = client.get("/ehr/").headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert f"frame-src 'self' {APP_ORIGIN}" in policy  # the app, and the sign-in it redirects to
    assert client.get("/ehr/ehr.css").mimetype == "text/css"


def test_chart_shows_the_patients_medications_and_conditions(
    client: FlaskClient, ids: dict[str, str]
) -> None:
    page = client.get(f"/ehr/patients/{ids['fibromyalgia-no-opioids']}").get_data(as_text=True)
    assert "Fibromyalgia" in page
    assert "uloxetine" in page
    assert "Prescribe naltrexone" in page


@pytest.mark.parametrize("patient_id", ["no-such-patient", "bad$id"])
def test_an_unknown_patient_is_a_404_page(client: FlaskClient, patient_id: str) -> None:
    response = client.get(f"/ehr/patients/{patient_id}")
    assert response.status_code == 404
    assert "There is no such patient." in response.get_data(as_text=True)


def test_the_app_runs_in_an_iframe_from_another_host_with_a_launch_for_this_patient(
    app: Flask, client: FlaskClient, ids: dict[str, str]
) -> None:
    patient = ids["liver-disease"]
    page = client.get(f"/ehr/patients/{patient}/app").get_data(as_text=True)
    src = html.unescape(re.search(r'<iframe [^>]*src="([^"]+)"', page).group(1))
    parts = urlsplit(src)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{APP_ORIGIN}/launch"
    assert parts.hostname != "localhost"  # the EHR's host: the app is cross-site
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert query["iss"] == PROXY_BASE
    with app.app_context():
        context = current_auth().launches.redeem(query["launch"])
        assert context is not None
        assert (context.patient, context.user) == (patient, "Practitioner/sandbox-clinician")
        assert context.need_patient_banner is False  # the EHR's own banner is above the frame
        assert current_auth().launches.redeem(query["launch"]) is None  # single use


CARD_CONTEXT = (
    '{"service":"svc","hookInstance":"h-1","order":"MedicationRequest/draft-1",'
    '"orderLabel":"low-dose naltrexone 1.5 mg","status":"do-not-start"}'
)


def cds_answering(fhir_base: str, app_context: str) -> responses.RequestsMock:
    """Mock the CDS service (one order-select card with a smart link); SEKMET is let through."""
    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    mock.add_passthru(fhir_base)
    services = {"services": [{"id": "svc", "hook": "order-select", "prefetch": {}}]}
    mock.get(f"{APP_ORIGIN}/cds-services", json=services)
    link = {"label": "Open", "url": f"{APP_ORIGIN}/launch", "type": "smart"}
    card = {
        "uuid": "c1",
        "summary": "Do not start low-dose naltrexone 1.5 mg: oxycodone is active.",
        "indicator": "critical",
        "source": {"label": "Test"},
        "links": [{**link, "appContext": app_context}],
    }
    mock.post(f"{APP_ORIGIN}/cds-services/svc", json={"cards": [card]})
    return mock


def launch_from_card(fhir_server: Any, patient: str, app_context: str) -> LaunchContext | None:
    """Draft LDN, follow the card's smart link; return the launch context it is bound to."""
    app = sandbox_app(fhir_server.base_url)
    client = app.test_client()
    with cds_answering(fhir_server.base_url, app_context):
        order = client.post(
            f"/ehr/patients/{patient}/orders", data={"product": "ldn-1.5"}, follow_redirects=True
        ).get_data(as_text=True)
    link = html.unescape(re.search(r'href="(/ehr/orders/[^"]+/links/0)"', order).group(1))
    response = client.get(link)
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{APP_ORIGIN}/launch"
    query = {name: values[0] for name, values in parse_qs(location.query).items()}
    assert query["iss"] == PROXY_BASE
    with app.app_context():
        return current_auth().launches.redeem(query["launch"])


def test_a_cards_smart_link_launches_with_the_patient_user_and_the_cards_app_context(
    fhir_server: Any, ids: dict[str, str]
) -> None:
    patient = ids["oxycodone-active"]
    context = launch_from_card(fhir_server, patient, CARD_CONTEXT)
    assert context is not None
    assert (context.patient, context.user) == (patient, "Practitioner/sandbox-clinician")
    assert context.app_context == CARD_CONTEXT  # verbatim, for the token response
    # A card's link opens a new tab, outside the EHR's frame and its banner: the app shows its own.
    assert context.need_patient_banner is True


def test_an_oversized_app_context_is_dropped_and_the_app_still_opens(
    fhir_server: Any, ids: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    patient = ids["oxycodone-active"]
    oversized = '{"order":"MedicationRequest/secret-' + "x" * APP_CONTEXT_LIMIT + '"}'
    with caplog.at_level("WARNING", logger="ldn.sandbox.ehr"):
        context = launch_from_card(fhir_server, patient, oversized)
    assert context is not None
    assert context.patient == patient
    assert context.app_context is None
    (record,) = [r for r in caplog.records if r.name == "ldn.sandbox.ehr"]
    assert record.event == "app_context_dropped"
    assert "secret" not in record.getMessage()


def test_the_order_form_offers_ldn_and_the_50_mg_tablet(
    client: FlaskClient, ids: dict[str, str]
) -> None:
    page = client.get(f"/ehr/patients/{ids['oxycodone-active']}/orders/new").get_data(as_text=True)
    assert "Naltrexone 1.5 mg capsule, compounded" in page
    assert "Naltrexone 50 mg tablet" in page


def test_when_the_cds_service_is_down_the_page_says_the_check_did_not_run(
    client: FlaskClient, ids: dict[str, str]
) -> None:
    response = client.post(
        f"/ehr/patients/{ids['oxycodone-active']}/orders",
        data={"product": "ldn-1.5"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "The opioid-safety check did not run." in page
    assert "This is not an all-clear" in page
    assert card_indicators(page) == []
    sign = re.search(r'action="(/ehr/orders/[^"]+/sign)"', page).group(1)
    signed = client.post(sign, follow_redirects=True).get_data(as_text=True)
    assert "The order is signed" not in signed  # no check, no signature
    assert "did not run" in signed


def test_an_unknown_product_or_order_session_is_refused(
    client: FlaskClient, ids: dict[str, str]
) -> None:
    response = client.post(
        f"/ehr/patients/{ids['oxycodone-active']}/orders", data={"product": "fentanyl"}
    )
    assert response.status_code == 400
    assert client.get("/ehr/orders/not-a-session").status_code == 404


def test_a_stopped_fhir_server_gives_a_503_page() -> None:
    app = sandbox_app(f"http://127.0.0.1:{free_loopback_port()}/fhir")
    response = app.test_client().get("/ehr/")
    assert response.status_code == 503
    assert "FHIR server is not answering" in response.get_data(as_text=True)
