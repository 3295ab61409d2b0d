"""What every part of a sandbox app reads: its checked settings and the clients built from them.

The app factory builds one ``SandboxState`` per app and keeps it in ``app.extensions``; views
read it through ``current_sandbox()`` and nowhere else (no ``app.config`` look-ups).
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
from flask import current_app

from fhir_client import FhirClient
from sandbox.cds_client import CdsClient, ClientKey
from sandbox.settings import SandboxSettings

EXTENSION = "ldn_sandbox"


@dataclass(frozen=True, slots=True)
class SandboxState:
    """The settings, and the HTTP clients every request shares.

    ``session`` talks to loopback servers only (never through an environment proxy); ``fhir``
    is the EHR's own client of the FHIR server behind the proxy (its database, no token);
    ``cds`` calls the product's CDS service, signing with ``key``.
    """

    settings: SandboxSettings
    session: requests.Session
    fhir: FhirClient
    cds: CdsClient
    key: ClientKey


def build_state(settings: SandboxSettings) -> SandboxState:
    """Build the clients ``settings`` describe."""
    session = requests.Session()
    session.trust_env = False  # loopback only: never route through an environment proxy
    key = ClientKey(settings.cds_key)
    return SandboxState(
        settings=settings,
        session=session,
        fhir=FhirClient(settings.fhir_upstream, session=session, timeout=settings.upstream_timeout),
        cds=CdsClient(
            settings.cds_services_url,
            settings.cds_issuer,
            key,
            session=session,
            timeout=settings.cds_timeout,
        ),
        key=key,
    )


def current_sandbox() -> SandboxState:
    """Return the state of the sandbox app handling the current request."""
    state: SandboxState = current_app.extensions[EXTENSION]
    return state
