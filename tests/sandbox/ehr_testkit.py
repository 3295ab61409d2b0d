"""Test kit for the sandbox EHR, proxy and CDS client: apps on a FHIR server, minted tokens."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import Flask

from sandbox.app import create_sandbox_app
from sandbox.auth import current_auth
from sandbox.settings import SandboxSettings

PUBLIC_BASE = "http://localhost"
PROXY_BASE = f"{PUBLIC_BASE}/fhir"
APP_ORIGIN = "http://127.0.0.1:9"
CARD = re.compile(r'<article class="card (critical|warning|info)"')


def sandbox_settings(fhir_upstream: str, **overrides: Any) -> SandboxSettings:
    """Return settings for a sandbox in front of ``fhir_upstream`` (the product is not running)."""
    values: dict[str, Any] = {
        "public_base": PUBLIC_BASE,
        "fhir_upstream": fhir_upstream,
        "app_launch_url": f"{APP_ORIGIN}/launch",
        "cds_services_url": f"{APP_ORIGIN}/cds-services",
        "cds_timeout": 2.0,
        **overrides,
    }
    return SandboxSettings(**values)


def sandbox_app(fhir_upstream: str, **overrides: Any) -> Flask:
    """Build a sandbox app in front of ``fhir_upstream``."""
    app = create_sandbox_app(sandbox_settings(fhir_upstream, **overrides))
    app.config["TESTING"] = True
    return app


def token(app: Flask, scope: str, patient: str | None = None) -> str:
    """Mint an access token on ``app``'s authorization server."""
    with app.app_context():
        value, _ = current_auth().issue_access_token(
            client_id="test-client",
            scope=scope,
            user="Practitioner/sandbox-clinician",
            patient=patient,
            ttl=300,
        )
    return value


def bearer(value: str) -> dict[str, str]:
    """Return the Authorization header for a bearer token."""
    return {"Authorization": f"Bearer {value}"}


def card_indicators(page: str) -> list[str]:
    """Return the indicators of the cards on an EHR order page, in page order."""
    return CARD.findall(page)


def issues(outcome: Mapping[str, Any]) -> str:
    """Return the diagnostics of an OperationOutcome, joined."""
    assert outcome["resourceType"] == "OperationOutcome"
    return " ".join(issue.get("diagnostics", "") for issue in outcome["issue"])
