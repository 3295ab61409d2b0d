"""What the authorization server knows: registered clients, authorizations, codes and tokens."""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization

from fhir_profiles.syntax import ID_SYNTAX
from sandbox.auth.scopes import Scopes, narrow_scope

PUBLIC = "none"
CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 -- a method name, not a secret
PRIVATE_KEY_JWT = "private_key_jwt"
AUTH_METHODS = (CLIENT_SECRET_BASIC, PRIVATE_KEY_JWT, PUBLIC)
GRANT_TYPES = ("authorization_code", "refresh_token")

# What a registered client may be granted when its registration names no scope.
DEFAULT_CLIENT_SCOPE = (
    "openid fhirUser launch launch/patient launch/encounter offline_access online_access "
    "patient/*.cruds user/*.cruds"
)

# A FHIR id, and a reference to a resource that can be a SMART user (fhirUser).
USER_REFERENCE = re.compile(
    rf"(Practitioner|PractitionerRole|Patient|RelatedPerson|Person)/{ID_SYNTAX}"
)


class ClientConfigError(ValueError):
    """A client registration in the configuration is not usable."""


@dataclass(frozen=True)
class Client(ClientMixin):
    """A registered SMART client: public, confidential with a secret, or with a key pair."""

    client_id: str
    redirect_uris: tuple[str, ...]
    auth_method: str
    scope: str
    name: str
    secret: str | None = None
    jwks: KeySet | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Client:
        """Build a client from its registration (RFC 7591 field names)."""
        client_id = data.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise ClientConfigError("every client needs a non-empty 'client_id'")
        redirect_uris = data.get("redirect_uris")
        if not redirect_uris or not all(isinstance(uri, str) for uri in redirect_uris):
            raise ClientConfigError(f"client {client_id}: 'redirect_uris' must list URLs")
        method = data.get("token_endpoint_auth_method", PUBLIC)
        if method not in AUTH_METHODS:
            raise ClientConfigError(
                f"client {client_id}: 'token_endpoint_auth_method' must be one of {AUTH_METHODS}"
            )
        scope = data.get("scope", DEFAULT_CLIENT_SCOPE)
        if not isinstance(scope, str):
            scope = " ".join(scope)
        return cls(
            client_id=client_id,
            redirect_uris=tuple(redirect_uris),
            auth_method=method,
            scope=scope,
            name=str(data.get("client_name", client_id)),
            secret=_secret(client_id, method, data.get("client_secret")),
            jwks=_jwks(client_id, method, data.get("jwks")),
        )

    def get_client_id(self) -> str:
        """Return the client id."""
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        """Offer no default: SMART clients always send their redirect_uri."""

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """Return the part of ``scope`` this client may have, or None when nothing is left."""
        granted = narrow_scope(scope, self.scope)
        return granted or None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Tell whether ``redirect_uri`` is registered (exact match, RFC 9700 §4.1.3)."""
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        """Compare the secret in constant time."""
        if self.secret is None:
            return False
        return hmac.compare_digest(self.secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """Accept only the authentication method the client registered."""
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        """Accept only the authorization code flow."""
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        """Accept the authorization code and refresh token grants."""
        return grant_type in GRANT_TYPES


@dataclass(frozen=True)
class Authorization:
    """What the user approved: who, for which patient and encounter, with which launch details.

    ``grant_id`` names the family of codes and tokens that stem from one approval, so all of
    them can be revoked together when a code or refresh token is replayed.
    """

    grant_id: str
    user: str
    patient: str | None
    encounter: str | None
    fhir_context: tuple[str, ...]
    need_patient_banner: bool
    smart_style_url: str
    nonce: str | None
    app_context: str | None = None


@dataclass(frozen=True)
class AuthorizationCode(AuthorizationCodeMixin):
    """An issued authorization code and everything the token request is checked against."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    authorization: Authorization

    def get_redirect_uri(self) -> str:
        """Return the redirect_uri the code was issued for."""
        return self.redirect_uri

    def get_scope(self) -> str:
        """Return the granted scope."""
        return self.scope


@dataclass(frozen=True)
class RefreshToken(TokenMixin):
    """A live refresh token: single use, replaced by a new one at each refresh."""

    value: str
    client_id: str
    scope: str
    authorization: Authorization

    def get_scope(self) -> str:
        """Return the scope granted with this refresh token."""
        return self.scope

    def check_client(self, client: Client) -> bool:
        """Tell whether ``client`` is the one the token was issued to."""
        return client.client_id == self.client_id


@dataclass(frozen=True)
class TokenInfo:
    """What an access token grants, for the FHIR proxy (RFC 7662 in spirit)."""

    client_id: str
    scope: str
    scopes: Scopes
    user: str
    patient: str | None
    encounter: str | None
    expires_at: int


@dataclass(frozen=True)
class AccessToken:
    """A live access token: what it grants and the grant family it belongs to."""

    info: TokenInfo
    grant_id: str


def _secret(client_id: str, method: str, secret: object) -> str | None:
    if method != CLIENT_SECRET_BASIC:
        return None
    if not isinstance(secret, str) or not secret:
        raise ClientConfigError(f"client {client_id}: client_secret_basic needs 'client_secret'")
    return secret


def _jwks(client_id: str, method: str, jwks: object) -> KeySet | None:
    if method != PRIVATE_KEY_JWT:
        return None
    if not isinstance(jwks, Mapping) or not jwks.get("keys"):
        raise ClientConfigError(f"client {client_id}: private_key_jwt needs 'jwks' with keys")
    try:
        return KeySet.import_key_set(cast(KeySetSerialization, dict(jwks)))
    except (JoseError, ValueError, KeyError, TypeError) as error:
        raise ClientConfigError(f"client {client_id}: 'jwks' is not a valid JWK Set") from error
