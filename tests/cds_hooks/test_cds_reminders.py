"""The re-alert rule: an override at order-select gives a reminder, not a second card, at sign."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError

from tests.cds_hooks.cds_schema import cards_problems
from tests.cds_hooks.support import (
    NALTREXONE_LDN,
    PATIENT_ID,
    SELECT,
    SIGN,
    Signer,
    bearer,
    hook_body,
    searchset,
)

OXYCODONE = {
    "resourceType": "MedicationStatement",
    "id": "ms-oxy",
    "status": "active",
    "medicationCodeableConcept": {"text": "oxycodone 5 mg tablet"},
    "subject": {"reference": f"Patient/{PATIENT_ID}"},
}
FENTANYL = {**OXYCODONE, "id": "ms-fent", "medicationCodeableConcept": {"text": "fentanyl patch"}}
COMMENT = "Palliative care team supervises; <b>agreed</b> with the patient."


def _prefetch(*statements: dict[str, Any]) -> dict[str, Any]:
    return {
        "patient": {"resourceType": "Patient", "id": PATIENT_ID},
        "medicationStatements": searchset(*statements),
        "medicationRequests": None,
        "medicationDispenses": None,
        "medicationAdministrations": None,
        "conditions": None,
    }


def _cards(client: FlaskClient, sign: Signer, service: str, body: dict[str, Any]) -> list[Any]:
    path = f"/cds-services/{service}"
    response = client.post(path, json=body, headers=bearer(sign(path)))
    assert response.status_code == 200, response.get_json()
    assert cards_problems(response.get_json()) == []
    cards: list[Any] = response.get_json()["cards"]
    return cards


def _select(client: FlaskClient, sign: Signer, *statements: dict[str, Any]) -> dict[str, Any]:
    (card,) = _cards(
        client, sign, SELECT, hook_body("order-select", prefetch=_prefetch(*statements))
    )
    assert card["indicator"] == "critical"
    return dict(card)


def _feedback(
    client: FlaskClient, sign: Signer, card: dict[str, Any], *, with_reason: bool = True
) -> None:
    item: dict[str, Any] = {
        "card": card["uuid"],
        "outcome": "overridden",
        "outcomeTimestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if with_reason:
        reason = card["overrideReasons"][2]
        item["overrideReason"] = {
            "reason": {"system": reason["system"], "code": reason["code"]},
            "userComment": COMMENT,
        }
    path = f"/cds-services/{SELECT}/feedback"
    response = client.post(path, json={"feedback": [item]}, headers=bearer(sign(path)))
    assert response.status_code == 200, response.get_json()


def _sign_cards(
    client: FlaskClient, sign: Signer, *statements: dict[str, Any], drafts: Any = None
) -> list[Any]:
    body = hook_body("order-sign", prefetch=_prefetch(*statements), drafts=drafts)
    return _cards(client, sign, SIGN, body)


def test_an_override_with_a_reason_becomes_a_reminder_at_sign(
    client: FlaskClient, sign: Signer
) -> None:
    card = _select(client, sign, OXYCODONE)
    _feedback(client, sign, card)
    (reminder,) = _sign_cards(client, sign, OXYCODONE)
    reason = card["overrideReasons"][2]["display"]
    assert reminder["indicator"] == "warning"
    assert reminder["summary"].startswith("Reminder: the opioid card for low-dose naltrexone")
    assert reason in reminder["summary"]
    # It names the override, quotes what was overridden, and asks for nothing a second time.
    assert card["summary"] in reminder["detail"].replace("\\", "")
    assert "\\<b\\>" in reminder["detail"]  # the clinician's comment, escaped as text
    assert "overrideReasons" not in reminder
    assert "suggestions" not in reminder
    assert reminder["uuid"] != card["uuid"]


def test_without_feedback_sign_shows_the_full_card_again(client: FlaskClient, sign: Signer) -> None:
    _select(client, sign, OXYCODONE)
    (again,) = _sign_cards(client, sign, OXYCODONE)
    assert again["indicator"] == "critical"


def test_an_override_without_a_reason_is_asked_again(client: FlaskClient, sign: Signer) -> None:
    card = _select(client, sign, OXYCODONE)
    _feedback(client, sign, card, with_reason=False)
    (again,) = _sign_cards(client, sign, OXYCODONE)
    assert again["indicator"] == "critical"
    assert again["overrideReasons"]


def test_a_changed_decision_brings_the_full_card_back(client: FlaskClient, sign: Signer) -> None:
    card = _select(client, sign, OXYCODONE)
    _feedback(client, sign, card)
    # A second opioid appeared between select and sign: the override did not cover it.
    (again,) = _sign_cards(client, sign, OXYCODONE, FENTANYL)
    assert again["indicator"] == "critical"
    assert "fentanyl" in again["detail"].lower()


def test_another_draft_order_is_another_ordering_session(client: FlaskClient, sign: Signer) -> None:
    card = _select(client, sign, OXYCODONE)
    _feedback(client, sign, card)
    other = copy.deepcopy(NALTREXONE_LDN)
    other["id"] = "ldn-draft-2"
    (again,) = _sign_cards(client, sign, OXYCODONE, drafts=[other])
    assert again["indicator"] == "critical"


def test_a_store_that_cannot_be_read_shows_the_full_card(
    client: FlaskClient, sign: Signer, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = _select(client, sign, OXYCODONE)
    _feedback(client, sign, card)

    def broken(**_: Any) -> None:
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(app.extensions["cds_hooks"].store, "find_override", broken)
    (again,) = _sign_cards(client, sign, OXYCODONE)
    assert again["indicator"] == "critical"
