"""The deployable's factory: configuration and health."""

import pytest

from ldn_safety.app import create_app


def test_health_endpoint_answers_ok() -> None:
    client = create_app({"TESTING": True}).test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_environment_configures_the_app(monkeypatch) -> None:
    monkeypatch.setenv("LDN_LOG_LEVEL", '"WARNING"')
    app = create_app()
    assert app.config["LOG_LEVEL"] == "WARNING"


def test_a_malformed_methadone_washout_stops_start_up(monkeypatch) -> None:
    monkeypatch.setenv("LDN_METHADONE_WASHOUT_DAYS", "0")
    with pytest.raises(ValueError, match="washout"):
        create_app()


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
