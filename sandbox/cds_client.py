"""The sandbox EHR's CDS Hooks client: builds hook requests, signs them, calls, sends feedback.

CDS Hooks 2.0, "Trusting CDS Clients": every call carries a JWT signed ES384 with the sandbox's
own key (``iss`` = the sandbox, ``aud`` = the exact URL called, ``exp``, ``iat``, ``jti``; header
``kid`` and ``typ``); the public key is published as a JWK Set for the service to fetch.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import requests
from joserfc import jwt
from joserfc.jwk import ECKey

from fhir_client.no_netrc import no_netrc
from sandbox.cards import Card, CardFormatError, parse_cards

ALGORITHM = "ES384"
JWT_LIFETIME = 300


class CdsCallFailed(Exception):
    """The CDS service did not answer with cards; the message says what to tell the user."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class Service:
    """A service the provider offers: its id, and the prefetch keys it asks for."""

    id: str
    hook: str
    prefetch_keys: frozenset[str]


class ClientKey:
    """The sandbox's ES384 key pair: signs the client JWTs, publishes its public half."""

    def __init__(self, key: ECKey) -> None:
        self._key = key
        self.kid = key.thumbprint()

    def jwks(self) -> dict[str, Any]:
        """Return the public key as a JWK Set."""
        public = self._key.as_dict(private=False, kid=self.kid, alg=ALGORITHM, use="sig")
        return {"keys": [public]}

    def sign(self, issuer: str, audience: str, *, now: float | None = None) -> str:
        """Return a fresh client JWT for one call to ``audience``."""
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": issuer,
            "aud": audience,
            "iat": issued,
            "exp": issued + JWT_LIFETIME,
            "jti": str(uuid.uuid4()),
        }
        header = {"alg": ALGORITHM, "typ": "JWT", "kid": self.kid}
        return jwt.encode(header, claims, self._key, algorithms=[ALGORITHM])


class CdsClient:
    """Call one CDS service provider (its discovery URL ``services_url``)."""

    def __init__(
        self,
        services_url: str,
        issuer: str,
        key: ClientKey,
        *,
        session: requests.Session | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.services_url = services_url.rstrip("/")
        self._issuer = issuer
        self._key = key
        self._session = session or requests.Session()
        self._timeout = timeout
        self._services: dict[str, Service] = {}

    def discover(self) -> list[dict[str, Any]]:
        """Return the services the provider offers."""
        body = self._send("GET", self.services_url, None)
        services = body.get("services") if isinstance(body, dict) else None
        if not isinstance(services, list):
            raise CdsCallFailed("The CDS service's discovery answer lists no services.")
        return services

    def service_for(self, hook: str) -> Service:
        """Return the provider's service for ``hook`` (discovered once, then remembered)."""
        if hook not in self._services:
            for raw in self.discover():
                if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
                    continue
                prefetch = raw.get("prefetch")
                keys = frozenset(prefetch) if isinstance(prefetch, dict) else frozenset()
                found = Service(raw["id"], str(raw.get("hook")), keys)
                self._services.setdefault(found.hook, found)
        if hook not in self._services:
            raise CdsCallFailed(f"The CDS service offers nothing for the {hook} hook.")
        return self._services[hook]

    def call(self, service_id: str, request: Mapping[str, Any]) -> list[Card]:
        """Call one service with a hook request and return its cards."""
        body = self._send("POST", f"{self.services_url}/{service_id}", request)
        try:
            return parse_cards(body)
        except CardFormatError as error:
            raise CdsCallFailed(
                f"The CDS service's answer is not a valid card list: {error}"
            ) from None

    def feedback(self, service_id: str, items: Sequence[Mapping[str, Any]]) -> None:
        """Tell the service what the clinician did with its cards."""
        self._send("POST", f"{self.services_url}/{service_id}/feedback", {"feedback": list(items)})

    def _send(self, method: str, url: str, body: Mapping[str, Any] | None) -> Any:
        headers = {
            "Accept": "application/json",
            "Authorization": f"Bearer {self._key.sign(self._issuer, url)}",
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self._session.request(
                method,
                url,
                data=orjson.dumps(body) if body is not None else None,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
                auth=no_netrc,  # a .netrc entry must not replace the client JWT
            )
        except requests.Timeout:
            raise CdsCallFailed(
                f"The CDS service did not answer within {self._timeout:g} s."
            ) from None
        except requests.RequestException:
            raise CdsCallFailed("The CDS service could not be reached.") from None
        try:
            answer = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            answer = None
        if response.status_code != 200:
            raise CdsCallFailed(_refusal(response.status_code, answer), response.status_code)
        return answer


def hook_request(
    hook: str,
    *,
    patient_id: str,
    user: str,
    draft_orders: Sequence[Mapping[str, Any]],
    selections: Sequence[str] = (),
    prefetch: Mapping[str, Any] | None = None,
    fhir_server: str | None = None,
    fhir_authorization: Mapping[str, Any] | None = None,
    encounter_id: str | None = None,
) -> dict[str, Any]:
    """Build an ``order-select`` or ``order-sign`` request (CDS Hooks 2.0 §HTTP Request)."""
    context: dict[str, Any] = {
        "userId": user,
        "patientId": patient_id,
        "draftOrders": {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": dict(order)} for order in draft_orders],
        },
    }
    if encounter_id is not None:
        context["encounterId"] = encounter_id
    if hook == "order-select":
        context["selections"] = list(selections)
    body: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
    if fhir_authorization is not None:
        body["fhirAuthorization"] = dict(fhir_authorization)
    if prefetch is not None:
        body["prefetch"] = dict(prefetch)
    return body


def feedback_item(
    card: Card,
    outcome: str,
    *,
    accepted: Sequence[str] = (),
    override_reason: Mapping[str, Any] | None = None,
    comment: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Build one feedback entry (CDS Hooks 2.0 §Feedback)."""
    item: dict[str, Any] = {
        "card": card.uuid,
        "outcome": outcome,
        "outcomeTimestamp": (now or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
    }
    if accepted:
        item["acceptedSuggestions"] = [{"id": suggestion} for suggestion in accepted]
    if outcome == "overridden" and (override_reason is not None or comment):
        reason: dict[str, Any] = {}
        if override_reason is not None:
            reason["reason"] = dict(override_reason)
        if comment:
            reason["userComment"] = comment
        item["overrideReason"] = reason
    return item


def _refusal(status: int, answer: Any) -> str:
    """Say why a call failed, in words for the clinician (never 'no cards')."""
    said = ""
    if isinstance(answer, dict) and answer.get("resourceType") == "OperationOutcome":
        issues = [i for i in answer.get("issue", []) if isinstance(i, dict)]
        said = " ".join(str(i.get("diagnostics", "")) for i in issues)
    elif isinstance(answer, dict):
        said = str(answer.get("message") or answer.get("error") or "")
    if status == 412:
        return f"The CDS service could not read the data it needs (HTTP 412). {said}".strip()
    if status == 401:
        return "The CDS service did not accept the sandbox's credentials (HTTP 401)."
    return f"The CDS service refused or failed the call (HTTP {status}). {said}".strip()
