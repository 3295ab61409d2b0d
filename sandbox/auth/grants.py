"""authlib grants with the SMART rules: PKCE S256 for every client, ``aud``, launch and refresh.

The server these grants run on is ``sandbox.auth.server.SmartAuthorizationServer``: they reach
its configuration and its ``GrantStore`` through ``self.server``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Request,
    grants,
)
from authlib.oauth2.rfc7636 import CodeChallenge

from sandbox.auth.models import AUTH_METHODS, Authorization, AuthorizationCode, RefreshToken
from sandbox.auth.scopes import fit_to_context, scope_tokens, scope_within


class RequireS256(CodeChallenge):
    """PKCE (RFC 7636) required of every client, public or confidential, with S256 only.

    SMART App Launch 2.x requires PKCE with ``S256``; ``plain`` is refused. authlib's own check
    accepts a request without a challenge (so a confidential client could skip PKCE) and takes a
    missing method to mean ``plain``. Once every code has a challenge, authlib requires the
    verifier at the token endpoint and compares it.
    """

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def validate_code_challenge(
        self, grant: grants.AuthorizationCodeGrant, redirect_uri: Any
    ) -> None:
        """Refuse an authorization request without ``code_challenge`` or not using S256."""
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256).")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class SmartAuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """The authorization code grant with SMART's ``aud`` and ``launch`` rules."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(AUTH_METHODS)

    def __init__(self, request: OAuth2Request, server: Any) -> None:
        super().__init__(request, server)
        self.register_hook("after_validate_authorization_request_payload", _check_smart_request)

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        """Keep the code with its PKCE challenge, granted scope and authorization."""
        data = request.payload.data
        authorization: Authorization = request.user
        record = AuthorizationCode(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=data["redirect_uri"],
            scope=fit_to_context(
                request.scope,
                patient=authorization.patient is not None,
                encounter=authorization.encounter is not None,
            ),
            code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"],
            authorization=authorization,
        )
        self.server.grants.save_code(record, self.server.config.code_ttl)

    def query_authorization_code(self, code: str, client: Any) -> AuthorizationCode | None:
        """Find a live code issued to ``client`` (a spent one revokes its tokens)."""
        record: AuthorizationCode | None = self.server.grants.find_code(code)
        if record is None or record.client_id != client.client_id:
            return None
        return record

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """Spend the code first, so that two concurrent requests cannot both redeem it."""
        if not self.server.grants.spend_code(self.request.authorization_code.code):
            raise InvalidGrantError("The code was already used.")
        return super().create_token_response()  # type: ignore[no-any-return]

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Nothing to do: ``create_token_response`` spent the code before issuing tokens."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Authorization:
        """Return the authorization the code stands for."""
        return authorization_code.authorization


class SmartRefreshTokenGrant(grants.RefreshTokenGrant):
    """Refresh with rotation: each refresh token works once and is replaced by a new one."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(AUTH_METHODS)
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        """Find a live refresh token (a spent one revokes its whole grant family)."""
        return self.server.grants.find_refresh_token(refresh_token)  # type: ignore[no-any-return]

    def _validate_token_scope(self, token: RefreshToken) -> None:
        # authlib compares scope strings; SMART scopes narrow by meaning (patient/*.rs covers
        # patient/Observation.rs), so the check is whether the new scope is within the old.
        requested = self.request.payload.scope
        if requested and not scope_within(requested, token.get_scope()):
            raise InvalidScopeError("A refresh may narrow the scope, never widen it.")

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """Spend the refresh token first, so that two concurrent refreshes cannot both succeed."""
        if not self.server.grants.spend_refresh_token(self.request.refresh_token.value):
            raise InvalidGrantError("The refresh token was already used.")
        return super().create_token_response()  # type: ignore[no-any-return]

    def authenticate_user(self, refresh_token: RefreshToken) -> Authorization:
        """Return the authorization behind the refresh token, without the one-time nonce."""
        return dataclasses.replace(refresh_token.authorization, nonce=None)

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        """Nothing to do: ``create_token_response`` spent the old token before issuing."""


def _check_smart_request(grant: SmartAuthorizationCodeGrant, _result: object) -> None:
    """Apply SMART's ``aud`` and ``launch`` rules (App Launch 2.x, "Obtain authorization code")."""
    data = grant.request.payload.data
    fhir_base = grant.server.config.fhir_base
    aud = data.get("aud")
    if not aud or aud.rstrip("/") != fhir_base:
        raise InvalidRequestError(f"aud must be the FHIR base URL of this server, {fhir_base}.")
    granted = scope_tokens(grant.request.scope)
    if data.get("launch") and "launch" not in granted:
        raise InvalidScopeError("An EHR launch needs the launch scope.")
    if "launch" in granted and not data.get("launch"):
        raise InvalidRequestError("The launch scope needs the launch parameter the EHR sent.")
