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
