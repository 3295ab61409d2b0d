"""The sandbox's CDS Hooks client: signed calls, requests, cards, and round trips to the product."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from sandbox.auth import current_auth
from sandbox.card_markdown import render_detail
from sandbox.cards import CardFormatError, parse_cards
from sandbox.cds_client import CdsCallFailed, CdsClient, ClientKey, feedback_item, hook_request
from sandbox.demo import Demo
from sandbox.order_drafts import CHOICES_BY_KEY, draft_order
from sandbox.patients import expectations, sample_keys
from tests.sandbox.ehr_testkit import card_indicators

INDICATOR_FOR_STATUS = {
    "do-not-start": "critical",
    "wait-until": "critical",
    "specialist-guidance": "critical",
    "uncertain": "warning",
    "safe-to-start": "info",
}
EXTRA_CARD_SUMMARY = {
    "aud": "Alcohol use disorder on the chart",
    "liver": "Liver disease on the chart",
    "oud": "Opioid use disorder on the chart",
    "naltrexone": "Naltrexone already on the chart",
}


def card(**overrides: Any) -> dict[str, Any]:
    return {
        "uuid": "c1",
        "summary": "Summary",
        "indicator": "info",
        "source": {"label": "Test"},
        **overrides,
    }


def test_client_jwt_verifies_against_the_published_key_set() -> None:
    key = ClientKey(ECKey.generate_key("P-384"))
    audience = "http://127.0.0.1:1/cds-services/ldn-naltrexone-order-sign"
    first = key.sign("http://localhost:2", audience, now=1_800_000_000)
    second = key.sign("http://localhost:2", audience, now=1_800_000_000)
    decoded = jwt.decode(first, KeySet.import_key_set(key.jwks()), algorithms=["ES384"])
    assert decoded.header == {"alg": "ES384", "typ": "JWT", "kid": key.kid}
    claims = decoded.claims
    assert (claims["iss"], claims["aud"]) == ("http://localhost:2", audience)
    assert claims["exp"] - claims["iat"] == 300
    keys = KeySet.import_key_set(key.jwks())
    assert claims["jti"] != jwt.decode(second, keys, algorithms=["ES384"]).claims["jti"]
    assert all("d" not in public for public in key.jwks()["keys"])  # no private part published


def test_hook_requests_follow_each_hooks_context() -> None:
    draft = {"resourceType": "MedicationRequest", "id": "d1"}
    select = hook_request(
        "order-select",
        patient_id="p1",
        user="Practitioner/u",
        draft_orders=[draft],
        selections=["MedicationRequest/d1"],
        prefetch={"conditions": None},
        fhir_server="http://localhost/fhir",
    )
    assert select["context"]["selections"] == ["MedicationRequest/d1"]
    assert select["context"]["draftOrders"]["entry"] == [{"resource": draft}]
    assert select["prefetch"] == {"conditions": None}
    assert select["fhirServer"] == "http://localhost/fhir"
    sign = hook_request("order-sign", patient_id="p1", user="Practitioner/u", draft_orders=[draft])
    assert "selections" not in sign["context"]
    assert {"prefetch", "fhirServer", "fhirAuthorization"}.isdisjoint(sign)
    assert sign["hookInstance"] != select["hookInstance"]


def test_feedback_items_carry_the_decision() -> None:
    (parsed,) = parse_cards({"cards": [card()]})
    accepted = feedback_item(parsed, "accepted", accepted=["s1"])
    assert accepted["acceptedSuggestions"] == [{"id": "s1"}]
    assert accepted["outcomeTimestamp"].endswith("Z")
    reason = {"system": "urn:x", "code": "r1", "display": "Reason"}
    overridden = feedback_item(parsed, "overridden", override_reason=reason, comment="why")
    assert overridden["overrideReason"] == {"reason": reason, "userComment": "why"}


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({}, "'cards' array"),
        ({"cards": [card(indicator="hard-stop")]}, "indicator"),
        ({"cards": [card(summary="")]}, "summary"),
        ({"cards": [card(source={})]}, "source.label"),
        ({"cards": [card(suggestions=[{"uuid": "s", "label": "L", "actions": []}])]}, "selection"),
        ({"cards": [card(links=[{"label": "L", "url": "u", "type": "iframe"}])]}, "type"),
    ],
)
def test_malformed_answers_are_refused(answer: dict[str, Any], problem: str) -> None:
    with pytest.raises(CardFormatError, match=problem):
        parse_cards(answer)


def test_cards_come_most_urgent_first() -> None:
    answer = {
        "cards": [
            card(uuid="a"),
            card(uuid="b", indicator="critical"),
            card(uuid="c", indicator="warning"),
        ]
    }
    assert [c.uuid for c in parse_cards(answer)] == ["b", "c", "a"]


def test_card_detail_markdown_cannot_carry_markup() -> None:
    detail = (
        "**Stop** <script>alert(1)</script> [x](javascript:alert(1)) "
        "[ok](https://example.org) ![t](http://x.test/t.png) A\\|B \\<i\\>"
    )
    rendered = str(render_detail(detail))
    assert "<strong>Stop</strong>" in rendered
    assert "<script" not in rendered
    assert "javascript:" not in rendered
    assert "<img" not in rendered
    assert (
        '<a href="https://example.org" rel="noopener noreferrer" target="_blank">ok</a>' in rendered
    )
    assert html.unescape(re.sub(r"<[^>]+>", "", rendered)).count("A|B <i>") == 1


def test_an_unreachable_service_is_a_failure_not_an_empty_card_list() -> None:
    client = CdsClient(
        "http://127.0.0.1:9/cds-services",
        "http://localhost",
        ClientKey(ECKey.generate_key("P-384")),
        timeout=1,
    )
    with pytest.raises(CdsCallFailed, match="could not be reached"):
        client.call("ldn-naltrexone-order-sign", {})


# -- round trips through the running demo (real SEKMET, sandbox EHR and product) ------------


def draft_and_select(demo: Demo, patient_id: str, product: str = "ldn-1.5") -> requests.Response:
    """Draft an order on the EHR page (firing order-select) and return the order page."""
    response = requests.post(
        f"{demo.urls.ehr}patients/{patient_id}/orders", data={"product": product}, timeout=30
    )
    assert response.status_code == 200
    return response


@pytest.mark.integration
@pytest.mark.parametrize("key", sample_keys())
def test_every_sample_patient_gets_the_expected_card(running_demo: Demo, key: str) -> None:
    expected = expectations(running_demo.today)[key]
    page = draft_and_select(running_demo, running_demo.patient_ids[key]).text
    indicators = card_indicators(page)
    assert indicators, page
    # The EHR shows the most urgent first: the opioid card, warnings, then info cards.
    extra = ["warning"] * len(expected.cautions) + ["info"] * len(expected.info)
    assert sorted(indicators) == sorted([INDICATOR_FOR_STATUS[expected.status], *extra])
    for flag in expected.info | expected.cautions:
        assert EXTRA_CARD_SUMMARY[flag] in page
    if expected.earliest_start is not None:
        assert f"until {expected.earliest_start.isoformat()}" in page
    assert "did not run" not in page
    # The pages carry no script or image of their own: any such tag would be injected data.
    assert "<script" not in page
    assert "<img" not in page


def cds_client(demo: Demo) -> tuple[CdsClient, Any]:
    settings = demo.sandbox_settings
    assert settings is not None
    client = CdsClient(settings.cds_services_url, settings.cds_issuer, ClientKey(settings.cds_key))
    return client, settings


def minted(demo: Demo, patient: str) -> dict[str, Any]:
    assert demo.sandbox_app is not None
    with demo.sandbox_app.app_context():
        value, _ = current_auth().issue_access_token(
            client_id="ldn-cds-service",
            scope="patient/*.rs",
            user="Practitioner/sandbox-clinician",
            patient=patient,
            ttl=300,
        )
    return {
        "access_token": value,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.rs",
        "subject": "ldn-cds-service",
        "patient": patient,
    }


@pytest.mark.integration
def test_without_prefetch_the_service_reads_through_the_proxy_with_the_token(
    running_demo: Demo,
) -> None:
    client, settings = cds_client(running_demo)
    patient = running_demo.patient_ids["methadone-maintenance"]
    order = draft_order(CHOICES_BY_KEY["ldn-1.5"], patient, settings.user)
    body = hook_request(
        "order-sign",
        patient_id=patient,
        user=settings.user,
        draft_orders=[order],
        fhir_server=settings.fhir_base,
        fhir_authorization=minted(running_demo, patient),
    )
    (opioid, *_) = client.call("ldn-naltrexone-order-sign", body)
    assert opioid.indicator == "critical"
    assert "from the FHIR server" in opioid.detail
    # A token for another patient reads nothing of this one: the check cannot run (412).
    body["fhirAuthorization"] = minted(running_demo, running_demo.patient_ids["liver-disease"])
    with pytest.raises(CdsCallFailed) as failure:
        client.call("ldn-naltrexone-order-sign", body)
    assert failure.value.status == 412


def forms(page: str) -> dict[str, list[str]]:
    """Return the form actions on an order page by kind (accept, override, sign)."""
    found: dict[str, list[str]] = {}
    for action in re.findall(r'<form method="post" action="([^"]+)"', page):
        found.setdefault(action.rsplit("/", 1)[-1], []).append(html.unescape(action))
    return found


def feedback_for(demo: Demo, card_uuid: str) -> list[dict[str, Any]]:
    assert demo.product_app is not None
    store = demo.product_app.extensions["cds_hooks"].store
    return [row for row in store.feedback_rows() if row["card_uuid"] == card_uuid]


@pytest.mark.integration
def test_accepting_the_suggestion_removes_the_draft_and_sends_feedback(running_demo: Demo) -> None:
    page = draft_and_select(running_demo, running_demo.patient_ids["oxycodone-active"])
    sign_url = running_demo.urls.ehr.removesuffix("/ehr/") + forms(page.text)["sign"][0]
    on_hold = requests.post(sign_url, timeout=30).text
    assert "Signing is on hold" in on_hold
    accept = forms(on_hold)["accept"][0]
    card_uuid = accept.split("/cards/", 1)[1].split("/", 1)[0]
    suggestion = re.search(r'name="suggestion" value="([^"]+)"', on_hold).group(1)
    done = requests.post(
        running_demo.urls.ehr.removesuffix("/ehr/") + accept,
        data={"suggestion": suggestion},
        timeout=30,
    ).text
    assert "No orders left" in done
    assert "The order is signed" not in done
    (row,) = feedback_for(running_demo, card_uuid)
    assert row["outcome"] == "accepted"
    assert row["accepted_suggestions"] == [suggestion]


@pytest.mark.integration
def test_overriding_with_a_reason_signs_and_sends_feedback(running_demo: Demo) -> None:
    base = running_demo.urls.ehr.removesuffix("/ehr/")
    page = draft_and_select(running_demo, running_demo.patient_ids["tramadol-unknown-dates"])
    on_hold = requests.post(base + forms(page.text)["sign"][0], timeout=30).text
    assert card_indicators(on_hold)[0] == "warning"
    override = forms(on_hold)["override"][0]
    card_uuid = override.split("/cards/", 1)[1].split("/", 1)[0]
    reason = re.findall(r'<option value="([^"]+)">', on_hold)[0]
    done = requests.post(
        base + override,
        data={"reason": reason, "comment": "Confirmed no opioids for 6 weeks"},
        timeout=30,
    ).text
    assert "The order is signed" in done
    (row,) = feedback_for(running_demo, card_uuid)
    assert (row["outcome"], row["override_code"]) == ("overridden", reason)
    assert row["user_comment"] == "Confirmed no opioids for 6 weeks"


@pytest.mark.integration
def test_a_smart_link_launches_the_app_for_the_patient(running_demo: Demo) -> None:
    page = draft_and_select(running_demo, running_demo.patient_ids["aud-naltrexone"]).text
    link = html.unescape(re.search(r'href="(/ehr/orders/[^"]+/links/0)"', page).group(1))
    response = requests.get(
        running_demo.urls.ehr.removesuffix("/ehr/") + link, allow_redirects=False, timeout=30
    )
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(f"{running_demo.urls.app_launch}?iss=")
    assert "launch=" in location
