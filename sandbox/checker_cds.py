"""Call the real CDS service in-process, through its fetch path, and judge its cards.

The service runs from the deployable's own app factory (passed in by the command line, since the
sandbox sits below the entry points) and is reached with Flask's test client, over the same
routes an EHR calls. It trusts one freshly generated ES384 key (an inline JWK Set) and may call
only the FHIR server under test. Each call drafts low-dose naltrexone 1.5 mg on ``order-select``
and sends **no prefetch**, so the service reads the patient's data from the server itself, with
the checker's bearer token as ``fhirAuthorization`` (none for an open server).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from flask import Flask
from joserfc.jwk import ECKey

from sandbox import order_drafts
from sandbox.cds_client import JWT_LIFETIME, CdsCallFailed, ClientKey, hook_request
from sandbox.patients import Expectation

SERVICE_ID = "ldn-naltrexone-order-select"
SERVICE_PATH = f"/cds-services/{SERVICE_ID}"
# The in-process service's public base URL: the JWT audience is built from it.
SERVICE_BASE = "http://ldn-check.localhost"
ISSUER = "urn:ldn-safety:check"
DRAFT_ID = "ldn-check-draft"
DRAFT_REFERENCE = f"MedicationRequest/{DRAFT_ID}"
# What the service may read with the token (CDS Hooks fhirAuthorization.scope).
SCOPE = (
    "patient/MedicationStatement.rs patient/MedicationRequest.rs "
    "patient/MedicationDispense.rs patient/MedicationAdministration.rs "
    "patient/Medication.rs patient/Condition.rs"
)
USER = "Practitioner/ldn-check"
LDN = order_drafts.CHOICES_BY_KEY["ldn-1.5"]

# The expected outcome's status, as the indicator of the card about the naltrexone order.
INDICATOR = {
    "do-not-start": "critical",
    "wait-until": "critical",
    "specialist-guidance": "critical",
    "uncertain": "warning",
    "safe-to-start": "info",
}
# Expected info flags, as the topic the service puts in those cards' SMART links.
# The topic each extra card's app link carries, by the flag of the expected outcome.
TOPICS = {
    "aud": "alcohol_use_disorder",
    "liver": "liver",
    "oud": "opioid-use-disorder",
    "naltrexone": "naltrexone-therapy",
}

AppFactory = Callable[[Mapping[str, Any]], Flask]


@dataclass(frozen=True, slots=True)
class CardJudgement:
    """What the cards said about one patient, and what differs from the expectation."""

    seen: str
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CdsTarget:
    """The FHIR server the service reads from, and how (the token stays out of reprs)."""

    fhir_base: str
    token: str | None = field(repr=False)
    deadline_seconds: float
    today: date


def draft_order(patient_id: str) -> dict[str, Any]:
    """Return the draft MedicationRequest for low-dose naltrexone 1.5 mg nightly."""
    return {**order_drafts.draft_order(LDN, patient_id, USER), "id": DRAFT_ID}


class InProcessCds:
    """The deployable's CDS service in this process, trusting only this checker's key."""

    def __init__(self, create_app: AppFactory, target: CdsTarget, workdir: Path) -> None:
        self._target = target
        self._key = ClientKey(ECKey.generate_key("P-384"))
        app = create_app(
            {
                "SECRET_KEY": secrets.token_hex(32),
                "LOG_LEVEL": "WARNING",
                # In memory: the checker's cards and replay cache vanish with it.
                "DATABASE_URL": "sqlite://",
                "SESSION_DIR": str(workdir / "sessions"),
                "PUBLIC_BASE_URL": SERVICE_BASE,
                "CDS_INSECURE_DEV_NO_JWT": False,
                "CDS_TRUSTED_CLIENTS": {ISSUER: {"jwks": self._key.jwks()}},
                "CDS_ALLOWED_FHIR_SERVERS": [target.fhir_base],
                "CDS_FHIR_DEADLINE_SECONDS": target.deadline_seconds,
                "TODAY": lambda: target.today,
            }
        )
        self._client = app.test_client()

    @property
    def key_id(self) -> str:
        """The id of the ES384 key the calls are signed with."""
        return self._key.kid

    def order_select(self, patient_id: str) -> list[dict[str, Any]]:
        """Draft LDN 1.5 mg for ``patient_id`` and return the cards; raise CdsCallFailed."""
        response = self._client.post(
            SERVICE_PATH,
            json=self._hook_body(patient_id),
            headers={"Authorization": f"Bearer {self._client_jwt()}"},
        )
        body = response.get_json(silent=True)
        if response.status_code == 200 and isinstance(body, dict):
            cards = body.get("cards")
            if isinstance(cards, list):
                return cards
        raise CdsCallFailed(_refusal(response.status_code, body))

    def _hook_body(self, patient_id: str) -> dict[str, Any]:
        authorization = None
        if self._target.token:
            authorization = {
                "access_token": self._target.token,
                "token_type": "Bearer",
                "expires_in": JWT_LIFETIME,
                "scope": SCOPE,
                "subject": "ldn-safety-check",
                "patient": patient_id,
            }
        return hook_request(
            "order-select",
            patient_id=patient_id,
            user=USER,
            draft_orders=[draft_order(patient_id)],
            selections=[DRAFT_REFERENCE],
            fhir_server=self._target.fhir_base,
            fhir_authorization=authorization,
        )

    def _client_jwt(self) -> str:
        return self._key.sign(ISSUER, SERVICE_BASE + SERVICE_PATH)


def _refusal(status: int, body: object) -> str:
    if status == 401:
        return "the CDS service refused the checker's JWT (401)"
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        issues = body.get("issue") or []
        reasons = "; ".join(str(i.get("diagnostics", i.get("code", ""))) for i in issues)
        return f"the CDS service answered {status}: {reasons}"
    if isinstance(body, dict) and "message" in body:
        return f"the CDS service answered {status}: {body['message']}"
    return f"the CDS service answered {status} without cards"


def _app_context(card: Mapping[str, Any]) -> dict[str, Any]:
    for link in card.get("links") or []:
        if link.get("type") == "smart" and isinstance(link.get("appContext"), str):
            try:
                context = json.loads(link["appContext"])
            except ValueError:
                continue
            if isinstance(context, dict):
                return context
    return {}


def judge_cards(cards: Sequence[Mapping[str, Any]], expected: Expectation) -> CardJudgement:
    """Compare the cards with the expected outcome of a sample patient."""
    contexts = [(card, _app_context(card)) for card in cards]
    about_order = [(c, ctx) for c, ctx in contexts if ctx.get("order") == DRAFT_REFERENCE]
    topics = {str(ctx["topic"]) for _, ctx in contexts if "topic" in ctx}
    if len(about_order) != 1:
        return CardJudgement(
            f"{len(cards)} card(s)",
            (f"expected one card about the naltrexone draft, got {len(about_order)}",),
        )
    card, context = about_order[0]
    indicator, status = card.get("indicator"), context.get("status")
    text = f"{card.get('summary', '')}\n{card.get('detail', '')}"
    seen = f"{indicator} {status}"
    problems = []
    if indicator != INDICATOR[expected.status] or status != expected.status:
        problems.append(
            f"expected {INDICATOR[expected.status]} {expected.status}, got {indicator} {status}"
        )
    if expected.earliest_start is not None:
        if expected.earliest_start.isoformat() in text:
            seen += f" {expected.earliest_start}"
        else:
            problems.append(f"earliest start {expected.earliest_start} not on the card")
    problems += [f"{name} not named" for name in expected.opioids if name not in text.lower()]
    if "from the FHIR server" not in text:
        problems.append("the card does not say the data came from the FHIR server")
    wanted = {TOPICS[flag] for flag in expected.info | expected.cautions}
    if topics != wanted:
        problems.append(
            f"info cards {sorted(topics) or 'none'}, expected {sorted(wanted) or 'none'}"
        )
    if topics:
        seen += " + " + ", ".join(sorted(topics))
    return CardJudgement(seen, tuple(problems))
