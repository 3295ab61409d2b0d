"""The CDS fetch path under every fault the proxy plays, in front of the real FHIR server.

The patient is on active oxycodone (a MedicationStatement). Whatever the server does to the
medication searches, the service answers within its deadline and never with an all-clear: a
warning or critical card (naming the source that failed) or 412 when nothing could be read.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from tests.cds_hooks.support import BASE, ISSUER, SIGN, hook_body, make_app
from tests.conftest import SampleFhirServer
from tests.faults.fault_proxy import FAULTS, FaultProxy
from tests.faults.report import counts

pytestmark = pytest.mark.integration

PATH = f"/cds-services/{SIGN}"
DEADLINE = 1.5
# Scheduling slack on a shared, loaded machine (the deadline itself is the service's).
SLACK = 4.0
WARNINGS = {"warning", "critical"}
SOURCES = {
    "MedicationStatement only": frozenset({"MedicationStatement"}),
    "both medication sources": frozenset({"MedicationStatement", "MedicationRequest"}),
}


@pytest.fixture(scope="module")
def key() -> ECKey:
    return ECKey.generate_key("P-384", parameters={"kid": "fault-tests"})


@pytest.fixture(scope="module")
def cds(
    proxy: FaultProxy, key: ECKey, tmp_path_factory: pytest.TempPathFactory, sample_today: date
) -> Iterator[FlaskClient]:
    folder: Path = tmp_path_factory.mktemp("cds-faults")
    app = make_app(
        {
            "TESTING": True,
            "SECRET_KEY": "fault-tests",
            "DATABASE_URL": f"sqlite:///{folder / 'cds.sqlite3'}",
            "PUBLIC_BASE_URL": BASE,
            "CDS_TRUSTED_CLIENTS": {ISSUER: {"jwks": KeySet([key]).as_dict(private=False)}},
            "CDS_ALLOWED_FHIR_SERVERS": [proxy.base_url],
            "CDS_FHIR_DEADLINE_SECONDS": DEADLINE,
            "TODAY": lambda: sample_today,
        }
    )
    yield app.test_client()
    app.extensions["cds_hooks"].store.close()


def _jwt(key: ECKey) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": f"{BASE}{PATH}",
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    header = {"alg": "ES384", "typ": "JWT", "kid": key.kid}
    return jwt.encode(header, claims, key, algorithms=["ES384"])


def order_sign(
    cds: FlaskClient, key: ECKey, proxy: FaultProxy, patient_id: str
) -> tuple[int, dict[str, Any], float]:
    """Call order-sign with no prefetch: every source is fetched through the proxy."""
    body = hook_body(
        "order-sign",
        fhirServer=proxy.base_url,
        fhirAuthorization={
            "access_token": "opaque-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/MedicationStatement.read patient/MedicationRequest.read",
            "subject": "ldn-cds",
        },
    )
    body["context"]["patientId"] = patient_id
    started = time.monotonic()
    response = cds.post(PATH, json=body, headers={"Authorization": f"Bearer {_jwt(key)}"})
    return response.status_code, response.get_json(), time.monotonic() - started


def is_all_clear(status: int, answer: dict[str, Any]) -> bool:
    """An answer a clinician would read as "no opioid": 200 without a warning or critical card."""
    return status == 200 and not any(c["indicator"] in WARNINGS for c in answer["cards"])


def test_without_a_fault_the_opioid_is_found_through_the_proxy(
    cds: FlaskClient, key: ECKey, proxy: FaultProxy, fhir_server: SampleFhirServer
) -> None:
    status, answer, _elapsed = order_sign(
        cds, key, proxy, fhir_server.patient_ids["oxycodone-active"]
    )
    assert status == 200
    assert "critical" in {card["indicator"] for card in answer["cards"]}


@pytest.mark.parametrize("sources", SOURCES.values(), ids=SOURCES.keys())
@pytest.mark.parametrize("fault", FAULTS, ids=FAULTS)
def test_a_fhir_fault_never_gives_an_all_clear_and_answers_in_time(
    cds: FlaskClient,
    key: ECKey,
    proxy: FaultProxy,
    fhir_server: SampleFhirServer,
    fault: str,
    sources: frozenset[str],
) -> None:
    proxy.aim(fault, sources)
    status, answer, elapsed = order_sign(
        cds, key, proxy, fhir_server.patient_ids["oxycodone-active"]
    )
    all_clear = is_all_clear(status, answer)
    in_time = elapsed < DEADLINE + SLACK
    outcome = str(status)
    if status == 200:
        outcome = max((c["indicator"] for c in answer["cards"]), key=["info", *WARNINGS].index)
    counts("CDS fetch path").record(in_time=in_time, all_clear=all_clear, outcome=outcome)
    assert proxy.played()
    assert not all_clear, answer
    assert status in (200, 412), answer
    assert in_time, f"answered after {elapsed:.1f} s"
    if outcome == "warning":
        text = " ".join(f"{c['summary']} {c.get('detail', '')}" for c in answer["cards"])
        assert "MedicationStatement" in text
