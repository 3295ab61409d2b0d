"""The launch endpoints through the test client: redirects, error pages, session handling."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ldn_safety.app import create_app
from smart_app.errors import LaunchExpired
from smart_app.session import load_launch

ISS = "https://ehr.example.test/fhir"
APP = "https://app.example.test"


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def session_cookie(response) -> str:
    return next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("ldn_session="))


@pytest.fixture
def browser(app: Flask) -> FlaskClient:
    return app.test_client()


def start(browser: FlaskClient, ehr, **args: str):
    ehr.serve_discovery()
    response = browser.get(f"{APP}/launch", query_string={"iss": ISS, **args})
    assert response.status_code == 302
    return query(response.headers["Location"])


def test_ehr_launch_redirects_to_the_authorize_endpoint(browser, ehr) -> None:
    ehr.serve_discovery()
    response = browser.get(f"{APP}/launch", query_string={"iss": ISS, "launch": "opaque-L"})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(ehr.authorize_url)
    params = query(location)
    assert params["launch"] == "opaque-L"
    assert params["redirect_uri"] == f"{APP}/callback"
    assert params["aud"] == ISS
    assert response.headers["Cache-Control"] == "no-store"


def test_the_session_cookie_survives_an_iframe_on_another_site(browser, ehr) -> None:
    ehr.serve_discovery()
    response = browser.get(f"{APP}/launch", query_string={"iss": ISS, "launch": "L"})
    attributes = {a.strip().lower() for a in session_cookie(response).split(";")[1:]}
    assert {"samesite=none", "secure", "partitioned", "httponly"} <= attributes


def test_an_unknown_issuer_gets_an_error_page_and_no_fetch(browser, ehr) -> None:
    response = browser.get(f"{APP}/launch", query_string={"iss": "https://evil.test/fhir"})
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "This EHR is not set up for the app" in page
    assert "What to do next" in page
    assert len(ehr.http.calls) == 0


def test_a_launch_under_a_prefix_entry_discovers_and_authorizes_for_its_own_issuer(
    tmp_path, ehr
) -> None:
    sim = "https://ehr.example.test/sim/eyJhIjoiMSJ9/fhir"
    app = create_app(
        {
            "TESTING": True,
            "SERVER_NAME": "app.example.test",
            "PREFERRED_URL_SCHEME": "https",
            "SESSION_DIR": str(tmp_path / "sessions"),
            "SMART_ISSUERS": {
                "https://ehr.example.test/sim/": {"client_id": "ldn-app", "match": "prefix"}
            },
        }
    )
    ehr.http.get(f"{sim}/.well-known/smart-configuration", json=ehr.discovery())
    browser = app.test_client()
    response = browser.get(f"{APP}/launch", query_string={"iss": sim, "launch": "L"})
    assert response.status_code == 302
    params = query(response.headers["Location"])
    assert (params["aud"], params["client_id"]) == (sim, "ldn-app")

    calls = len(ehr.http.calls)
    look_alike = "https://ehr.example.test.evil.example/sim/eyJhIjoiMSJ9/fhir"
    refused = browser.get(f"{APP}/launch", query_string={"iss": look_alike, "launch": "L"})
    assert refused.status_code == 403
    assert len(ehr.http.calls) == calls  # nothing fetched from the look-alike


def test_a_launch_without_issuer_explains_where_to_start(browser) -> None:
    response = browser.get(f"{APP}/launch", query_string={"launch": "L"})
    assert response.status_code == 400
    assert "opened without an EHR" in response.get_data(as_text=True)


def test_a_standalone_launch_uses_the_configured_default_issuer(app_config, ehr) -> None:
    browser = create_app({**app_config, "SMART_DEFAULT_ISS": ISS}).test_client()
    ehr.serve_discovery()
    response = browser.get(f"{APP}/launch")
    assert response.status_code == 302
    assert "launch/patient" in query(response.headers["Location"])["scope"].split()


def test_a_discovery_failure_is_a_page_not_a_stack_trace(browser, ehr) -> None:
    ehr.http.get(ehr.discovery_url, status=500, body="Traceback (most recent call last)")
    response = browser.get(f"{APP}/launch", query_string={"iss": ISS, "launch": "L"})
    assert response.status_code == 502
    page = response.get_data(as_text=True)
    assert "sign-in service could not be reached" in page
    assert "Traceback" not in page


def test_callback_completes_the_launch_and_rotates_the_session(app, browser, ehr) -> None:
    ehr.serve_discovery()
    launched = browser.get(f"{APP}/launch", query_string={"iss": ISS, "launch": "L"})
    before = session_cookie(launched).split(";")[0]
    params = query(launched.headers["Location"])
    ehr.serve_token(ehr.token_response(params["nonce"]))
    ehr.serve_jwks()

    response = browser.get(f"{APP}/callback", query_string={"code": "c", "state": params["state"]})

    assert response.status_code == 302
    launch_id = query(response.headers["Location"])["launch_id"]
    after = session_cookie(response).split(";")[0]
    assert after != before
    assert "the-access-token" not in response.get_data(as_text=True)
    assert all("the-access-token" not in value for _, value in response.headers)
    assert response.headers["Referrer-Policy"] == "no-referrer"
    with browser.session_transaction() as session_data:
        assert session_data["smart_launches"][launch_id]["patient"] == "pat-123"


@pytest.mark.parametrize(
    ("app_context", "landing"),
    [
        ('{"topic":"alcohol-use-disorder"}', "/evidence"),
        ('{"order":"MedicationRequest/d-1","status":"do-not-start"}', "/review"),
        ("not JSON {", "/review"),
        (None, "/review"),
    ],
    ids=["evidence-card", "opioid-card", "unreadable", "no-card"],
)
def test_a_launch_lands_where_the_cards_link_says(browser, ehr, app_context, landing) -> None:
    ehr.serve_discovery()
    launched = browser.get(f"{APP}/launch", query_string={"iss": ISS, "launch": "L"})
    params = query(launched.headers["Location"])
    ehr.serve_token(ehr.token_response(params["nonce"], appContext=app_context))
    ehr.serve_jwks()
    response = browser.get(f"{APP}/callback", query_string={"code": "c", "state": params["state"]})
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == landing


def test_the_old_session_id_is_dead_after_login(app, ehr) -> None:
    browser = app.test_client()
    ehr.serve_discovery()
    launched = browser.get(f"{APP}/launch", query_string={"iss": ISS, "launch": "L"})
    old_sid = session_cookie(launched).split(";")[0].split("=", 1)[1]
    params = query(launched.headers["Location"])
    ehr.serve_token(ehr.token_response(params["nonce"]))
    ehr.serve_jwks()
    browser.get(f"{APP}/callback", query_string={"code": "c", "state": params["state"]})

    interface = app.session_interface
    assert interface._retrieve_session_data(interface._get_store_id(old_sid)) is None


def test_a_state_works_once(browser, ehr) -> None:
    params = start(browser, ehr, launch="L")
    ehr.serve_token(ehr.token_response(params["nonce"]))
    ehr.serve_jwks()
    args = {"code": "c", "state": params["state"]}
    assert browser.get(f"{APP}/callback", query_string=args).status_code == 302
    again = browser.get(f"{APP}/callback", query_string=args)
    assert again.status_code == 400
    assert "not valid here" in again.get_data(as_text=True)


def test_a_state_from_another_browser_is_refused(app, browser, ehr) -> None:
    params = start(browser, ehr, launch="L")
    other = app.test_client()
    response = other.get(f"{APP}/callback", query_string={"code": "c", "state": params["state"]})
    assert response.status_code == 400
    assert len([c for c in ehr.http.calls if c.request.method == "POST"]) == 0


def test_an_authorization_error_is_explained_and_escaped(browser, ehr) -> None:
    params = start(browser, ehr, launch="L")
    response = browser.get(
        f"{APP}/callback",
        query_string={
            "state": params["state"],
            "error": "access_denied",
            "error_description": "<script>alert(1)</script>",
        },
    )
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "did not authorize the app" in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


def test_a_page_without_a_launch_says_the_session_ended(app) -> None:
    with app.test_request_context(f"{APP}/review"), pytest.raises(LaunchExpired):
        load_launch("unknown")
