"""Discovery: the SMART configuration under the FHIR base, OpenID metadata, JWKS, style; config."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.auth import AuthConfig, AuthConfigError, Client, ClientConfigError
from tests.sandbox.auth_testkit import FHIR_BASE, ISSUER, PATIENTS, AuthSandbox


def test_smart_configuration_is_served_under_the_fhir_base() -> None:
    sandbox = AuthSandbox.build()
    response = sandbox.http.get("/fhir/.well-known/smart-configuration")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    document = response.get_json()
    assert document["issuer"] == ISSUER
    assert document["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert document["token_endpoint"] == f"{ISSUER}/token"
    assert document["jwks_uri"] == f"{ISSUER}/jwks"
    assert document["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert set(document["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "private_key_jwt",
        "none",
    }
    assert document["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["response_types_supported"] == ["code"]
    assert {"openid", "fhirUser", "launch", "launch/patient", "offline_access"} <= set(
        document["scopes_supported"]
    )
    assert {
        "launch-ehr",
        "launch-standalone",
        "client-public",
        "client-confidential-symmetric",
        "client-confidential-asymmetric",
        "context-ehr-patient",
        "context-ehr-encounter",
        "context-standalone-patient",
        "context-banner",
        "context-style",
        "permission-v2",
        "permission-v1",
        "permission-patient",
        "permission-user",
        "permission-offline",
        "sso-openid-connect",
        "authorize-post",
    } <= set(document["capabilities"])


def test_openid_metadata_and_jwks_agree_with_the_smart_configuration() -> None:
    sandbox = AuthSandbox.build()
    smart = sandbox.http.get("/fhir/.well-known/smart-configuration").get_json()
    openid = sandbox.http.get("/auth/.well-known/openid-configuration").get_json()
    assert openid["issuer"] == smart["issuer"]
    assert openid["jwks_uri"] == smart["jwks_uri"]
    jwks = sandbox.http.get("/auth/jwks").get_json()
    (key,) = jwks["keys"]
    assert key["alg"] == "ES384" == openid["id_token_signing_alg_values_supported"][0]
    assert "d" not in key, "the JWKS must never carry the private part"


def test_the_style_url_answers_json() -> None:
    sandbox = AuthSandbox.build()
    style = sandbox.http.get("/auth/smart-style.json").get_json()
    assert style["color_background"].startswith("#")


def _config(**changes: Any) -> AuthConfig:
    settings: dict[str, Any] = {"fhir_base": FHIR_BASE, "issuer": ISSUER, "clients": ()}
    return AuthConfig(**{**settings, **changes}, patients=lambda: PATIENTS)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"fhir_base": "not a url"}, "fhir_base"),
        ({"issuer": "ftp://localhost/auth"}, "issuer"),
        ({"default_user": "dr-1"}, "default_user"),
        ({"signing_alg": "HS256"}, "signing_alg"),
    ],
)
def test_unusable_settings_are_refused_with_a_clear_message(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(AuthConfigError, match=message):
        _config(**settings)


@pytest.mark.parametrize(
    ("client", "message"),
    [
        ({"redirect_uris": ["http://localhost/cb"]}, "client_id"),
        ({"client_id": "a"}, "redirect_uris"),
        ({"client_id": "a", "redirect_uris": ["x"], "token_endpoint_auth_method": "tls"}, "one of"),
        (
            {
                "client_id": "a",
                "redirect_uris": ["x"],
                "token_endpoint_auth_method": "client_secret_basic",
            },
            "client_secret",
        ),
        (
            {
                "client_id": "a",
                "redirect_uris": ["x"],
                "token_endpoint_auth_method": "private_key_jwt",
            },
            "jwks",
        ),
        (
            {
                "client_id": "a",
                "redirect_uris": ["x"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [{"kty": "EC"}]},
            },
            "not a valid JWK Set",
        ),
    ],
)
def test_unusable_client_registrations_are_refused(client: dict[str, Any], message: str) -> None:
    with pytest.raises(ClientConfigError, match=message):
        Client.from_dict(client)


def test_client_ids_must_be_unique() -> None:
    client = Client.from_dict({"client_id": "a", "redirect_uris": ["http://localhost/cb"]})
    with pytest.raises(AuthConfigError, match="unique"):
        _config(clients=(client, client))
