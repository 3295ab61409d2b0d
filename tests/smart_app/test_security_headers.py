"""Security headers, frame-ancestors, CSRF on every POST form, no inline script or style."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ldn_safety.app import create_app
from smart_app.settings import frame_ancestors
from tests.smart_app.pages_testkit import APP, CSRF, ISS, FakeFhir, days, sign_in

PLAN = {
    "start": days(1),
    "interval": "7",
    "target": "3",
    "plan_id": "0b7a3c1e-5d4f-4a8b-9c2d-1e3f5a7b9c0d",
}


@pytest.fixture
def browser(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def fhir(http) -> FakeFhir:
    return FakeFhir(http)


def policy(response) -> dict[str, str]:
    directives = response.headers["Content-Security-Policy"].split(";")
    return {d.split()[0]: " ".join(d.split()[1:]) for d in (d.strip() for d in directives)}


@pytest.mark.parametrize("path", ["/review", "/plan", "/evidence", "/plans"])
def test_pages_forbid_inline_script_and_style_and_other_origins(browser, fhir, path) -> None:
    fhir.chart()
    fhir.http.get(f"{ISS}/CarePlan", json={"resourceType": "Bundle", "type": "searchset"})
    launch_id = sign_in(browser)
    response = browser.get(f"{APP}{path}", query_string={"launch_id": launch_id})
    assert response.status_code == 200
    csp = policy(response)
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["object-src"] == "'none'"
    assert csp["frame-ancestors"] == "'self'"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    page = response.get_data(as_text=True)
    assert "<style" not in page
    assert not re.search(r"\sstyle=", page)
    assert not re.search(r"<script(?![^>]*\ssrc=)", page)
    assert not re.search(r"\son[a-z]+=", page)


def test_the_configured_ehr_origins_may_frame_the_app(tmp_path) -> None:
    app = create_app(
        {
            "TESTING": True,
            "SERVER_NAME": "app.example.test",
            "SESSION_DIR": str(tmp_path),
            "SMART_ISSUERS": {ISS: {"client_id": "ldn-app"}},
            "SMART_FRAME_ANCESTORS": ["'self'", "https://ehr.example.test:8443"],
        }
    )
    response = app.test_client().get(f"{APP}/review")
    assert policy(response)["frame-ancestors"] == "'self' https://ehr.example.test:8443"


@pytest.mark.parametrize(
    "bad", ["https://ehr.test; script-src *", "javascript:alert(1)", "*", ["ftp://x"], []]
)
def test_a_bad_frame_ancestors_setting_stops_the_app(bad) -> None:
    with pytest.raises(ValueError, match="SMART_FRAME_ANCESTORS"):
        frame_ancestors(bad)


def test_frame_ancestors_accepts_a_space_separated_string() -> None:
    assert frame_ancestors("https://a.test  https://*.b.test/") == "https://a.test https://*.b.test"


@pytest.mark.parametrize("path", ["/plan", "/plan/save"])
def test_a_post_without_the_csrf_token_is_refused_with_a_page(browser, fhir, path) -> None:
    fhir.chart()
    launch_id = sign_in(browser)
    response = browser.post(f"{APP}{path}?launch_id={launch_id}", data=PLAN)
    assert response.status_code == 400
    assert "The form could not be accepted" in response.get_data(as_text=True)
    assert "Content-Security-Policy" in response.headers
    assert len(fhir.http.calls) == 0  # refused before anything was read or written


def test_a_post_with_another_sessions_token_is_refused(browser, fhir) -> None:
    fhir.chart()
    launch_id = sign_in(browser)
    response = browser.post(
        f"{APP}/plan/save?launch_id={launch_id}", data={**PLAN, "csrf_token": CSRF + "x"}
    )
    assert response.status_code == 400


@pytest.mark.parametrize("token", ["jeton-sécurité", "токен", "\u2028", CSRF + "é"])
def test_a_non_ascii_token_is_refused_with_the_page_not_a_500(browser, fhir, token) -> None:
    fhir.chart()
    launch_id = sign_in(browser)
    response = browser.post(
        f"{APP}/plan/save?launch_id={launch_id}", data={**PLAN, "csrf_token": token}
    )
    assert response.status_code == 400
    assert "The form could not be accepted" in response.get_data(as_text=True)
    assert len(fhir.http.calls) == 0


def test_every_form_carries_the_sessions_token(browser, fhir) -> None:
    fhir.chart()
    launch_id = sign_in(browser)
    page = browser.get(f"{APP}/plan", query_string={"launch_id": launch_id}).get_data(as_text=True)
    forms = page.count("<form")
    assert forms == page.count(f'name="csrf_token" value="{CSRF}"') == 1


def test_the_stylesheet_is_served_by_the_app_with_the_same_headers(browser) -> None:
    response = browser.get(f"{APP}/app-static/app.css")
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response.close()


def test_launch_error_pages_get_the_policy_and_no_inline_style(browser) -> None:
    response = browser.get(f"{APP}/launch", query_string={"iss": "https://evil.test/fhir"})
    assert response.status_code == 403
    assert policy(response)["frame-ancestors"] == "'self'"
    assert "<style" not in response.get_data(as_text=True)
