"""The decision table through the CDS service: the card about the order, and the cautions."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from flask import Flask

from cds_hooks.config import ConfigError
from tests.cds_hooks.support import PATIENT_ID, SIGN, Signer, bearer, hook_body, make_app, searchset
from tests.decision_table import CASES, Case

INDICATOR = {
    "do-not-start": "critical",
    "wait-until": "critical",
    "specialist-guidance": "critical",
    "uncertain": "warning",
    "safe-to-start": "info",
}
KEYS = {
    "MedicationStatement": "medicationStatements",
    "MedicationRequest": "medicationRequests",
    "MedicationDispense": "medicationDispenses",
    "MedicationAdministration": "medicationAdministrations",
    "Condition": "conditions",
}


def _prefetch(case: Case, today: date) -> dict[str, Any]:
    """Put the chart into the prefetch keys; a source with nothing is ``null`` (none on file)."""
    found: dict[str, list[dict[str, Any]]] = {key: [] for key in KEYS.values()}
    for resource in case.resources(today):
        resource["subject"] = {"reference": f"Patient/{PATIENT_ID}"}
        found[KEYS[resource["resourceType"]]].append(resource)
    return {key: searchset(*items) if items else None for key, items in found.items()}


def _contexts(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(link["appContext"]) for link in card.get("links", [])]


def _plain(card: dict[str, Any]) -> str:
    """The card's words as a clinician reads them (Markdown escapes removed)."""
    return f"{card['summary']}\n{card['detail']}".replace("\\", "").lower()


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_the_cds_service_gives_the_tables_decision(
    config: dict[str, Any], sign: Signer, case: Case
) -> None:
    app: Flask = make_app({**config, **case.settings})
    today = date.today()
    path = f"/cds-services/{SIGN}"
    body = hook_body(prefetch=_prefetch(case, today))
    response = app.test_client().post(path, json=body, headers=bearer(sign(path)))
    assert response.status_code == 200
    cards = response.get_json()["cards"]
    (opioid_card,) = [c for c in cards if any("status" in ctx for ctx in _contexts(c))]
    (context,) = _contexts(opioid_card)
    assert context["status"] == case.status
    assert opioid_card["indicator"] == INDICATOR[case.status]
    cautions = [c for c in cards if c is not opioid_card and c["indicator"] == "warning"]
    assert {ctx["topic"] for c in cautions for ctx in _contexts(c)} == case.cautions
    text = "\n".join(_plain(card) for card in cards)
    for word in case.words(today):
        assert word.lower() in text
    for word in case.hidden:
        assert word.lower() not in text


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        ("METHADONE_WASHOUT_DAYS", 3, "shorter than the long-acting washout"),
        ("METHADONE_WASHOUT_DAYS", "21", "whole number of days"),
        ("SPECIALIST_GUIDANCE_HORIZON_DAYS", 30, "LDN_SPECIALIST_GUIDANCE_HORIZON_DAYS"),
        ("SPECIALIST_GUIDANCE_HORIZON_DAYS", [180], "HORIZON_DAYS must be a whole number of days"),
    ],
)
def test_a_site_window_that_would_clear_too_early_stops_the_service(
    config: dict[str, Any], setting: str, value: object, said: str
) -> None:
    with pytest.raises(ConfigError, match=said):
        make_app({**config, setting: value})
