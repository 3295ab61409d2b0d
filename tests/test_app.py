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


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("LDN_METHADONE_WASHOUT_DAYS", "3", "shorter than the long-acting washout"),
        ("LDN_METHADONE_WASHOUT_DAYS", "13", "shorter than the long-acting washout"),
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
    app = create_app()
    assert app.config["SPECIALIST_GUIDANCE_HORIZON_DAYS"] == 365
