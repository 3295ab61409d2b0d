"""Headers on every answer of the deployable: nosniff always, HSTS over HTTPS only, proxies trusted
only when configured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ldn_safety.app import create_app

# One answer of each kind: health, a CDS refusal (401), a CDS 404, a CDS error on a bad body,
# the app's launch error page, and a path nobody serves.
PATHS = [
    ("GET", "/healthz"),
    ("GET", "/cds-services"),
    ("GET", "/cds-services/no-such-service/x"),
    ("POST", "/cds-services/ldn-naltrexone-order-sign"),
    ("GET", "/launch?iss=https://not-registered.example.test/fhir"),
    ("GET", "/nothing-here"),
]


def _app(tmp_path: Path, **config: Any) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cds.sqlite3'}",
            "SESSION_DIR": str(tmp_path / "sessions"),
            **config,
        }
    )


@pytest.mark.parametrize(("method", "path"), PATHS)
def test_every_answer_says_nosniff(tmp_path: Path, method: str, path: str) -> None:
    response = _app(tmp_path).test_client().open(path, method=method)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(("method", "path"), PATHS)
def test_hsts_over_https_only(tmp_path: Path, method: str, path: str) -> None:
    client = _app(tmp_path).test_client()
    secure = client.open(path, method=method, base_url="https://ldn.example.test")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    plain = client.open(path, method=method, base_url="http://ldn.example.test")
    assert "Strict-Transport-Security" not in plain.headers


def test_forwarded_proto_is_ignored_unless_a_proxy_is_configured(tmp_path: Path) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    direct = _app(tmp_path).test_client().get("/healthz", headers=forwarded)
    assert "Strict-Transport-Security" not in direct.headers
    proxied = _app(tmp_path, TRUSTED_PROXY_HOPS=1).test_client().get("/healthz", headers=forwarded)
    assert proxied.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_proxy_hops_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LDN_TRUSTED_PROXY_HOPS", "1")
    client = _app(tmp_path).test_client()
    response = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in response.headers


@pytest.mark.parametrize("value", [-1, "1", True])
def test_a_malformed_proxy_setting_stops_start_up(tmp_path: Path, value: object) -> None:
    with pytest.raises(ValueError, match="TRUSTED_PROXY_HOPS"):
        _app(tmp_path, TRUSTED_PROXY_HOPS=value)
