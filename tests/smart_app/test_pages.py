"""The opioid review (the landing page), the banner, the evidence page and the handout."""

from __future__ import annotations

import json
from datetime import date

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from clinical.knowledge import load_knowledge
from clinical.titration import build_schedule
from smart_app.launch import LaunchContext
from tests.smart_app.pages_testkit import (
    APP,
    ISS,
    FakeFhir,
    condition,
    days,
    launch_context,
    patient,
    sign_in,
    statement,
)


@pytest.fixture
def browser(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def fhir(http) -> FakeFhir:
    return FakeFhir(http)


def review_page(browser: FlaskClient, ctx=None) -> tuple[int, str]:
    launch_id = sign_in(browser, ctx)
    response = browser.get(f"{APP}/review", query_string={"launch_id": launch_id})
    return response.status_code, response.get_data(as_text=True)


def status_of(page: str) -> str:
    marker = 'id="naltrexone-status" class="status status--'
    start = page.index(marker)
    data = page.index('data-status="', start) + len('data-status="')
    return page[data : page.index('"', data)]


def test_an_active_opioid_says_do_not_start_and_names_the_drug(browser, fhir) -> None:
    fhir.chart(statements=(statement("s1", "Oxycodone 5 mg tablet", code="7804"),))
    status, page = review_page(browser)
    assert status == 200
    assert status_of(page) == "do-not-start"
    assert "Do not start: an opioid is active" in page
    assert "Oxycodone 5 mg tablet" in page
    assert "oxycodone" in page
    assert "short-acting" in page
    assert 'data-reference="MedicationStatement/s1"' in page


def test_a_recent_opioid_says_wait_until_the_washout_ends(browser, fhir) -> None:
    ended = statement("s2", "Oxycodone", code="7804", status="completed", end=days(-3))
    fhir.chart(statements=(ended,))
    _status, page = review_page(browser)
    assert status_of(page) == "wait-until"
    # Short-acting: last exposure + 10 days (the upper bound of 7-10).
    assert f"Wait until {days(7)}: earliest safe start" in page
    assert days(-3) in page


def test_methadone_calls_for_specialist_guidance_without_a_date(browser, fhir) -> None:
    ended = statement("s3", "Methadone 10 mg", code="6813", status="completed", end=days(-5))
    fhir.chart(statements=(ended,))
    _status, page = review_page(browser)
    assert status_of(page) == "specialist-guidance"
    assert "specialist guidance" in page


def test_a_failed_medication_request_search_is_uncertain_never_safe(browser, fhir) -> None:
    fhir.chart()
    fhir.fail("MedicationRequest", 500)
    status, page = review_page(browser)
    assert status == 200
    assert status_of(page) == "uncertain"
    assert "safe-to-start" not in page
    assert "Could not be checked" in page
    assert "MedicationRequest: the FHIR server could not answer" in page


def test_when_no_medication_source_answers_the_page_is_an_error(browser, fhir) -> None:
    fhir.chart()
    fhir.fail("MedicationRequest", 500)
    fhir.fail("MedicationStatement", 502)
    fhir.fail("MedicationDispense", 500)
    fhir.fail("MedicationAdministration", 503)
    status, page = review_page(browser)
    assert status == 502
    assert "could not be read" in page
    assert "No opioid found" not in page
    assert "Do not take this as &#39;no opioids&#39;" in page


def test_without_medication_scopes_nothing_is_called_safe(browser, fhir) -> None:
    fhir.chart()
    narrow = launch_context(granted_scopes=("patient/Patient.r", "patient/Condition.rs"))
    status, page = review_page(browser, narrow)
    assert status == 502
    assert "did not grant the app access" in page
    assert not fhir.calls("GET", "MedicationStatement")


def test_a_patient_without_opioids_can_start(browser, fhir) -> None:
    fhir.chart(statements=(statement("s4", "Ibuprofen 200 mg tablet"),))
    _status, page = review_page(browser)
    assert status_of(page) == "safe-to-start"
    assert "No opioid found: LDN can start" in page
    assert "1 MedicationStatement record(s)" in page


def test_the_review_reads_with_the_launch_token_and_includes_medications(browser, fhir) -> None:
    fhir.chart()
    review_page(browser)
    (search,) = fhir.calls("GET", "MedicationRequest")
    assert search.headers["Authorization"] == "Bearer the-access-token"
    assert "patient=pat-123" in search.url
    assert "_include=MedicationRequest%3Amedication" in search.url


def test_the_banner_shows_who_the_chart_belongs_to(browser, fhir) -> None:
    fhir.chart()
    _, page = review_page(browser)
    assert 'id="patient-banner"' in page
    assert '<dd id="banner-name">Ada Lovelace</dd>' in page
    assert '<dd id="banner-birth-date">1975-12-10</dd>' in page
    assert '<dd id="banner-gender">female</dd>' in page
    assert '<dd id="banner-id">pat-123</dd>' in page


def test_the_banner_is_left_to_the_ehr_when_it_shows_its_own(browser, fhir) -> None:
    fhir.chart()
    _, page = review_page(browser, launch_context(need_patient_banner=False))
    assert 'id="patient-banner"' not in page


@pytest.mark.parametrize("need_patient_banner", [False, True])
@pytest.mark.parametrize("path", ["review", "plan", "evidence", "plans"])
def test_every_page_names_the_patient_in_one_line_banner_or_not(
    browser, fhir, path, need_patient_banner
) -> None:
    fhir.chart()
    launch_id = sign_in(browser, launch_context(need_patient_banner=need_patient_banner))
    response = browser.get(f"{APP}/{path}", query_string={"launch_id": launch_id})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    line = element(page, "patient-line")
    assert '<span class="patient-line-name" id="patient-line-name"><bdi>Ada Lovelace</bdi>' in line
    assert '<span id="patient-line-birth-date">1975-12-10</span>' in line
    assert ('id="patient-banner"' in page) is need_patient_banner


def test_hostile_fhir_text_is_escaped_everywhere(browser, fhir) -> None:
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    fhir.chart(
        statements=(statement("s5", f"Oxycodone {hostile}", code="7804"),),
        who=patient(name=hostile),
    )
    _, page = review_page(browser)
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page


def card_launch(**app_context: object) -> LaunchContext:
    """Return a launch opened from a CDS card whose smart link carried ``app_context``."""
    return launch_context(app_context=json.dumps(app_context))


def element(page: str, element_id: str) -> str:
    """Return the opening tag and text of the element with ``element_id`` (up to its end tag)."""
    start = page.index(f'id="{element_id}"')
    return page[page.rindex("<", 0, start) : page.index("</p>", start)]


def test_a_launch_from_a_card_names_the_order_and_what_the_card_said(browser, fhir) -> None:
    fhir.chart(statements=(statement("s1", "Oxycodone 5 mg tablet", code="7804"),))
    ctx = card_launch(
        service="ldn-naltrexone-order-select",
        hookInstance="h-1",
        order="MedicationRequest/draft-1",
        orderLabel="low-dose naltrexone 1.5 mg",
        status="do-not-start",
    )
    _, page = review_page(browser, ctx)
    note = element(page, "card-context")
    assert 'data-card-status="do-not-start"' in note
    assert (
        "Opened from the CDS card for <bdi>low-dose naltrexone 1.5 mg</bdi> "
        "(card said: do-not-start)." in note
    )
    assert status_of(page) == "do-not-start"
    assert 'id="card-context-mismatch"' not in page  # the chart still says what the card said


def test_when_the_chart_changed_since_the_card_the_review_says_so(browser, fhir) -> None:
    fhir.chart(statements=(statement("s4", "Ibuprofen 200 mg tablet"),))
    ctx = card_launch(orderLabel="naltrexone 50 mg", status="do-not-start")
    _, page = review_page(browser, ctx)
    assert status_of(page) == "safe-to-start"  # recomputed from the chart, not the card's word
    notice = element(page, "card-context-mismatch")
    assert "The chart has changed since the card was shown." in notice
    assert "The card said do-not-start; the chart read just now says safe-to-start." in notice


def test_a_card_naming_only_its_order_reference_is_named_by_it(browser, fhir) -> None:
    fhir.chart()
    _, page = review_page(browser, card_launch(order="MedicationRequest/draft-7"))
    note = element(page, "card-context")
    assert "for <bdi>MedicationRequest/draft-7</bdi>." in note
    assert "card said" not in note
    assert 'id="card-context-mismatch"' not in page


def test_a_hostile_app_context_is_shown_as_text_and_never_decides(browser, fhir) -> None:
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    fhir.chart(statements=(statement("s1", "Oxycodone 5 mg tablet", code="7804"),))
    ctx = card_launch(orderLabel=hostile, status=f"safe-to-start{hostile}", order=hostile)
    _, page = review_page(browser, ctx)
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    note = element(page, "card-context")
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in note
    assert "card said" not in note  # not a status the app knows: not repeated
    assert status_of(page) == "do-not-start"


@pytest.mark.parametrize(
    "app_context",
    [
        None,
        "",
        "not JSON {",
        "[" * 4000,
        '["do-not-start"]',
        '"do-not-start"',
        '{"topic": "aud"}',
        '{"status": ["do-not-start"], "orderLabel": {"x": 1}}',
    ],
    ids=["none", "empty", "bad-json", "deep", "array", "string", "topic", "wrong-types"],
)
def test_without_a_readable_card_context_the_review_shows_no_card_note(
    browser, fhir, app_context
) -> None:
    fhir.chart(statements=(statement("s1", "Oxycodone 5 mg tablet", code="7804"),))
    status, page = review_page(browser, launch_context(app_context=app_context))
    assert status == 200
    assert status_of(page) == "do-not-start"
    assert 'id="card-context"' not in page
    assert 'id="card-context-mismatch"' not in page


def test_a_page_without_a_live_launch_says_the_session_ended(browser) -> None:
    response = browser.get(f"{APP}/review", query_string={"launch_id": "nope"})
    assert response.status_code == 401
    assert "Your session with the EHR has ended" in response.get_data(as_text=True)


def test_a_launch_without_a_patient_explains_itself(browser) -> None:
    status, page = review_page(browser, launch_context(patient=None))
    assert status == 400
    assert "No patient was selected" in page


def test_an_expired_token_is_refreshed_before_reading(browser, fhir, ehr) -> None:
    fhir.chart()
    ehr.http.post(
        ehr.token_url,
        json={"access_token": "renewed", "token_type": "Bearer", "expires_in": 3600},
    )
    review_page(browser, launch_context(expires_at=1))
    (search,) = fhir.calls("GET", "MedicationStatement")
    assert search.headers["Authorization"] == "Bearer renewed"


def test_the_evidence_summary_puts_the_patients_conditions_first(browser, fhir) -> None:
    fhir.chart(conditions=(condition("c1", "203082005", "Fibromyalgia"),))
    launch_id = sign_in(browser)
    response = browser.get(f"{APP}/evidence", query_string={"launch_id": launch_id})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    first_section = page.index("ldn-evidence__section")
    assert page.index("Fibromyalgia", first_section) < page.index("Crohn", first_section)
    assert "On this patient's chart" in page
    assert "Evidence grade:" in page


def test_the_evidence_page_opens_on_the_patients_conditions_and_folds_the_rest(
    browser, fhir
) -> None:
    fhir.chart(conditions=(condition("c1", "203082005", "Fibromyalgia"),))
    launch_id = sign_in(browser)
    page = browser.get(f"{APP}/evidence", query_string={"launch_id": launch_id}).get_data(
        as_text=True
    )
    assert '<section class="ldn-evidence__section ldn-evidence__section--patient" ' in page
    open_fibromyalgia = page.index('id="ldn-evidence-fibromyalgia"')
    assert page.rindex("<section", 0, open_fibromyalgia) > page.rfind(
        "<details", 0, open_fibromyalgia
    )
    folded = page.count('class="ldn-evidence__section ldn-evidence__section--folded"')
    assert folded >= 10  # every other condition and every general section
    crohns = page.index('id="ldn-evidence-crohns')
    assert page.rindex("<details", 0, crohns) > page.rfind("</details>", 0, crohns)
    # Nothing about how the article's panel worked leaks onto the page.
    for internal in ("retrieved", "corpus", "citable keys", "indexed literature"):
        assert internal not in page


def test_the_evidence_page_says_when_conditions_could_not_be_read(browser, fhir) -> None:
    fhir.chart()
    fhir.fail("Condition", 500)
    launch_id = sign_in(browser)
    page = browser.get(f"{APP}/evidence", query_string={"launch_id": launch_id}).get_data(
        as_text=True
    )
    assert "Conditions: the FHIR server could not answer" in page


def handout_page(browser: FlaskClient, **plan: str) -> tuple[int, str]:
    """Open the handout for ``plan`` (start, interval, target) on a signed-in launch."""
    launch_id = sign_in(browser)
    response = browser.get(
        f"{APP}/handout",
        query_string={
            "launch_id": launch_id,
            "plan_id": "0b7a3c1e-5d4f-4a8b-9c2d-1e3f5a7b9c0d",
            **plan,
        },
    )
    return response.status_code, response.get_data(as_text=True)


def test_the_handout_shows_the_plan_in_plain_words(browser, fhir) -> None:
    fhir.chart()
    status, page = handout_page(browser, start=days(1), interval="14", target="3")
    assert status == 200
    assert f'<strong id="handout-start">{days(1)}</strong>' in page
    assert days(15) in page  # the 3 mg step starts after 14 days
    assert "print.js" in page
    known = load_knowledge()
    schedule = build_schedule(
        date.fromisoformat(days(1)), interval_days=14, target_mg="3", protocol=known.titration
    )
    handout = known.handout.for_schedule(schedule, known.opioids.washouts)
    for section in handout.sections:
        assert f"<h2>{escape(section.title)}</h2>" in page
        for point in section.points:
            assert f"<li>{escape(point.text)}</li>" in page
    assert "every 14 days (2 weeks), until you reach 3 mg" in page
    assert page.index("Most important: no opioids") > page.index('id="handout-steps"')


def test_a_handout_for_a_plan_without_steps_leaves_out_going_up(browser, fhir) -> None:
    fhir.chart()
    status, page = handout_page(browser, start=days(1), interval="7", target="1.5")
    assert status == 200
    assert "once nightly at bedtime" in page
    assert "go up" not in page
    assert "and after: keep taking this dose" in page


def test_a_hostile_patient_name_is_escaped_on_the_handout(browser, fhir) -> None:
    hostile = '<script>alert("x")</script>'
    fhir.chart(who=patient(name=hostile))
    status, page = handout_page(browser, start=days(1), interval="7", target="4.5")
    assert status == 200
    assert "<script>alert" not in page
    assert (
        '<strong id="handout-name">&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</strong>' in page
    )


def test_a_handout_link_with_a_bad_plan_is_refused_clearly(browser, fhir) -> None:
    fhir.chart()
    launch_id = sign_in(browser)
    response = browser.get(
        f"{APP}/handout",
        query_string={"launch_id": launch_id, "start": "soon", "interval": "7", "target": "9"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "This plan link is not valid" in page
    assert "Choose a target of 1.5, 3 or 4.5 mg." in page


def test_the_fhir_server_is_the_launch_issuer(browser, fhir) -> None:
    fhir.chart()
    review_page(browser)
    assert all(call.request.url.startswith(ISS) for call in fhir.http.calls)


@pytest.mark.parametrize(
    "answer",
    [
        {"resourceType": "Bundle", "type": "searchset", "entry": "abc"},
        {"resourceType": "Bundle", "type": "searchset", "entry": [1, 2, 3]},
        {"resourceType": "Bundle", "type": "searchset", "entry": None},
        {"resourceType": "Bundle", "type": "searchset", "link": ["x"]},
        {"resourceType": "Bundle", "type": "searchset", "total": 3},
        {"resourceType": "Bundle", "type": "transaction-response"},
        {"resourceType": "OperationOutcome", "issue": "x"},
    ],
    ids=["entry abc", "entry numbers", "entry null", "link x", "total 3", "tx-response", "OO"],
)
def test_a_malformed_medication_answer_is_uncertain_never_a_500_or_safe(
    browser, fhir, answer
) -> None:
    fhir.chart()
    fhir.http.remove("GET", f"{ISS}/MedicationStatement")
    fhir.http.get(f"{ISS}/MedicationStatement", json=answer)
    status, page = review_page(browser)
    assert status == 200
    assert status_of(page) == "uncertain"
    assert "MedicationStatement: the FHIR server&#39;s answer could not be read" in page


@pytest.mark.parametrize(
    "body",
    ['{"resourceType": "Bundle", "entr', requests.exceptions.ChunkedEncodingError("cut off")],
    ids=["truncated JSON", "body cut off by the network"],
)
def test_a_truncated_medication_answer_is_uncertain(browser, fhir, body) -> None:
    fhir.chart()
    fhir.http.remove("GET", f"{ISS}/MedicationStatement")
    fhir.http.get(f"{ISS}/MedicationStatement", body=body)
    status, page = review_page(browser)
    assert (status, status_of(page)) == (200, "uncertain")


@pytest.mark.parametrize(
    "overrides",
    [{"patient": "pat-123&_tag=nomatch"}, {"patient": "x" * 65}, {"encounter": "enc 9"}],
)
def test_a_launch_naming_a_patient_by_a_non_id_gets_a_designed_page(
    browser, fhir, overrides
) -> None:
    status, page = review_page(browser, launch_context(**overrides))
    assert status == 400
    assert "The EHR sent a patient or encounter the app cannot use" in page
    assert not fhir.http.calls


def test_an_unexpected_failure_is_a_designed_page_with_its_type_logged(
    browser, fhir, monkeypatch, caplog
) -> None:
    # A session store that cannot be read: the launch cannot be loaded.
    def broken(_launch_id: object) -> None:
        raise OSError("disk I/O error on /var/lib/sessions/abc")

    monkeypatch.setattr("smart_app.fhir_connection.load_launch", broken)
    status, page = review_page(browser)
    assert status == 503
    assert "The app could not finish this page" in page
    assert "Back button" in page
    assert "disk I/O" not in page
    (record,) = [r for r in caplog.records if r.getMessage().startswith("page failed unexp")]
    assert record.exc_info is not None
    assert record.exc_info[0] is OSError
