"""The FHIR proxy against the real FHIR server: tokens, scopes, compartments, URLs, failures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from sandbox.auth import Scopes, TokenInfo
from sandbox.fhir_server import FhirServer, free_loopback_port
from sandbox.loader import load_samples
from sandbox.proxy_access import AccessDenied, Operation, check_after
from tests.sandbox.ehr_testkit import PROXY_BASE, bearer, issues, sandbox_app, token

pytestmark = pytest.mark.integration

OWN = "oxycodone-active"
OTHER = "hydrocodone-stopped"


@pytest.fixture(scope="module")
def app(fhir_server: Any) -> Flask:
    return sandbox_app(fhir_server.base_url)


@pytest.fixture(scope="module")
def ids(fhir_server: Any) -> dict[str, str]:
    return dict(fhir_server.patient_ids)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def first_statement(base_url: str, patient_id: str) -> str:
    """Return the id of one of the patient's MedicationStatements, read from the server itself."""
    bundle = requests.get(
        f"{base_url}/MedicationStatement", params={"patient": patient_id}, timeout=10
    ).json()
    return str(bundle["entry"][0]["resource"]["id"])


def condition_for(patient_id: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "subject": {"reference": f"Patient/{patient_id}"},
        "code": {"text": "Proxy test condition"},
    }


def test_no_token_is_401_with_a_challenge(client: FlaskClient, ids: dict[str, str]) -> None:
    response = client.get(f"/fhir/Patient/{ids[OWN]}")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "access token is required" in issues(response.get_json())


def test_unknown_token_is_401_invalid_token(client: FlaskClient, ids: dict[str, str]) -> None:
    response = client.get(f"/fhir/Patient/{ids[OWN]}", headers=bearer("not-a-real-token"))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


# (scope, method, path with {own}/{other} patient ids, body patient key or None, status)
SCOPE_TABLE = [
    ("patient/Patient.s", "GET", "Patient/{own}", None, 403),
    ("patient/Patient.r", "GET", "Patient/{own}", None, 200),
    ("patient/MedicationStatement.r", "GET", "MedicationStatement?patient={own}", None, 403),
    ("patient/MedicationStatement.s", "GET", "MedicationStatement?patient={own}", None, 200),
    ("patient/*.read", "GET", "MedicationStatement?subject=Patient/{own}", None, 200),
    ("patient/*.rs", "POST", "Condition", OWN, 403),
    ("patient/*.rs", "GET", "Patient/{other}", None, 403),
    ("patient/*.rs", "GET", "MedicationStatement?patient={other}", None, 403),
    ("patient/*.rs", "GET", "MedicationStatement?patient={own},{other}", None, 403),
    ("patient/*.rs", "GET", "MedicationStatement", None, 403),
    ("patient/*.rs", "GET", "Patient?_id={own}", None, 200),
    ("patient/*.cruds", "POST", "Condition", OTHER, 403),
    ("user/*.rs", "GET", "MedicationStatement?patient={other}", None, 200),
    ("user/*.rs", "GET", "Patient/{other}", None, 200),
]


@pytest.mark.parametrize(("scope", "method", "path", "body_for", "status"), SCOPE_TABLE)
def test_scopes_and_compartments_are_enforced(
    app: Flask,
    client: FlaskClient,
    ids: dict[str, str],
    scope: str,
    method: str,
    path: str,
    body_for: str | None,
    status: int,
) -> None:
    value = token(app, scope, patient=ids[OWN])
    url = "/fhir/" + path.format(own=ids[OWN], other=ids[OTHER])
    body = condition_for(ids[body_for]) if body_for else None
    response = client.open(url, method=method, json=body, headers=bearer(value))
    assert response.status_code == status, response.get_data(as_text=True)
    if status == 403:
        assert response.get_json()["resourceType"] == "OperationOutcome"


def test_reading_another_patients_record_by_id_is_refused(
    app: Flask, client: FlaskClient, fhir_server: Any, ids: dict[str, str]
) -> None:
    # Only the answer says whose record it is: the proxy checks it before passing it on.
    record = first_statement(fhir_server.base_url, ids[OTHER])
    value = token(app, "patient/*.rs", patient=ids[OWN])
    response = client.get(f"/fhir/MedicationStatement/{record}", headers=bearer(value))
    assert response.status_code == 403
    assert "own patient's compartment" in issues(response.get_json())
    own = first_statement(fhir_server.base_url, ids[OWN])
    assert client.get(f"/fhir/MedicationStatement/{own}", headers=bearer(value)).status_code == 200


def test_paging_links_point_at_the_proxy_and_lead_to_every_record(
    app: Flask, client: FlaskClient, ids: dict[str, str]
) -> None:
    patient = ids["many-records"]
    headers = bearer(token(app, "patient/MedicationStatement.rs", patient=patient))
    url: str | None = f"/fhir/MedicationStatement?patient={patient}&_count=50"
    records, pages = [], 0
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200
        bundle = response.get_json()
        pages += 1
        for entry in bundle["entry"]:
            assert entry["fullUrl"].startswith(f"{PROXY_BASE}/MedicationStatement/")
            records.append(entry["resource"]["id"])
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        assert all(link.startswith(f"{PROXY_BASE}/MedicationStatement?") for link in links.values())
        next_url = links.get("next")
        url = f"{urlsplit(next_url).path}?{urlsplit(next_url).query}" if next_url else None
    assert pages == 4
    assert len(set(records)) == 151


