"""The sandbox's SMART authorization server: authlib's server with the SMART grants and stores.

``SandboxAuth`` owns everything with state (signing key, launches, pending consents, codes and
tokens) and offers the three things other parts use: ``create_launch`` (the EHR page),
``introspect`` (the FHIR proxy) and the authorization steps the routes drive.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from flask import Response, current_app
from flask.sansio.app import App

from sandbox.auth.client_auth import PrivateKeyJwtAuthentication
from sandbox.auth.config import AuthConfig
from sandbox.auth.grants import RequireS256, SmartAuthorizationCodeGrant, SmartRefreshTokenGrant
from sandbox.auth.keys import load_signing_key
from sandbox.auth.launch import LaunchContext, LaunchStore
from sandbox.auth.models import (
    PRIVATE_KEY_JWT,
    AccessToken,
    Authorization,
    Client,
    RefreshToken,
    TokenInfo,
)
from sandbox.auth.scopes import Scopes, fit_to_context, scope_tokens
from sandbox.auth.store import ExpiringMap, GrantStore, SandboxDatabase
from sandbox.auth.tokens import TokenIssuer

EXTENSION = "ldn_sandbox_auth"

log = logging.getLogger("ldn.sandbox.auth")


class SmartAuthorizationServer(AuthorizationServer):
    """authlib's Flask authorization server, wired to the sandbox's clients and stores."""

    def __init__(
        self,
        config: AuthConfig,
        database: SandboxDatabase,
        grants: GrantStore,
        issuer: TokenIssuer,
    ) -> None:
        super().__init__()
        self.config = config
        self.grants = grants
        self._clients: Mapping[str, Client] = {c.client_id: c for c in config.clients}
        self.register_token_generator("default", issuer)
        self.register_grant(SmartAuthorizationCodeGrant, [RequireS256(required=True)])
        self.register_grant(SmartRefreshTokenGrant)
        self.register_client_auth_method(
            PRIVATE_KEY_JWT, PrivateKeyJwtAuthentication(config.endpoint("token"), database)
        )

    def query_client(self, client_id: str) -> Client | None:
        """Return the registered client with ``client_id``, or None."""
        return self._clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Keep the new access token (and refresh token) with what they grant."""
        authorization: Authorization = request.user
        client_id = request.client.client_id
        scope = token["scope"]
        info = TokenInfo(
            client_id=client_id,
            scope=scope,
            scopes=Scopes.parse(scope, authorization.patient),
            user=authorization.user,
            patient=authorization.patient,
            encounter=authorization.encounter,
            expires_at=int(self.config.now()) + token["expires_in"],
        )
        access = AccessToken(info, authorization.grant_id)
        self.grants.save_access_token(token["access_token"], access, token["expires_in"])
        if "refresh_token" in token:
            refresh = RefreshToken(token["refresh_token"], client_id, scope, authorization)
            self.grants.save_refresh_token(refresh, self.config.refresh_token_ttl)
        log.info("token issued", extra={"event": "token_issued"})


@dataclass(frozen=True)
class PendingAuthorization:
    """A valid authorization request waiting for the user's decision (and patient choice)."""

    uri: str
    params: Mapping[str, str]
    client_name: str
    scope: str
    authorization: Authorization
    needs_patient: bool


