"""Whole hook calls shaped like the CDS Hooks spec's order-select and order-sign examples, with a
naltrexone draft added: the cards a clinician would see, checked against the CDS Hooks schema.
"""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from typing import Any

import responses
from flask.testing import FlaskClient

from tests.cds_hooks.cds_schema import cards_problems
from tests.cds_hooks.support import (
    FHIR_BASE,
    NALTREXONE_LDN,
    PATIENT_ID,
    SELECT,
    SIGN,
    SPEC_AMOXICILLIN,
    SPEC_NUTRITION_ORDER,
    Signer,
    bearer,
    hook_body,
    make_app,
    searchset,
)

TODAY = date.today()
LDN_REFERENCE = f"MedicationRequest/{NALTREXONE_LDN['id']}"


def _statement(ident: str, text: str, status: str = "active", **dates: Any) -> dict[str, Any]:
    resource = {
        "resourceType": "MedicationStatement",
        "id": ident,
        "status": status,
        "medicationCodeableConcept": {"text": text},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
    }
    if dates:
        resource["effectivePeriod"] = {k: v.isoformat() for k, v in dates.items()}
    return resource


def _condition(ident: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": ident,
        "code": {"text": text},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
    }


def _prefetch(
    statements: list[dict[str, Any]] | None = None,
    requests: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "patient": {"resourceType": "Patient", "id": PATIENT_ID},
        "medicationStatements": searchset(*statements) if statements else None,
        "medicationRequests": searchset(*requests) if requests else None,
        "medicationDispenses": None,
        "medicationAdministrations": None,
        "conditions": searchset(*conditions) if conditions else None,
    }


def _call(client: FlaskClient, sign: Signer, body: dict[str, Any], service: str = SIGN) -> Any:
    path = f"/cds-services/{service}"
    response = client.post(path, json=body, headers=bearer(sign(path)))
    if response.status_code == 200:
        assert cards_problems(response.get_json()) == []
    return response


