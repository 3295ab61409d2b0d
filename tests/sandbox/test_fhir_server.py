"""SEKMET as started by sandbox.fhir_server: loopback only, clean stop, clear failures.

Also the SEKMET behaviour the product relies on (docs/sandbox.md lists it with evidence).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import requests

from sandbox.fhir_server import FhirServer, FhirServerStartError, free_loopback_port

pytestmark = pytest.mark.integration

FHIR_JSON = {"Content-Type": "application/fhir+json"}
LOOPBACK_HEX = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it
LISTEN = "0A"


def listening_addresses(port: int) -> set[str]:
    """Return the local addresses (as /proc/net/tcp{,6} write them) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if fields[3] == LISTEN and int(port_hex, 16) == port:
                found.add(address)
    return found


def test_server_answers_metadata_as_fhir_r4(fhir_server) -> None:
    response = requests.get(f"{fhir_server.base_url}/metadata", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    statement = response.json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"


def test_server_listens_on_loopback_only(fhir_server) -> None:
    port = int(fhir_server.base_url.split(":")[2].split("/")[0])
    assert fhir_server.base_url == f"http://127.0.0.1:{port}/fhir"
    assert listening_addresses(port) == {LOOPBACK_HEX}


def test_simulator_does_not_answer_medication_requests(tmp_path: Path) -> None:
    # With its simulator on, SEKMET "dispenses" every active order two seconds after it is written.
    with FhirServer(tmp_path) as server:
        patient = requests.post(
            f"{server.base_url}/Patient",
            json={"resourceType": "Patient"},
            headers=FHIR_JSON,
            timeout=5,
        ).json()
        order = {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"text": "Simulator probe"},
            "subject": {"reference": f"Patient/{patient['id']}"},
        }
        created = requests.post(
            f"{server.base_url}/MedicationRequest", json=order, headers=FHIR_JSON, timeout=5
        )
        assert created.status_code == 201
        time.sleep(3)
        dispenses = requests.get(
            f"{server.base_url}/MedicationDispense", params={"_summary": "count"}, timeout=5
        )
        after = requests.get(
            f"{server.base_url}/MedicationRequest/{created.json()['id']}", timeout=5
        )
    assert dispenses.json()["total"] == 0
    assert after.json() == created.json()


def test_stop_ends_the_process_and_frees_the_port(tmp_path: Path) -> None:
    server = FhirServer(tmp_path).start()
    assert requests.get(f"{server.base_url}/metadata", timeout=5).status_code == 200
    server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.base_url}/metadata", timeout=5)
    assert listening_addresses(server.port) == set()
    assert server.pid is None


def test_start_failure_says_why_with_the_server_output(tmp_path: Path) -> None:
    port = free_loopback_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        with pytest.raises(FhirServerStartError) as failure:
            FhirServer(tmp_path, port=port).start()
    message = str(failure.value)
    assert f"http://127.0.0.1:{port}/fhir" in message
    assert "address already in use" in message.lower()


def test_conditional_create_inside_a_transaction_is_honoured(fhir_server) -> None:
    system, value = "http://ldn-safety.example.org/fhir/test-id", "conditional-create-probe"
    identifier = f"{system}|{value}"
    probe = {
        "fullUrl": "urn:uuid:6f1c2b1e-0b8e-4e0c-9a51-3c7f0d8a4d11",
        "resource": {
            "resourceType": "Basic",
            "identifier": [{"system": system, "value": value}],
            "code": {"text": "conditional create probe"},
        },
        "request": {"method": "POST", "url": "Basic", "ifNoneExist": f"identifier={identifier}"},
    }
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [probe]}
    statuses = [
        requests.post(fhir_server.base_url, json=bundle, headers=FHIR_JSON, timeout=10).json()[
            "entry"
        ][0]["response"]["status"]
        for _ in range(2)
    ]
    assert statuses == ["201 Created", "200 OK"]
    found = requests.get(
        f"{fhir_server.base_url}/Basic", params={"identifier": identifier}, timeout=5
    )
    assert found.json()["total"] == 1


STRICT = {"Prefer": "handling=strict"}


@pytest.mark.parametrize(
    ("path", "params", "headers", "status", "code"),
    [
        ("Patient/no-such-patient", {}, {}, 404, "not-found"),
        ("MedicationStatement", {"_count": "many"}, {}, 400, "value"),
        ("MedicationStatement", {"no-such-param": "x"}, STRICT, 400, "not-supported"),
        ("Patient", {}, {"Accept": "text/html"}, 406, "not-supported"),
    ],
)
def test_errors_come_back_as_operation_outcomes(
    fhir_server, path: str, params: dict[str, str], headers: dict[str, str], status: int, code: str
) -> None:
    response = requests.get(
        f"{fhir_server.base_url}/{path}", params=params, headers=headers, timeout=5
    )
    assert response.status_code == status
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == code
