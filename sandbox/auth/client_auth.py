"""``private_key_jwt`` client authentication (RFC 7523 §2.2, SMART "Client Authentication:
Asymmetric"), registered with authlib as a client authentication method.

The client signs a short-lived JWT with its private key (RS384 or ES384): ``iss`` = ``sub`` =
its client_id, ``aud`` = the token endpoint URL, ``exp`` at most five minutes ahead, a unique
``jti``. The server checks it against the client's registered JWK Set and refuses a ``jti`` it
has seen before.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from authlib.oauth2.rfc6749 import InvalidClientError, OAuth2Request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact

from sandbox.auth.models import PRIVATE_KEY_JWT, Client
from sandbox.auth.store import ExpiringMap, SandboxDatabase

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ("RS384", "ES384")
MAX_LIFETIME = 300  # SMART: exp no more than five minutes in the future
CLOCK_LEEWAY = 30

log = logging.getLogger("ldn.sandbox.auth")


class PrivateKeyJwtAuthentication:
    """Authenticate a client by its signed assertion; a callable authlib registers by name."""

    def __init__(self, token_endpoint: str, database: SandboxDatabase) -> None:
        self._token_endpoint = token_endpoint
        self._now = database.now
        self._seen: ExpiringMap[tuple[str, str], bool] = database.map("assertion-jti")

    def __call__(
        self, query_client: Callable[[str], Client | None], request: OAuth2Request
    ) -> Client | None:
        """Return the client the assertion proves, None when there is no assertion."""
        form = request.payload.data
        assertion = form.get("client_assertion")
        if assertion is None:
            return None
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise _refuse(f"client_assertion_type must be {ASSERTION_TYPE}")
        client = query_client(_claimed_client_id(assertion))
        if client is None or client.auth_method != PRIVATE_KEY_JWT or client.jwks is None:
            raise _refuse("The assertion names no client registered for private_key_jwt.")
        if form.get("client_id") not in (None, client.client_id):
            raise _refuse("client_id does not match the assertion.")
        try:
            token = jwt.decode(assertion, client.jwks, algorithms=ASSERTION_ALGORITHMS)
            self._claims_registry(client.client_id).validate(token.claims)
        except JoseError as error:
            raise _refuse(f"The client assertion is not valid ({error.error}).") from error
        self._check_lifetime_and_replay(client.client_id, token.claims)
        return client

    def _claims_registry(self, client_id: str) -> jwt.JWTClaimsRegistry:
        return jwt.JWTClaimsRegistry(
            now=lambda: int(self._now()),
            leeway=CLOCK_LEEWAY,
            iss={"essential": True, "value": client_id},
            sub={"essential": True, "value": client_id},
            aud={"essential": True, "value": self._token_endpoint},
            exp={"essential": True},
            jti={"essential": True},
        )

    def _check_lifetime_and_replay(self, client_id: str, claims: dict[str, Any]) -> None:
        remaining = claims["exp"] - self._now()
        if remaining > MAX_LIFETIME + CLOCK_LEEWAY:
            raise _refuse("The client assertion must expire within five minutes.")
        if not self._seen.add((client_id, claims["jti"]), True, remaining + CLOCK_LEEWAY):
            raise _refuse("The client assertion was already used (jti seen before).")


def _claimed_client_id(assertion: str) -> str:
    """Read ``iss`` before verifying: it says whose keys to verify with."""
    try:
        claims = json.loads(extract_compact(assertion.encode()).payload)
    except (JoseError, ValueError) as error:
        raise _refuse("The client assertion is not a JWT.") from error
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    if not isinstance(issuer, str):
        raise _refuse("The client assertion has no iss.")
    return issuer


def _refuse(description: str) -> InvalidClientError:
    log.info("client assertion refused", extra={"event": "client_auth_failed"})
    return InvalidClientError(description=description, status_code=401)