def test_metadata_is_public_and_names_the_smart_endpoints(client: FlaskClient) -> None:
    response = client.get("/fhir/metadata")
    assert response.status_code == 200
    statement = response.get_json()
    assert statement["fhirVersion"] == "4.0.1"
    security = statement["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    uris = {e["url"]: e["valueUri"] for e in security["extension"][0]["extension"]}
    assert uris == {
        "authorize": "http://localhost/auth/authorize",
        "token": "http://localhost/auth/token",
    }


def test_smart_configuration_is_served_under_the_proxy_base(client: FlaskClient) -> None:
    response = client.get("/fhir/.well-known/smart-configuration")
    assert response.status_code == 200
    document = response.get_json()
    assert document["token_endpoint"] == "http://localhost/auth/token"
    assert "permission-v2" in document["capabilities"]


def test_a_stopped_fhir_server_gives_503_with_an_outcome() -> None:
    app = sandbox_app(f"http://127.0.0.1:{free_loopback_port()}/fhir")
    value = token(app, "patient/*.rs", patient="p1")
    response = app.test_client().get("/fhir/Patient/p1", headers=bearer(value))
    assert response.status_code == 503
    assert "not reachable" in issues(response.get_json())


def test_a_body_over_the_limit_is_413(fhir_server: Any, ids: dict[str, str]) -> None:
    app = sandbox_app(fhir_server.base_url, max_body_bytes=2000)
    value = token(app, "patient/*.cruds", patient=ids[OWN])
    body = condition_for(ids[OWN]) | {"note": [{"text": "x" * 5000}]}
    response = app.test_client().post("/fhir/Condition", json=body, headers=bearer(value))
    assert response.status_code == 413
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_an_unfiltered_answer_is_refused_even_when_the_search_named_the_patient() -> None:
    # A server that ignores an unknown search parameter answers with everyone's records.
    info = TokenInfo(
        client_id="c",
        scope="patient/*.rs",
        scopes=Scopes.parse("patient/*.rs", "p1"),
        user="Practitioner/1",
        patient="p1",
        encounter=None,
        expires_at=0,
    )
    answer = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": {"resourceType": "Condition", "subject": {"reference": "Patient/p1"}}},
            {"resource": {"resourceType": "Condition", "subject": {"reference": "Patient/p2"}}},
        ],
    }
    operation = Operation("s", "Condition", params=(("patient", "p1"), ("bogus", "1")))
    with pytest.raises(AccessDenied):
        check_after(info, operation, answer)
    answer["entry"].pop()
    check_after(info, operation, answer)


# -- writes, on a server of this module's own ------------------------------------------------


@pytest.fixture(scope="module")
def writable(tmp_path_factory: pytest.TempPathFactory, sample_today: Any) -> Iterator[Any]:
    with FhirServer(Path(tmp_path_factory.mktemp("proxy-writes"))) as server:
        report = load_samples(server.base_url, today=sample_today)
        yield server, report.patient_ids


def count_conditions(base_url: str, patient_id: str) -> int:
    bundle = requests.get(
        f"{base_url}/Condition", params={"patient": patient_id, "_summary": "count"}, timeout=10
    ).json()
    return int(bundle["total"])


def test_create_in_the_own_compartment_succeeds_with_a_proxy_location(writable: Any) -> None:
    server, patient_ids = writable
    app = sandbox_app(server.base_url)
    value = token(app, "patient/Condition.c", patient=patient_ids[OWN])
    response = app.test_client().post(
        "/fhir/Condition", json=condition_for(patient_ids[OWN]), headers=bearer(value)
    )
    assert response.status_code == 201
    assert response.headers["Location"].startswith(f"{PROXY_BASE}/Condition/")


def test_a_transaction_touching_another_patient_writes_nothing(writable: Any) -> None:
    server, patient_ids = writable
    app = sandbox_app(server.base_url)
    value = token(app, "patient/*.cruds", patient=patient_ids[OWN])
    before = count_conditions(server.base_url, patient_ids[OTHER])
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": condition_for(patient_ids[key]),
                "request": {"method": "POST", "url": "Condition"},
            }
            for key in (OWN, OTHER)
        ],
    }
    response = app.test_client().post("/fhir", json=bundle, headers=bearer(value))
    assert response.status_code == 403
    assert count_conditions(server.base_url, patient_ids[OTHER]) == before


def test_update_and_delete_of_another_patients_record_are_refused(writable: Any) -> None:
    server, patient_ids = writable
    app = sandbox_app(server.base_url)
    client = app.test_client()
    headers = bearer(token(app, "patient/*.cruds", patient=patient_ids[OWN]))
    record = first_statement(server.base_url, patient_ids[OTHER])
    original = requests.get(f"{server.base_url}/MedicationStatement/{record}", timeout=10).json()
    # Re-pointing another patient's record at the own patient must not pass the body check.
    moved = original | {"subject": {"reference": f"Patient/{patient_ids[OWN]}"}}
    update = client.put(f"/fhir/MedicationStatement/{record}", json=moved, headers=headers)
    assert update.status_code == 403
    assert client.delete(f"/fhir/MedicationStatement/{record}", headers=headers).status_code == 403
    after = requests.get(f"{server.base_url}/MedicationStatement/{record}", timeout=10).json()
    assert after["subject"] == original["subject"]
    own = first_statement(server.base_url, patient_ids[OWN])
    assert client.delete(f"/fhir/MedicationStatement/{own}", headers=headers).status_code in (
        200,
        204,
    )


def test_a_cors_preflight_is_answered_without_a_token(client: FlaskClient) -> None:
    response = client.options(
        "/fhir/Patient/1",
        headers={"Origin": "http://127.0.0.1:9", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
