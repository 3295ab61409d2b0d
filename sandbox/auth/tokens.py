"""Build token responses: bearer token, SMART launch context and the OpenID Connect id_token.

SMART App Launch 2.x, "Obtain access token": the response carries ``access_token``,
``token_type``, ``expires_in``, ``scope`` (what was granted, which may differ from what was
asked), the launch context (``patient``, ``encounter``, ``fhirContext``,
``need_patient_banner``, ``smart_style_url``), an ``id_token`` when ``openid`` was granted and a
``refresh_token`` when ``offline_access`` or ``online_access`` was. A launch from a CDS card's
smart link adds its ``appContext`` (CDS Hooks 2.0, Link: sent to the app "as part of the OAuth
2.0 access token response, alongside the other SMART launch parameters").
"""

from __future__ import annotations

import secrets
from typing import Any

from sandbox.auth.config import AuthConfig
from sandbox.auth.keys import SigningKey
from sandbox.auth.models import Authorization, Client
from sandbox.auth.scopes import Scopes


class TokenIssuer:
    """authlib's token generator: one callable that builds the whole token response."""

    def __init__(self, config: AuthConfig, key: SigningKey) -> None:
        self._config = config
        self._key = key

    def __call__(
        self,
        grant_type: str,
        client: Client,
        user: Authorization,
        scope: str,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        """Build the token response for ``user``'s authorization of ``client`` with ``scope``."""
        granted = Scopes.parse(scope)
        token: dict[str, Any] = {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": expires_in or self._config.access_token_ttl,
            "scope": scope,
        }
        if include_refresh_token and granted.wants_refresh_token:
            token["refresh_token"] = secrets.token_urlsafe(32)
        token.update(_launch_context(user))
        if granted.has("openid"):
            token["id_token"] = self._id_token(client, user, granted)
        return token

    def _id_token(self, client: Client, user: Authorization, granted: Scopes) -> str:
        # OpenID Connect Core §2; SMART adds the fhirUser claim when the fhirUser scope is granted.
        now = int(self._config.now())
        claims: dict[str, Any] = {
            "iss": self._config.issuer,
            "sub": user.user,
            "aud": client.client_id,
            "iat": now,
            "exp": now + self._config.access_token_ttl,
        }
        if user.nonce:
            claims["nonce"] = user.nonce
        if granted.has("fhirUser"):
            claims["fhirUser"] = f"{self._config.fhir_base}/{user.user}"
        return self._key.sign(claims)


def _launch_context(authorization: Authorization) -> dict[str, Any]:
    """Return the SMART launch context parameters of a token response."""
    context: dict[str, Any] = {
        "need_patient_banner": authorization.need_patient_banner,
        "smart_style_url": authorization.smart_style_url,
    }
    if authorization.patient is not None:
        context["patient"] = authorization.patient
    if authorization.encounter is not None:
        context["encounter"] = authorization.encounter
    if authorization.fhir_context:
        context["fhirContext"] = [{"reference": ref} for ref in authorization.fhir_context]
    if authorization.app_context is not None:
        context["appContext"] = authorization.app_context
    return context