def _cards(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.get_json()
    cards: list[dict[str, Any]] = response.get_json()["cards"]
    return cards


def test_spec_order_select_example_with_active_opioid_gets_a_critical_card(
    client: FlaskClient, sign: Signer
) -> None:
    body = hook_body(
        "order-select",
        drafts=[SPEC_NUTRITION_ORDER, SPEC_AMOXICILLIN, NALTREXONE_LDN],
        prefetch=_prefetch([_statement("ms-oxy", "OxyContin 20 mg extended-release tablet")]),
    )
    body["context"]["selections"] = ["NutritionOrder/pureeddiet-simple", LDN_REFERENCE]
    (card,) = _cards(_call(client, sign, body, SELECT))
    assert card["indicator"] == "critical"
    assert card["summary"].startswith("Do not start low-dose naltrexone 1.5 mg")
    assert "oxycodone" in card["summary"]
    detail = card["detail"]
    for expected in ("OxyContin 20 mg extended", "oxycodone", "long", "MedicationStatement/ms-oxy"):
        assert expected in detail
    assert "- Washout: 10\N{EN DASH}14 days or more" in detail
    assert "- Taking now, no end date recorded" in detail
    # Record ids only under "What was checked", never in the finding itself.
    findings, checked = detail.split("**What was checked**")
    assert "MedicationStatement/ms-oxy" not in findings
    assert "MedicationStatement/ms-oxy" in checked
    assert card["selectionBehavior"] == "at-most-one"
    (action,) = card["suggestions"][0]["actions"]
    assert action == {
        "type": "delete",
        "description": "Remove the draft order for low-dose naltrexone 1.5 mg.",
        "resourceId": LDN_REFERENCE,
    }
    codes = {r["code"] for r in card["overrideReasons"]}
    assert {"opioid-stopped-confirmed", "patient-not-taking", "specialist-supervised"} <= codes
    (link,) = card["links"]
    assert link["type"] == "smart"
    assert link["url"] == "https://cds.example.test/launch"
    # What the app shows as "Opened from the CDS card for ... (card said: ...)".
    assert json.loads(link["appContext"]) == {
        "service": SELECT,
        "hookInstance": body["hookInstance"],
        "order": LDN_REFERENCE,
        "orderLabel": "low-dose naltrexone 1.5 mg",
        "status": "do-not-start",
    }


def test_spec_order_sign_example_with_recent_opioid_says_when_to_start(
    client: FlaskClient, sign: Signer
) -> None:
    ended = TODAY - timedelta(days=3)
    body = hook_body(
        "order-sign",
        drafts=[SPEC_NUTRITION_ORDER, SPEC_AMOXICILLIN, NALTREXONE_LDN],
        prefetch=_prefetch(
            [
                _statement(
                    "ms-tram",
                    "tramadol 50 mg tablet",
                    status="completed",
                    start=ended - timedelta(days=5),
                    end=ended,
                )
            ]
        ),
    )
    (card,) = _cards(_call(client, sign, body))
    earliest = (ended + timedelta(days=10)).isoformat()
    assert card["indicator"] == "critical"
    assert ended.isoformat() in card["detail"]
    assert f"Earliest naltrexone start: **{earliest}**" in card["detail"]
    # The spec example's amoxicillin sends doseAndRate as an object; it is read all the same, so
    # nothing is left unchecked and the date is a firm one.
    assert card["summary"] == (
        f"Hold low-dose naltrexone 1.5 mg until {earliest}: recent tramadol inside its washout."
    )
    assert "not checked" not in card["detail"].lower()


def test_recent_opioid_with_everything_checked_says_until_when(
    client: FlaskClient, sign: Signer
) -> None:
    ended = TODAY - timedelta(days=3)
    statement = _statement(
        "ms-tram", "tramadol 50 mg tablet", status="completed", start=ended, end=ended
    )
    (card,) = _cards(_call(client, sign, hook_body(prefetch=_prefetch([statement], [], []))))
    earliest = (ended + timedelta(days=10)).isoformat()
    assert card["summary"] == (
        f"Hold low-dose naltrexone 1.5 mg until {earliest}: recent tramadol inside its washout."
    )


def test_no_opioid_gets_an_info_card_saying_what_was_checked(
    client: FlaskClient, sign: Signer
) -> None:
    day = TODAY - timedelta(days=400)
    body = hook_body(
        prefetch=_prefetch(
            [
                _statement(
                    "ms-1", "sertraline 50 mg tablet", start=day, end=day + timedelta(days=90)
                )
            ],
            [],
            [],
        )
    )
    (card,) = _cards(_call(client, sign, body))
    assert card["indicator"] == "info"
    assert (
        card["summary"]
        == "No opioid found before low-dose naltrexone 1.5 mg in the records checked."
    )
    assert "1 MedicationStatement record(s) (from the prefetch)" in card["detail"]
    assert "0 MedicationRequest record(s)" in card["detail"]
    assert day.isoformat() in card["detail"]
    assert card["links"][0]["type"] == "smart"
    assert "suggestions" not in card


def test_partial_data_without_opioid_is_a_warning_naming_what_was_not_checked(
    client: FlaskClient, sign: Signer, mocked: responses.RequestsMock
) -> None:
    mocked.get(
        f"{FHIR_BASE}/MedicationStatement",
        status=500,
        json={
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "exception"}],
        },
    )
    prefetch = _prefetch(None, [], [])
    del prefetch["medicationStatements"]
    body = hook_body(
        prefetch=prefetch,
        fhirServer=FHIR_BASE,
        fhirAuthorization={
            "access_token": "opaque",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/MedicationStatement.read",
            "subject": "ldn-cds",
        },
    )
    (card,) = _cards(_call(client, sign, body))
    assert card["indicator"] == "warning"
    assert "not ruled out" in card["summary"]
    assert "**Could not be checked**" in card["detail"]
    assert "MedicationStatement: the EHR did not prefetch it, and the FHIR server" in card["detail"]
    assert "HTTP 500" in card["detail"]


def test_no_medication_data_at_all_is_412_with_an_operation_outcome(
    client: FlaskClient, sign: Signer
) -> None:
    response = _call(client, sign, hook_body(prefetch={}))
    assert response.status_code == 412
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert len(body["issue"]) == 5  # the four medication sources and the summary


def test_opioid_drafted_in_the_same_session_counts(client: FlaskClient, sign: Signer) -> None:
    hydrocodone = {
        "resourceType": "MedicationRequest",
        "id": "draft-hydrocodone",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"text": "hydrocodone bitartrate 5 mg / acetaminophen 325 mg"},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
    }
    body = hook_body(drafts=[hydrocodone, NALTREXONE_LDN], prefetch=_prefetch([], [], []))
    (card,) = _cards(_call(client, sign, body))
    assert card["indicator"] == "critical"
    assert "hydrocodone" in card["summary"]
    assert "- Ordered in this session" in card["detail"]
    assert "Opioid records: MedicationRequest/draft-hydrocodone" in card["detail"]


