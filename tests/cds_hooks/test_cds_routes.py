"""The HTTP layer: discovery, authentication, the error table, CORS, and fail-safe errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from joserfc.jwk import ECKey

from cds_hooks import check
from tests.cds_hooks.cds_schema import discovery_problems
from tests.cds_hooks.support import (
    AMOXICILLIN_DRAFT,
    BASE,
    SELECT,
    SIGN,
    Signer,
    base_config,
    bearer,
    hook_body,
    make_app,
)

HOOK_PATH = f"/cds-services/{SIGN}"


def _post(client: FlaskClient, sign: Signer, path: str, body: Any, **kwargs: Any) -> Any:
    return client.post(path, json=body, headers=bearer(sign(path)), **kwargs)


def test_discovery_lists_both_services_with_spec_conformant_templates(
    client: FlaskClient, sign: Signer
) -> None:
    response = client.get("/cds-services", headers=bearer(sign("/cds-services")))
    assert response.status_code == 200
    document = response.get_json()
    assert discovery_problems(document) == []
    services = {s["id"]: s for s in document["services"]}
    assert services[SELECT]["hook"] == "order-select"
    assert services[SIGN]["hook"] == "order-sign"
    for service in services.values():
        assert service["prefetch"] == {
            "patient": "Patient/{{context.patientId}}",
            "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
            "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
            "medicationDispenses": "MedicationDispense?patient={{context.patientId}}",
            "medicationAdministrations": ("MedicationAdministration?patient={{context.patientId}}"),
            "conditions": "Condition?patient={{context.patientId}}",
        }
        assert "JWT" in service["usageRequirements"]


def test_schema_checker_catches_an_include_in_a_template() -> None:
    document = {
        "services": [
            {
                "hook": "order-sign",
                "id": "x",
                "description": "d",
                "prefetch": {"m": "MedicationRequest?patient={{context.patientId}}&_include=x"},
            }
        ]
    }
    assert discovery_problems(document) == [
        "services[0].prefetch.m: parameter '_include' is outside the prefetch query restrictions"
    ]


def test_discovery_needs_a_jwt_unless_configured_open(
    client: FlaskClient, tmp_path: Path, inline_key: ECKey
) -> None:
    assert client.get("/cds-services").status_code == 401
    config = base_config(tmp_path, inline_key) | {"CDS_DISCOVERY_REQUIRES_JWT": False}
    app = make_app(config)
    try:
        assert app.test_client().get("/cds-services").status_code == 200
    finally:
        app.extensions["cds_hooks"].store.close()


def test_refusal_is_401_json_with_challenge_and_no_details(
    client: FlaskClient, sign: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    token = sign(f"/cds-services/{SELECT}")  # the audience of the other service
    with caplog.at_level(logging.INFO, logger="ldn"):
        response = client.post(HOOK_PATH, json=hook_body(), headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    body = response.get_json()
    assert body["error"] == "unauthorized"
    assert "aud" not in body["message"]
    assert token not in caplog.text
    assert token.split(".")[1] not in caplog.text


def test_hook_without_token_is_401(client: FlaskClient) -> None:
    response = client.post(HOOK_PATH, json=hook_body())
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"hook": "order-sign"}, "hookInstance"),
        (hook_body(hook="order-select"), "hook"),
        ([1, 2], "(body)"),
        (hook_body(context={"patientId": "1"}), "context.draftOrders"),
    ],
)
def test_bad_request_is_400_naming_the_field(
    client: FlaskClient, sign: Signer, body: Any, path: str
) -> None:
    response = _post(client, sign, HOOK_PATH, body)
    assert response.status_code == 400
    assert response.get_json()["path"] == path


def test_malformed_json_is_400(client: FlaskClient, sign: Signer) -> None:
    response = client.post(
        HOOK_PATH,
        data=b'{"hook": ',
        headers={**bearer(sign(HOOK_PATH)), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid-request",
        "message": "The body is not valid JSON.",
        "path": "(body)",
    }


def test_a_repeated_key_is_refused_never_read_last_wins(client: FlaskClient, sign: Signer) -> None:
    # The same prefetch key twice: an opioid first, then nothing. Last-wins would say "clear".
    body = hook_body(prefetch={"medicationRequests": None, "conditions": None})
    opioid = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {
                "resource": {
                    "resourceType": "MedicationStatement",
                    "id": "ms-1",
                    "status": "active",
                    "medicationCodeableConcept": {"text": "oxycodone 5 mg tablet"},
                }
            }
        ],
    }
    text = json.dumps(body)[:-2] + (
        f', "medicationStatements": {json.dumps(opioid)}, "medicationStatements": null}}}}'
    )
    response = client.post(
        HOOK_PATH,
        data=text.encode(),
        headers={**bearer(sign(HOOK_PATH)), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "twice in one object" in response.get_json()["message"]


def test_unknown_service_is_404(client: FlaskClient, sign: Signer) -> None:
    response = _post(client, sign, "/cds-services/no-such-service", hook_body())
    assert response.status_code == 404
    assert response.get_json()["error"] == "not-found"


def test_unknown_path_is_json_404(client: FlaskClient) -> None:
    response = client.get("/cds-services/a/b/c")
    assert response.status_code == 404
    assert response.is_json


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("get", HOOK_PATH, "POST"),
        ("put", HOOK_PATH, "POST"),
        ("delete", f"{HOOK_PATH}/feedback", "POST"),
        ("post", "/cds-services", "GET"),
    ],
)
def test_wrong_method_is_json_405(
    client: FlaskClient, method: str, path: str, allowed: str
) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == 405
    assert response.headers["Allow"] == f"{allowed}, OPTIONS"
    assert response.get_json()["error"] == "method-not-allowed"


def test_non_json_body_is_415(client: FlaskClient, sign: Signer) -> None:
    response = client.post(
        HOOK_PATH,
        data="hook=order-sign",
        headers={**bearer(sign(HOOK_PATH)), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    assert response.get_json()["error"] == "unsupported-media-type"


def test_body_over_the_limit_is_413(tmp_path: Path, inline_key: ECKey, sign: Signer) -> None:
    app = make_app(base_config(tmp_path, inline_key) | {"CDS_MAX_BODY_BYTES": 1000})
    try:
        response = app.test_client().post(
            HOOK_PATH, json=hook_body(padding="x" * 2000), headers=bearer(sign(HOOK_PATH))
        )
        assert response.status_code == 413
        assert response.get_json()["error"] == "payload-too-large"
    finally:
        app.extensions["cds_hooks"].store.close()


def test_unexpected_failure_is_503_never_an_empty_card_list(
    client: FlaskClient,
    sign: Signer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "-".join(("Jane", "Doe"))  # built at run time: the logged frames show source lines

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError(f"patient {secret}")

    monkeypatch.setattr(check, "resolve_data", broken)
    with caplog.at_level(logging.ERROR, logger="ldn"):
        response = _post(client, sign, HOOK_PATH, hook_body(prefetch={}))
    assert response.status_code == 503
    body = response.get_json()
    assert "cards" not in body
    assert "not an all-clear" in body["message"]
    assert "RuntimeError" in caplog.text
    assert secret not in caplog.text


def test_order_without_naltrexone_gets_no_cards_and_no_fetch(
    client: FlaskClient, sign: Signer, mocked: responses.RequestsMock
) -> None:
    body = hook_body(drafts=[AMOXICILLIN_DRAFT])
    response = _post(client, sign, HOOK_PATH, body)
    assert response.status_code == 200
    assert response.get_json() == {"cards": []}
    assert [c.request.url for c in mocked.calls if "fhir" in c.request.url] == []


def test_cors_preflight_needs_no_token_and_allows_configured_origin(client: FlaskClient) -> None:
    response = client.options(
        HOOK_PATH,
        headers={
            "Origin": "https://ehr-ui.example.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://ehr-ui.example.test"
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_cors_refuses_other_origins(client: FlaskClient) -> None:
    response = client.options(HOOK_PATH, headers={"Origin": "https://evil.example.test"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_insecure_dev_mode_is_logged_on_each_call(
    tmp_path: Path, inline_key: ECKey, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="ldn"):
        app = make_app(base_config(tmp_path, inline_key) | {"CDS_INSECURE_DEV_NO_JWT": True})
        try:
            response = app.test_client().post(HOOK_PATH, json=hook_body(drafts=[AMOXICILLIN_DRAFT]))
        finally:
            app.extensions["cds_hooks"].store.close()
    assert response.status_code == 200
    messages = [r.getMessage() for r in caplog.records]
    assert sum("INSECURE" in m for m in messages) == 2  # once at start, once for the call


def test_bad_configuration_stops_the_app_with_the_setting_named(
    tmp_path: Path, inline_key: ECKey
) -> None:
    with pytest.raises(ValueError, match="CDS_ALLOWED_FHIR_SERVERS"):
        make_app(base_config(tmp_path, inline_key) | {"CDS_ALLOWED_FHIR_SERVERS": "https://x"})
    with pytest.raises(ValueError, match="CDS_TRUSTED_CLIENTS"):
        make_app(base_config(tmp_path, inline_key) | {"CDS_TRUSTED_CLIENTS": {"x": {}}})
    unusable = {"x": {"jwks": {"keys": [{"kty": "nope"}]}}}
    with pytest.raises(ValueError, match="not a usable JWK Set"):
        make_app(base_config(tmp_path, inline_key) | {"CDS_TRUSTED_CLIENTS": unusable})
    with pytest.raises(ValueError, match="TODAY must be a function"):
        make_app(base_config(tmp_path, inline_key) | {"TODAY": "2026-12-03"})


def test_the_deployable_mounts_the_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ldn_safety.app import create_app

    monkeypatch.setenv("LDN_DATABASE_URL", f'"sqlite:///{tmp_path / "d.sqlite3"}"')
    monkeypatch.setenv("LDN_CDS_DISCOVERY_REQUIRES_JWT", "false")
    app: Flask = create_app({"TESTING": True, "PUBLIC_BASE_URL": BASE, "SECRET_KEY": "k"})
    try:
        response = app.test_client().get("/cds-services")
        assert response.status_code == 200
        assert len(response.get_json()["services"]) == 2
    finally:
        app.extensions["cds_hooks"].store.close()


def test_settings_come_from_ldn_environment_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ldn_safety.app import create_app

    monkeypatch.setenv("LDN_DATABASE_URL", f'"sqlite:///{tmp_path / "e.sqlite3"}"')
    monkeypatch.setenv("LDN_CDS_ALLOWED_FHIR_SERVERS", '["https://fhir.example.test/r4/"]')
    monkeypatch.setenv("LDN_CDS_FHIR_DEADLINE_SECONDS", "1.5")
    monkeypatch.setenv(
        "LDN_CDS_TRUSTED_CLIENTS", '{"https://ehr": {"jwks_url": "https://ehr/jwks"}}'
    )
    app = create_app({"TESTING": True, "SECRET_KEY": "k"})
    try:
        settings = app.extensions["cds_hooks"].settings
        assert settings.fhir_server_allowed("https://fhir.example.test/r4")
        assert settings.fhir_deadline_seconds == 1.5
        assert settings.trusted_clients["https://ehr"].jwks_url == "https://ehr/jwks"
    finally:
        app.extensions["cds_hooks"].store.close()


def test_cards_still_reach_the_clinician_when_the_store_fails(
    client: FlaskClient, app: Flask, sign: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    def failing(_rows: Any) -> None:
        raise OperationalError("insert", {}, Exception("disk full"))

    monkeypatch.setattr(app.extensions["cds_hooks"].store, "insert_cards", failing)
    prefetch = {
        "medicationStatements": None,
        "medicationRequests": None,
        "medicationDispenses": None,
        "medicationAdministrations": None,
        "conditions": None,
    }
    response = _post(client, sign, HOOK_PATH, hook_body(prefetch=prefetch))
    assert response.status_code == 200
    assert response.get_json()["cards"][0]["indicator"] == "info"
    # The write behind the answer failed, and says so (before the test's log capture closes).
    state = app.extensions["cds_hooks"]
    assert state.store.behind.flush(5)
    assert "card store" in state.outages.failing()
