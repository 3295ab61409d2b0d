"""The SMART app's settings: checked once at start-up, a bad one named, a good one in effect."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from ldn_safety.app import create_app
from smart_app.settings import ConfigError
from tests.smart_app.conftest import ISS
from tests.smart_app.pages_testkit import APP, FakeFhir, sign_in


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("SMART_ISSUERS", ["https://ehr.example.test/fhir"], "SMART_ISSUERS must map"),
        ("SMART_ISSUERS", {ISS: {"auth": "public"}}, "client_id is required"),
        ("SMART_DEFAULT_ISS", 42, "SMART_DEFAULT_ISS must be a non-empty string"),
        ("SMART_REDIRECT_URI", "/callback", "SMART_REDIRECT_URI must be an absolute"),
        ("SMART_HTTP_TIMEOUT", 0, "SMART_HTTP_TIMEOUT must be a number greater than 0"),
        ("SMART_HTTP_TIMEOUT", "10", "SMART_HTTP_TIMEOUT must be a number"),
        ("SMART_FHIR_DEADLINE_SECONDS", -1, "SMART_FHIR_DEADLINE_SECONDS must be a number"),
        ("SMART_LAUNCH_RATE_LIMIT", "often", "SMART_LAUNCH_RATE_LIMIT must be a rate"),
        ("SMART_FRAME_ANCESTORS", "*", "SMART_FRAME_ANCESTORS"),
        ("RATE_LIMIT_STORAGE_URI", "", "RATE_LIMIT_STORAGE_URI must be a non-empty string"),
        ("SESSION_HOURS", True, "SESSION_HOURS must be a number greater than 0"),
        ("SESSION_FILE_LIMIT", 0, "SESSION_FILE_LIMIT must be a whole number of at least 1"),
        ("SESSION_DIR", ["sessions"], "SESSION_DIR must be a non-empty string"),
        ("TODAY", "2026-01-01", "TODAY must be a function"),
        ("METHADONE_WASHOUT_DAYS", 3, "LDN_METHADONE_WASHOUT_DAYS .3 days. is shorter"),
        ("METHADONE_WASHOUT_DAYS", [21], "LDN_METHADONE_WASHOUT_DAYS: the methadone washout"),
        ("SPECIALIST_GUIDANCE_HORIZON_DAYS", {"days": 365}, "LDN_SPECIALIST_GUIDANCE_HORIZON"),
    ],
)
def test_a_bad_setting_stops_start_up_with_its_name(
    app_config: dict[str, Any], name: str, value: object, said: str
) -> None:
    with pytest.raises(ConfigError, match=said):
        create_app({**app_config, name: value})


def test_settings_come_from_the_environment_once_at_start_up(
    monkeypatch: pytest.MonkeyPatch, app_config: dict[str, Any], http: Any
) -> None:
    monkeypatch.setenv("LDN_SMART_FRAME_ANCESTORS", '"https://ehr.example.test"')
    app = create_app(app_config)
    # Changing the configuration after start-up changes nothing: the checked copy is in use.
    app.config["SMART_FRAME_ANCESTORS"] = "https://elsewhere.example.test"
    FakeFhir(http).chart()
    browser = app.test_client()
    response = browser.get(f"{APP}/review", query_string={"launch_id": sign_in(browser)})
    assert response.status_code == 200
    assert "frame-ancestors https://ehr.example.test" in response.headers["Content-Security-Policy"]


def test_the_launch_and_the_pages_keep_their_urls(app: Flask) -> None:
    endpoints = {rule.endpoint: rule.rule for rule in app.url_map.iter_rules()}
    assert endpoints["smart_app.launch.launch"] == "/launch"
    assert endpoints["smart_app.launch.callback"] == "/callback"
    assert endpoints["smart_app.pages.review"] == "/review"
    assert endpoints["smart_app.pages.saved_handout"] == "/plan/saved/handout"
    assert endpoints["smart_app.static"] == "/app-static/<path:filename>"