def test_full_dose_order_is_named_by_its_dose(client: FlaskClient, sign: Signer) -> None:
    tablet = {
        **NALTREXONE_LDN,
        "medicationCodeableConcept": {"text": "naltrexone hydrochloride 50 mg tablet"},
        "dosageInstruction": [{"text": "50 mg by mouth daily"}],
    }
    body = hook_body(drafts=[tablet], prefetch=_prefetch([_statement("ms-1", "morphine 15 mg")]))
    (card,) = _cards(_call(client, sign, body))
    assert card["summary"].startswith("Do not start naltrexone 50 mg:")


def test_methadone_needs_specialist_guidance_and_no_date(client: FlaskClient, sign: Signer) -> None:
    ended = TODAY - timedelta(days=10)
    statement = _statement("ms-m", "methadone 10 mg", status="stopped", start=ended, end=ended)
    (card,) = _cards(_call(client, sign, hook_body(prefetch=_prefetch([statement]))))
    assert card["indicator"] == "critical"
    assert "specialist guidance" in card["summary"]
    assert "Earliest naltrexone start: **" not in card["detail"]


def test_alcohol_use_disorder_and_liver_disease_add_info_cards(
    client: FlaskClient, sign: Signer
) -> None:
    conditions = [
        _condition("c-1", "Alcohol use disorder"),
        _condition("c-2", "Cirrhosis of liver"),
    ]
    body = hook_body(prefetch=_prefetch([], [], conditions))
    cards = _cards(_call(client, sign, body))
    assert [c["indicator"] for c in cards] == ["info", "info", "info"]
    aud, liver = cards[1], cards[2]
    assert "50 mg" in aud["summary"]
    assert "Sinclair" in aud["detail"]
    assert "inference" in liver["summary"]


def test_fhir_text_is_escaped_in_the_markdown(client: FlaskClient, sign: Signer) -> None:
    statement = _statement("ms-x", "oxycodone *5 mg* | [click](https://evil.example) <b>x</b>")
    (card,) = _cards(_call(client, sign, hook_body(prefetch=_prefetch([statement]))))
    detail = card["detail"]
    assert "\\*5 mg\\*" in detail
    assert "\\[click\\]\\(https\\://evil\\.example\\)" in detail
    assert "\\<b\\>" in detail
    assert "| [click]" not in detail


def test_naltrexone_drafted_but_not_selected_gets_no_cards(
    client: FlaskClient, sign: Signer
) -> None:
    body = hook_body("order-select", drafts=[SPEC_AMOXICILLIN, NALTREXONE_LDN], prefetch={})
    body["context"]["selections"] = ["MedicationRequest/smart-MedicationRequest-103"]
    assert _cards(_call(client, sign, body, SELECT)) == []


def test_a_ten_thousand_record_prefetch_is_accepted(client: FlaskClient, sign: Signer) -> None:
    old = TODAY - timedelta(days=3000)
    statements = [
        _statement(f"ms-{i}", "ibuprofen 400 mg tablet", status="completed", start=old, end=old)
        for i in range(5000)
    ]
    requests = [
        {
            "resourceType": "MedicationRequest",
            "id": f"mr-{i}",
            "status": "completed",
            "intent": "order",
            "authoredOn": old.isoformat(),
            "medicationCodeableConcept": {"text": "lisinopril 10 mg tablet"},
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
        }
        for i in range(5000)
    ]
    body = hook_body(prefetch=_prefetch(statements, requests, []))
    started = time.monotonic()
    (card,) = _cards(_call(client, sign, body))
    elapsed = time.monotonic() - started
    assert card["indicator"] == "info"
    assert "5000 MedicationStatement record(s)" in card["detail"]
    assert elapsed < 20


def test_a_site_methadone_washout_turns_specialist_guidance_into_a_date(
    config: dict[str, Any], sign: Signer
) -> None:
    ended = TODAY - timedelta(days=5)
    methadone = _statement("ms-mtd", "methadone 10 mg tablet", "completed", start=ended, end=ended)
    body = hook_body(prefetch=_prefetch([methadone]))

    (default_card,) = _cards(_call(make_app(config).test_client(), sign, body))
    assert "specialist" in default_card["summary"].lower()
    assert (ended + timedelta(days=21)).isoformat() not in default_card["detail"]

    site_app = make_app({**config, "METHADONE_WASHOUT_DAYS": 21})
    (site_card,) = _cards(_call(site_app.test_client(), sign, body))
    assert site_card["indicator"] == "critical"
    assert (ended + timedelta(days=21)).isoformat() in site_card["summary"]
