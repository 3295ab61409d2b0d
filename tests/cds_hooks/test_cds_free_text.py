"""Free-text medication entries reach the card as the clinician would need them (issue 9).

An abbreviation is an opioid like any other; a near miss is a warning that names the word and the
opioid it resembles (never critical, never an all-clear); a phrase that is not an exposure leaves
the all-clear standing.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests.cds_hooks.support import PATIENT_ID, SIGN, Signer, bearer, hook_body, searchset

HOOK_PATH = f"/cds-services/{SIGN}"


def _statement(ident: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationStatement",
        "id": ident,
        "status": "active",
        "medicationCodeableConcept": {"text": text},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
    }


def _opioid_card(app: Flask, sign: Signer, *texts: str) -> dict[str, Any]:
    prefetch = {
        "medicationStatements": searchset(
            *(_statement(f"ms-{i}", text) for i, text in enumerate(texts))
        ),
        "medicationRequests": searchset(),
        "medicationDispenses": searchset(),
        "medicationAdministrations": searchset(),
        "conditions": searchset(),
    }
    response = app.test_client().post(
        HOOK_PATH, json=hook_body(prefetch=prefetch), headers=bearer(sign(HOOK_PATH))
    )
    assert response.status_code == 200
    card: dict[str, Any] = response.get_json()["cards"][0]
    return card


def test_an_abbreviation_alone_is_a_critical_card_naming_the_ingredient(
    app: Flask, sign: Signer
) -> None:
    card = _opioid_card(app, sign, "APAP w/ cod #3")
    assert card["indicator"] == "critical"
    assert "codeine" in card["summary"]
    assert "APAP w/ cod" in card["detail"]


def test_a_near_miss_is_a_warning_naming_the_word_and_what_it_resembles(
    app: Flask, sign: Signer
) -> None:
    card = _opioid_card(app, sign, "hydrocodne 5/325 1 tab q6h")
    assert card["indicator"] == "warning"
    assert "not ruled out" in card["summary"]
    assert '"hydrocodne"' in card["detail"]
    assert "hydrocodone" in card["detail"]
    assert "MedicationStatement/ms-0" in card["detail"]


def test_a_class_word_without_a_drug_is_a_warning(app: Flask, sign: Signer) -> None:
    card = _opioid_card(app, sign, "narcotic pain medicine, unknown name")
    assert card["indicator"] == "warning"
    assert '"narcotic"' in card["detail"]


def test_phrases_that_are_not_exposures_leave_the_all_clear(app: Flask, sign: Signer) -> None:
    card = _opioid_card(
        app, sign, "oxycodone-free", "fentanyl test strips", "naloxone for opioid overdose"
    )
    assert card["indicator"] == "info"
