"""A signed-in browser and a patient's FHIR server on a mocked transport, for the page tests.

The launch itself is tested in tests/smart_app/test_launch_views.py; here a completed
LaunchContext is put straight into the server-side session, and the EHR's FHIR server answers
through ``responses``, so each test states the chart it needs in a few lines.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import responses
from flask.testing import FlaskClient

from fhir_profiles.artefacts import CAREPLAN_IDENTIFIER_SYSTEM
from smart_app.launch import LaunchContext
from smart_app.scopes import DATA_SCOPES_V2
from smart_app.security import CSRF_KEY
from smart_app.session import LAUNCHES_KEY

ISS = "https://ehr.example.test/fhir"
APP = "https://app.example.test"
PATIENT = "pat-123"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CSRF = "test-csrf-token"


def today() -> date:
    """Return the day the pages reason about (they use the server's local date)."""
    return date.today()


def days(offset: int) -> str:
    """Return today + ``offset`` days as a FHIR date."""
    return (today() + timedelta(days=offset)).isoformat()


def launch_context(**overrides: Any) -> LaunchContext:
    """Return a completed EHR launch for PATIENT with every scope the app asks for."""
    ctx = LaunchContext(
        iss=ISS,
        client_id="ldn-app",
        token_endpoint="https://ehr.example.test/auth/token",
        access_token="the-access-token",
        refresh_token="the-refresh-token",
        expires_at=int(time.time()) + 3600,
        requested_scopes=(*DATA_SCOPES_V2, "launch", "openid", "fhirUser"),
        granted_scopes=(*DATA_SCOPES_V2, "launch", "openid", "fhirUser"),
        patient=PATIENT,
        encounter="enc-9",
        fhir_context=(),
        need_patient_banner=True,
        smart_style_url=None,
        fhir_user=f"{ISS}/Practitioner/practitioner-1",
    )
    return replace(ctx, **overrides)


def sign_in(browser: FlaskClient, ctx: LaunchContext | None = None) -> str:
    """Put a completed launch (and a CSRF token) in the browser's session; return its id."""
    launch_id = secrets.token_urlsafe(8)
    with browser.session_transaction() as session:
        session[LAUNCHES_KEY] = {launch_id: (ctx or launch_context()).to_dict()}
        session[CSRF_KEY] = CSRF
    return launch_id


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    """Return a searchset Bundle of ``resources``."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": resource} for resource in resources],
    }


def statement(
    ident: str,
    text: str,
    *,
    code: str | None = None,
    status: str = "active",
    start: str | None = None,
    end: str | None = None,
) -> dict[str, Any]:
    """Return a MedicationStatement for PATIENT."""
    concept: dict[str, Any] = {"text": text}
    if code:
        concept["coding"] = [{"system": RXNORM, "code": code, "display": text}]
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": ident,
        "status": status,
        "subject": {"reference": f"Patient/{PATIENT}"},
        "medicationCodeableConcept": concept,
    }
    period = {key: value for key, value in (("start", start), ("end", end)) if value}
    if period:
        resource["effectivePeriod"] = period
    return resource


def condition(ident: str, code: str, display: str) -> dict[str, Any]:
    """Return an active, confirmed Condition coded in SNOMED CT."""
    return {
        "resourceType": "Condition",
        "id": ident,
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "verificationStatus": {"coding": [{"code": "confirmed"}]},
        "code": {
            "coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}],
            "text": display,
        },
        "subject": {"reference": f"Patient/{PATIENT}"},
    }


def patient(name: str = "Ada Lovelace") -> dict[str, Any]:
    """Return PATIENT's Patient resource."""
    return {
        "resourceType": "Patient",
        "id": PATIENT,
        "name": [{"use": "official", "text": name}],
        "birthDate": "1975-12-10",
        "gender": "female",
    }


@dataclass
class FakeFhir:
    """The EHR's FHIR server for one patient, answering through the mocked transport."""

    http: responses.RequestsMock

    def chart(
        self,
        *,
        statements: tuple[dict[str, Any], ...] = (),
        requests: tuple[dict[str, Any], ...] = (),
        dispenses: tuple[dict[str, Any], ...] = (),
        administrations: tuple[dict[str, Any], ...] = (),
        conditions: tuple[dict[str, Any], ...] = (),
        careplans: tuple[dict[str, Any], ...] = (),
        who: dict[str, Any] | None = None,
    ) -> None:
        """Serve the patient, medications, conditions and saved plans the pages read."""
        self.http.get(f"{ISS}/Patient/{PATIENT}", json=who or patient())
        self.http.get(f"{ISS}/MedicationStatement", json=bundle(*statements))
        self.http.get(f"{ISS}/MedicationRequest", json=bundle(*requests))
        self.http.get(f"{ISS}/MedicationDispense", json=bundle(*dispenses))
        self.http.get(f"{ISS}/MedicationAdministration", json=bundle(*administrations))
        self.http.get(f"{ISS}/Condition", json=bundle(*conditions))
        self.http.get(f"{ISS}/CarePlan", json=bundle(*careplans))

    def careplans(self, *resources: dict[str, Any]) -> None:
        """Serve ``resources`` from now on as the patient's saved plans."""
        self.http.replace(responses.GET, f"{ISS}/CarePlan", json=bundle(*resources))

    def fail(self, path: str, status: int = 500, method: str = "GET") -> None:
        """Make ``path`` answer with an error and an OperationOutcome (instead of any answer)."""
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "exception"}],
        }
        url = f"{ISS}/{path}".rstrip("/")
        self.http.remove(method, url)
        self.http.add(method, url, json=outcome, status=status)

    def calls(self, method: str, path: str = "") -> list[Any]:
        """Return the requests made with ``method`` to ``path`` (a prefix under the base)."""
        url = f"{ISS}/{path}".rstrip("/")
        return [
            call.request
            for call in self.http.calls
            if call.request.method == method and call.request.url.split("?")[0] == url
        ]

    def sent_json(self, method: str, path: str = "") -> list[dict[str, Any]]:
        """Return the JSON bodies sent with ``method`` to ``path``."""
        return [json.loads(request.body) for request in self.calls(method, path)]


def saved_careplan(plan_id: str, *, status: str = "active", start: str | None = None) -> dict:
    """Return a CarePlan as the server would send back one the app saved."""
    start = start or days(0)
    return {
        "resourceType": "CarePlan",
        "id": "cp-1",
        "identifier": [{"system": CAREPLAN_IDENTIFIER_SYSTEM, "value": plan_id}],
        "status": status,
        "intent": "plan",
        "created": f"{days(0)}T10:00:00+00:00",
        "description": "1.5 mg once nightly at bedtime, raised every 7 days as tolerated to 3 mg",
        "subject": {"reference": f"Patient/{PATIENT}"},
        "period": {"start": start},
        "activity": [
            {
                "detail": {
                    "status": "scheduled",
                    "dailyAmount": {"value": 1.5, "unit": "mg"},
                    "scheduledTiming": {"repeat": {"boundsPeriod": {"start": start}}},
                }
            },
            {"detail": {"status": "not-started", "dailyAmount": {"value": 3, "unit": "mg"}}},
        ],
    }