class SandboxAuth:
    """The authorization server with its state: one per sandbox app."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self.key = load_signing_key(config.signing_alg, config.signing_key_file)
        self.database = SandboxDatabase(config.database_url, config.now)
        self.launches = LaunchStore(self.database, config.launch_ttl)
        self._pending: ExpiringMap[str, PendingAuthorization] = self.database.map("consent")
        grants = GrantStore(self.database, remember_spent_for=config.refresh_token_ttl)
        self.server = SmartAuthorizationServer(
            config, self.database, grants, TokenIssuer(config, self.key)
        )

    def init_app(self, app: App) -> None:
        """Make this server the app's, for ``introspect`` and ``create_launch`` below."""
        registered = app.extensions.setdefault(EXTENSION, self)
        if registered is not self:
            raise RuntimeError("a sandbox authorization server is already registered on this app")

    def create_launch(self, context: LaunchContext) -> str:
        """Return a new opaque, single-use launch value bound to ``context``."""
        return self.launches.create(context)

    def introspect(self, access_token: str) -> TokenInfo | None:
        """Return what a live access token grants, or None if unknown, expired or revoked."""
        record = self.server.grants.find_access_token(access_token)
        return None if record is None else record.info

    def issue_access_token(
        self, *, client_id: str, scope: str, user: str, patient: str | None, ttl: int
    ) -> tuple[str, TokenInfo]:
        """Mint an access token outside any OAuth flow: the EHR's token for a CDS service.

        CDS Hooks ``fhirAuthorization``: the EHR hands the service a bearer token of its own
        making; the FHIR proxy checks it like any other.
        """
        token = secrets.token_urlsafe(32)
        info = TokenInfo(
            client_id=client_id,
            scope=scope,
            scopes=Scopes.parse(scope, patient),
            user=user,
            patient=patient,
            encounter=None,
            expires_at=int(self.config.now()) + ttl,
        )
        self.server.grants.save_access_token(
            token, AccessToken(info, secrets.token_urlsafe(16)), ttl
        )
        return token, info

    def hold_authorization_request(self) -> tuple[str, PendingAuthorization]:
        """Validate the authorize request in flight and keep it for the user's decision.

        Raises authlib's ``OAuth2Error``; its ``redirect_uri`` is set when the error may go back
        to the client.
        """
        grant = self.server.get_consent_grant(end_user=None)
        data = grant.request.payload.data
        authorization, needs_patient = self._authorization(grant)
        pending = PendingAuthorization(
            uri=grant.request.uri,
            params=data.to_dict(),
            client_name=grant.request.client.name,
            scope=fit_to_context(
                grant.request.scope,
                patient=needs_patient or authorization.patient is not None,
                encounter=authorization.encounter is not None,
            ),
            authorization=authorization,
            needs_patient=needs_patient,
        )
        transaction = secrets.token_urlsafe(32)
        self._pending.put(transaction, pending, self.config.consent_ttl)
        return transaction, pending

    def pending(self, transaction: str) -> PendingAuthorization | None:
        """Return the authorization request waiting under ``transaction``, or None."""
        return self._pending.get(transaction)

    def decide(self, transaction: str, approved: bool, patient: str | None) -> Response | None:
        """Answer a held request: redirect with a code, or with ``access_denied``.

        Returns None when the request is no longer held (answered already, or expired).
        """
        pending = self._pending.pop(transaction)
        if pending is None:
            return None
        authorization = pending.authorization
        if pending.needs_patient:
            authorization = dataclasses.replace(authorization, patient=patient)
        # Replay the held request through authlib: it re-checks it and issues the code.
        request = OAuth2Request("POST", pending.uri)
        request.payload = BasicOAuth2Payload(dict(pending.params))
        grant = self.server.get_authorization_grant(request)
        user = authorization if approved else None
        response: Response = self.server.create_authorization_response(request, user, grant)
        log.info("authorization answered", extra={"event": "authorization_decided"})
        return response

    def _authorization(self, grant: SmartAuthorizationCodeGrant) -> tuple[Authorization, bool]:
        """Build what the user is asked to approve; tell whether a patient must be chosen."""
        data = grant.request.payload.data
        common: dict[str, Any] = {
            "grant_id": secrets.token_urlsafe(16),
            "smart_style_url": self.config.endpoint("smart-style.json"),
            "nonce": data.get("nonce"),
        }
        launch = data.get("launch")
        if not launch:
            standalone = Authorization(
                user=self.config.default_user,
                patient=None,
                encounter=None,
                fhir_context=(),
                need_patient_banner=self.config.standalone_need_patient_banner,
                **common,
            )
            return standalone, "launch/patient" in scope_tokens(grant.request.scope)
        context = self.launches.redeem(launch)
        if context is None:
            raise InvalidRequestError(
                "The launch value is unknown, expired or already used: launch again from the EHR.",
                redirect_uri=grant.redirect_uri,
                state=data.get("state"),
            )
        ehr = Authorization(
            user=context.user or self.config.default_user,
            patient=context.patient,
            encounter=context.encounter,
            fhir_context=context.fhir_context,
            need_patient_banner=context.need_patient_banner,
            app_context=context.app_context,
            **common,
        )
        return ehr, False


def current_auth() -> SandboxAuth:
    """Return the sandbox authorization server of the current Flask app."""
    auth = current_app.extensions.get(EXTENSION)
    if auth is None:
        raise RuntimeError("no sandbox authorization server on this app: call init_auth()")
    return auth  # type: ignore[no-any-return]


def introspect(access_token: str) -> TokenInfo | None:
    """Return what a live access token grants on the current app, or None (for the FHIR proxy)."""
    return current_auth().introspect(access_token)


def create_launch(context: LaunchContext) -> str:
    """Return a new launch value bound to ``context`` on the current app (for the EHR page)."""
    return current_auth().create_launch(context)
