"""Test kit for the browser tests: Chromium settings, launching the app, reading the chart back.

Everything talks to the stack the session fixture started (``sandbox.demo.Demo``): SEKMET, the
sandbox EHR on ``localhost`` and the product on ``127.0.0.1``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import requests
from playwright.sync_api import FrameLocator, Page

from fhir_client import FhirClient
from fhir_profiles.identifiers import careplan_identifier, document_identifier
from sandbox.auth import current_auth
from sandbox.cards import Card
from sandbox.cds_client import CdsClient, ClientKey, hook_request
from sandbox.demo import Demo
from sandbox.order_drafts import CHOICES_BY_KEY, draft_order, reference
from sandbox.settings import CDS_SERVICE_CLIENT_ID

CHROMIUM = "/usr/bin/chromium"
# Headless, and nothing that would phone home: the machine is on a closed network.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Block third-party cookies the way Chrome's cookie phase-out does; Playwright's contexts
    # already refuse them, and the EHR-launch test proves it with an unpartitioned probe cookie.
    "--test-third-party-cookie-phaseout",
)
# Seconds are generous: two cores are shared with other test runs.
WAIT_MS = 30_000

# How each review decision shows on the CDS card (see docs/cds-hooks.md).
INDICATOR_FOR_STATUS = {
    "do-not-start": "critical",
    "wait-until": "critical",
    "specialist-guidance": "critical",
    "uncertain": "warning",
    "safe-to-start": "info",
}


def ehr_base(demo: Demo) -> str:
    """Return the sandbox EHR's origin (``http://localhost:<port>``)."""
    return demo.urls.ehr.removesuffix("/ehr/")


def open_app_in_ehr(page: Page, demo: Demo, key: str) -> FrameLocator:
    """Launch the app from the EHR for sample patient ``key``; return its frame on the review."""
    page.goto(f"{demo.urls.ehr}patients/{demo.patient_ids[key]}/app")
    app = page.frame_locator("iframe.app")
    app.locator("#naltrexone-status").wait_for(timeout=WAIT_MS)
    return app


def open_order_page(page: Page, demo: Demo, key: str) -> None:
    """Draft LDN 1.5 mg for sample patient ``key`` from the chart; the cards are then shown."""
    page.goto(f"{demo.urls.ehr}patients/{demo.patient_ids[key]}")
    page.get_by_role("link", name="Prescribe naltrexone").click()
    page.get_by_label("Naltrexone 1.5 mg capsule, compounded", exact=False).check()
    page.get_by_role("button", name="Select").click()
    page.get_by_role("heading", name="Decision support (order-select)").wait_for(timeout=WAIT_MS)


def upstream(demo: Demo) -> FhirClient:
    """Return a client for SEKMET itself (behind the proxy, no token needed)."""
    assert demo.sandbox_settings is not None
    session = requests.Session()
    session.trust_env = False
    return FhirClient(demo.sandbox_settings.fhir_upstream, session=session, timeout=30)


def saved_for_plan(demo: Demo, plan_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return the CarePlans and DocumentReferences on SEKMET that carry this plan's identifier."""
    client = upstream(demo)
    found = []
    for resource_type, identifier in (
        ("CarePlan", careplan_identifier(plan_id)),
        ("DocumentReference", document_identifier(plan_id)),
    ):
        query = {"identifier": f"{identifier.system}|{identifier.value}"}
        found.append(client.search(resource_type, query))
    return found[0], found[1]


@contextmanager
def careplan_writes_fail(demo: Demo) -> Iterator[None]:
    """Make SEKMET's database refuse to store any CarePlan until the block ends.

    A real storage failure on the FHIR server, for writes only: a trigger in SEKMET's own SQLite
    database aborts every CarePlan insert, SEKMET rolls the whole transaction back and answers
    500 with an OperationOutcome. Reads keep working, so the app can still read the chart
    before it saves. Nothing restarts and no port changes.
    """
    database = demo.data_dir / "sekmet" / "sekmet.db"  # FhirServer's layout (docs/sandbox.md)
    with closing(sqlite3.connect(database, isolation_level=None, timeout=10)) as connection:
        connection.execute(
            "CREATE TRIGGER browser_test_disk_full BEFORE INSERT ON resources "
            "WHEN NEW.type = 'CarePlan' BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
        try:
            yield
        finally:
            connection.execute("DROP TRIGGER browser_test_disk_full")


def cds_cards(demo: Demo, key: str) -> list[Card]:
    """Call the product's order-select service for LDN 1.5 mg, as the sandbox EHR does.

    No prefetch: the service reads the chart itself through the proxy with a patient token.
    """
    settings = demo.sandbox_settings
    assert settings is not None
    assert demo.sandbox_app is not None
    patient = demo.patient_ids[key]
    with demo.sandbox_app.app_context():
        token, _ = current_auth().issue_access_token(
            client_id=CDS_SERVICE_CLIENT_ID,
            scope="patient/*.rs",
            user=settings.user,
            patient=patient,
            ttl=300,
        )
    client = CdsClient(settings.cds_services_url, settings.cds_issuer, ClientKey(settings.cds_key))
    order = draft_order(CHOICES_BY_KEY["ldn-1.5"], patient, settings.user)
    body = hook_request(
        "order-select",
        patient_id=patient,
        user=settings.user,
        draft_orders=[order],
        selections=[reference(order)],
        fhir_server=settings.fhir_base,
        fhir_authorization={
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.rs",
            "subject": CDS_SERVICE_CLIENT_ID,
            "patient": patient,
        },
    )
    return client.call(client.service_for("order-select").id, body)


def card_status(card: Card) -> str:
    """Return the review status a card's app link carries (its ``appContext``)."""
    contexts = [json.loads(link.app_context) for link in card.links if link.app_context]
    (status,) = {context["status"] for context in contexts if "status" in context}
    return str(status)


def feedback_rows(demo: Demo, card_uuid: str) -> list[dict[str, Any]]:
    """Return the feedback the product stored for one card."""
    assert demo.product_app is not None
    store = demo.product_app.extensions["cds_hooks"].store
    return [row for row in store.feedback_rows() if row["card_uuid"] == card_uuid]
