"""The discovery documents: SMART configuration (App Launch 2.x, "Conformance") and OpenID's."""

from __future__ import annotations

from typing import Any

from sandbox.auth.client_auth import ASSERTION_ALGORITHMS
from sandbox.auth.config import AuthConfig
from sandbox.auth.models import AUTH_METHODS, GRANT_TYPES

CAPABILITIES = (
    "launch-ehr",
    "launch-standalone",
    "authorize-post",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "context-ehr-patient",
    "context-ehr-encounter",
    "context-standalone-patient",
    "context-banner",
    "context-style",
    "sso-openid-connect",
    "permission-offline",
    "permission-online",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
)

SCOPES_SUPPORTED = (
    "openid",
    "fhirUser",
    "launch",
    "launch/patient",
    "launch/encounter",
    "offline_access",
    "online_access",
    "patient/*.cruds",
    "user/*.cruds",
    "patient/*.read",
    "patient/*.write",
    "user/*.read",
    "user/*.write",
)


def smart_configuration(config: AuthConfig, id_token_alg: str) -> dict[str, Any]:
    """Return the document served at ``{fhir_base}/.well-known/smart-configuration``."""
    return {
        "issuer": config.issuer,
        "jwks_uri": config.endpoint("jwks"),
        "authorization_endpoint": config.endpoint("authorize"),
        "token_endpoint": config.endpoint("token"),
        "grant_types_supported": list(GRANT_TYPES),
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "scopes_supported": list(SCOPES_SUPPORTED),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": [id_token_alg],
        "capabilities": list(CAPABILITIES),
    }


def openid_configuration(config: AuthConfig, id_token_alg: str) -> dict[str, Any]:
    """Return the OpenID Provider metadata, served under ``{issuer}/.well-known/``."""
    return {
        "issuer": config.issuer,
        "jwks_uri": config.endpoint("jwks"),
        "authorization_endpoint": config.endpoint("authorize"),
        "token_endpoint": config.endpoint("token"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [id_token_alg],
        "scopes_supported": ["openid", "fhirUser"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "fhirUser"],
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "code_challenge_methods_supported": ["S256"],
    }
