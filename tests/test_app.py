"""The deployable's factory: configuration and health."""

import html
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
import responses

from cds_hooks.schema import upgrade
from ldn_safety.app import create_app
from tests.cds_hooks.support import PATIENT_ID, SIGN, hook_body, searchset
from tests.smart_app.pages_testkit import APP, ISS, FakeFhir, sign_in, statement


def test_health_endpoint_answers_ok() -> None:
    client = create_app({"TESTING": True}).test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_environment_configures_the_app(monkeypatch) -> None:
    monkeypatch.setenv("LDN_LOG_LEVEL", '"WARNING"')
    app = create_app()
    assert app.config["LOG_LEVEL"] == "WARNING"


@pytest.mark.parametrize("value", ['"LOUD"', '"info"', "true"])
def test_a_malformed_log_level_stops_start_up(monkeypatch, value: str) -> None:
    monkeypatch.setenv("LDN_LOG_LEVEL", value)
    with pytest.raises(ValueError, match="LOG_LEVEL must be a level"):
        create_app()


def test_a_malformed_methadone_washout_stops_start_up(monkeypatch) -> None:
    monkeypatch.setenv("LDN_METHADONE_WASHOUT_DAYS", "0")
    with pytest.raises(ValueError, match="LDN_METHADONE_WASHOUT_DAYS"):
        create_app()


def _readiness(config: dict) -> tuple[int, dict]:
    app = create_app({"TESTING": True, **config})
    try:
        response = app.test_client().get("/readyz")
        return response.status_code, response.get_json()
    finally:
        app.extensions["cds_hooks"].store.close()


def test_ready_on_the_embedded_stores() -> None:
    status, body = _readiness({})
    assert (status, body["status"]) == (200, "ready")
    assert body["checks"] == {"database": "ok", "session files": "ok"}


def test_ready_on_postgresql_and_redis(postgres_url: str, redis_url: str) -> None:
    config = {"DATABASE_URL": postgres_url, "SESSION_REDIS_URL": redis_url}
    status, body = _readiness(config)
    # A shared database is migrated by the operator: until then the instance is not ready.
    assert status == 503
    assert body["checks"]["database"] == "schema at no revision: run 'ldn-safety db upgrade'"
    assert body["checks"]["redis"] == "ok"
    app = create_app({"TESTING": True, **config})
    upgrade(app.extensions["cds_hooks"].store.engine)
    app.extensions["cds_hooks"].store.close()
    assert _readiness(config) == (
        200,
        {"status": "ready", "checks": {"database": "ok", "redis": "ok"}},
    )


def test_not_ready_names_what_is_down() -> None:
    nothing_listens = "127.0.0.1:9"
    status, body = _readiness(
        {
            "DATABASE_URL": f"postgresql+psycopg://ldn@{nothing_listens}/ldn",
            "SESSION_REDIS_URL": f"redis://{nothing_listens}/0",
        }
    )
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "unreachable (OperationalError)"
    assert body["checks"]["redis"] == "unreachable (ConnectionError)"


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("LDN_METHADONE_WASHOUT_DAYS", "3", "DAYS .3 days. is shorter than the long-acting"),
        ("LDN_METHADONE_WASHOUT_DAYS", "13", "DAYS .13 days. is shorter than the long-acting"),
        ("LDN_METHADONE_WASHOUT_DAYS", '"21"', "LDN_METHADONE_WASHOUT_DAYS: .* whole number"),
        ("LDN_SPECIALIST_GUIDANCE_HORIZON_DAYS", "30", "LDN_SPECIALIST_GUIDANCE_HORIZON_DAYS"),
        ("LDN_SPECIALIST_GUIDANCE_HORIZON_DAYS", '"a year"', "whole number of days"),
    ],
)
def test_a_site_window_that_would_clear_too_early_stops_start_up(
    monkeypatch, name: str, value: str, named: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=named):
        create_app()


def test_site_windows_within_bounds_start(monkeypatch) -> None:
    monkeypatch.setenv("LDN_METHADONE_WASHOUT_DAYS", "14")
    monkeypatch.setenv("LDN_SPECIALIST_GUIDANCE_HORIZON_DAYS", "365")
    page = create_app({"TESTING": True}).test_client().get("/about").get_data(as_text=True)
    assert "14 days or more (set locally)" in page


def test_one_site_methadone_washout_dates_both_the_card_and_the_review(
    monkeypatch, tmp_path: Path
) -> None:
    """The setting is read once: the card, the app's review and the source page all apply it."""
    monkeypatch.setenv("LDN_METHADONE_WASHOUT_DAYS", "21")
    app = create_app(
        {
            "TESTING": True,
            "SERVER_NAME": "app.example.test",
            "PREFERRED_URL_SCHEME": "https",
            "SESSION_DIR": str(tmp_path / "sessions"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cds.sqlite3'}",
            "SMART_ISSUERS": {ISS: {"client_id": "ldn-app"}},
            "CDS_INSECURE_DEV_NO_JWT": True,
        }
    )
    ended = (date.today() - timedelta(days=5)).isoformat()
    methadone = statement("ms-mtd", "methadone 10 mg tablet", status="completed", end=ended)
    methadone["effectivePeriod"]["start"] = ended
    until = (date.today() + timedelta(days=16)).isoformat()
    client = app.test_client()

    on_card = {**methadone, "subject": {"reference": f"Patient/{PATIENT_ID}"}}
    prefetch = {
        "patient": {"resourceType": "Patient", "id": PATIENT_ID},
        "medicationStatements": searchset(on_card),
        "medicationRequests": None,
        "medicationDispenses": None,
        "medicationAdministrations": None,
        "conditions": None,
    }
    answer = client.post(f"/cds-services/{SIGN}", json=hook_body(prefetch=prefetch))
    assert answer.status_code == 200, answer.get_json()
    (card,) = [c for c in answer.get_json()["cards"] if c["indicator"] == "critical"]
    assert until in card["summary"]

    with responses.RequestsMock(assert_all_requests_are_fired=False) as http:
        FakeFhir(http).chart(statements=(methadone,))
        launch_id = sign_in(client)
        review = client.get(f"{APP}/review", query_string={"launch_id": launch_id})
    assert review.status_code == 200
    words = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", review.get_data(as_text=True))).split())
    assert f"until {until}" in words.lower()

    assert "21 days or more (set locally)" in client.get("/about").get_data(as_text=True)


def test_the_card_source_page_says_what_is_checked_its_source_and_version() -> None:
    client = create_app({"TESTING": True}).test_client()
    response = client.get("/about")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "order-select" in page
    assert "order-sign" in page
    assert "Version 0.1.0." in page
    assert "Separating Evidence from Enthusiasm" in page
    assert "specialist guidance" in page  # methadone: no number, as the article gives none
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_a_site_methadone_washout_shows_on_the_source_page() -> None:
    client = create_app({"TESTING": True, "METHADONE_WASHOUT_DAYS": 21}).test_client()
    assert "21 days or more (set locally)" in client.get("/about").get_data(as_text=True)


def test_the_deployable_has_a_favicon() -> None:
    response = create_app({"TESTING": True}).test_client().get("/favicon.ico")
    assert response.status_code == 200
    assert response.content_type == "image/svg+xml"
    assert response.get_data(as_text=True).startswith("<svg")
