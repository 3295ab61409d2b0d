"""SMART App Launch 2.x, client side, in three steps: ``discover``, ``begin``, ``complete``.

https://hl7.org/fhir/smart-app-launch/app-launch.html. ``discover`` reads the EHR's
``.well-known/smart-configuration`` (only for an allowlisted ``iss``); ``begin`` builds the
authorization URL and the pending launch to keep server-side; ``complete`` checks the callback,
exchanges the code and returns the launch context. ``refresh_if_needed`` renews the access token.
authlib does the OAuth (PKCE, client authentication); joserfc verifies the id_token.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from fhir_client.no_netrc import no_netrc
from smart_app import scopes
from smart_app.errors import (
    AuthorizationDenied,
    DiscoveryFailed,
    InvalidIdToken,
    LaunchExpired,
    StateMismatch,
    TokenExchangeFailed,
)
from smart_app.registrations import ClientRegistration, registration_for

# SMART requires RS256 support for id_tokens; the asymmetric profile adds RS384 and ES384.
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "ES256", "ES384")
# SMART asymmetric client auth: the assertion's exp is at most five minutes ahead.
ASSERTION_LIFETIME = 300
CLOCK_LEEWAY = 60
# CDS Hooks appContext is opaque text that passed through the EHR: kept up to this many UTF-8
# bytes, for display only.
APP_CONTEXT_LIMIT = 4096
# Our names for client authentication (SMART_ISSUERS) -> authlib's token_endpoint_auth_method.
AUTHLIB_AUTH_METHODS = {
    "public": "none",
    "client_secret_basic": "client_secret_basic",
    "private_key_jwt": "private_key_jwt",
}

log = logging.getLogger("ldn.smart_app")


@dataclass(frozen=True)
class SmartConfiguration:
    """The parts of ``.well-known/smart-configuration`` the launch uses."""

    iss: str
    authorization_endpoint: str
    token_endpoint: str
    issuer: str | None = None
    jwks_uri: str | None = None
    capabilities: tuple[str, ...] = ()

    @property
    def supports_scopes_v2(self) -> bool:
        """Return whether the server understands v2 scopes (``permission-v2``)."""
        return "permission-v2" in self.capabilities


@dataclass(frozen=True)
class PendingLaunch:
    """What ``complete`` needs from ``begin``; kept server-side, keyed by ``state``."""

    state: str
    code_verifier: str = field(repr=False)
    nonce: str | None
    redirect_uri: str
    requested_scopes: tuple[str, ...]
    config: SmartConfiguration

    def to_dict(self) -> dict[str, Any]:
        """Return a plain dict for the session store."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingLaunch:
        """Rebuild a pending launch from ``to_dict`` output."""
        config = dict(data["config"])
        config["capabilities"] = tuple(config["capabilities"])
        return cls(
            **{
                **data,
                "requested_scopes": tuple(data["requested_scopes"]),
                "config": SmartConfiguration(**config),
            }
        )


@dataclass(frozen=True)
class LaunchContext:
    """A completed launch: tokens (server-side only), patient context and what the grant allows."""

    iss: str
    client_id: str
    token_endpoint: str
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: int | None
    requested_scopes: tuple[str, ...]
    granted_scopes: tuple[str, ...]
    patient: str | None
    encounter: str | None
    fhir_context: tuple[dict[str, Any], ...]
    need_patient_banner: bool
    smart_style_url: str | None
    fhir_user: str | None
    # The CDS card's appContext when the app was opened from a card's smart link: opaque text,
    # shown to the clinician, never trusted for access or for the clinical decision.
    app_context: str | None = field(default=None, repr=False)

    def can(self, resource: str, letter: str) -> bool:
        """Return whether the granted scopes allow ``letter`` (c r u d s) on ``resource``."""
        return scopes.permits(self.granted_scopes, resource, letter)

    @property
    def can_review_medications(self) -> bool:
        """Return whether both medication resource types may be read (the opioid review)."""
        return all(
            self.can(resource, letter)
            for resource in ("MedicationStatement", "MedicationRequest")
            for letter in "rs"
        )

    @property
    def can_write_careplan(self) -> bool:
        """Return whether a CarePlan may be created."""
        return self.can("CarePlan", "c")

    @property
    def can_write_document_reference(self) -> bool:
        """Return whether a DocumentReference may be created."""
        return self.can("DocumentReference", "c")

    @property
    def can_save_to_chart(self) -> bool:
        """Return whether the plan and the summary may be saved (they go together or not at all)."""
        return self.can_write_careplan and self.can_write_document_reference

    @property
    def missing_scopes(self) -> tuple[str, ...]:
        """Return the requested scopes the EHR did not grant."""
        granted = set(self.granted_scopes)
        return tuple(scope for scope in self.requested_scopes if scope not in granted)

    def to_dict(self) -> dict[str, Any]:
        """Return a plain dict for the server-side session store."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LaunchContext:
        """Rebuild a launch context from ``to_dict`` output."""
        return cls(
            **{
                **data,
                "requested_scopes": tuple(data["requested_scopes"]),
                "granted_scopes": tuple(data["granted_scopes"]),
                "fhir_context": tuple(data["fhir_context"]),
            }
        )


def discover(
    iss: str,
    registrations: Mapping[str, ClientRegistration],
    *,
    http: requests.Session | None = None,
    timeout: float = 10.0,
) -> SmartConfiguration:
    """Read ``{iss}/.well-known/smart-configuration`` for an allowlisted ``iss``."""
    registration = registration_for(registrations, iss)  # raises before anything is fetched
    document = _get_json(
        f"{registration.iss}/.well-known/smart-configuration", http, timeout, DiscoveryFailed
    )
    endpoints: dict[str, str] = {}
    for name in ("authorization_endpoint", "token_endpoint"):
        value = document.get(name)
        if not isinstance(value, str) or not _is_web_url(value):
            raise DiscoveryFailed(f"The EHR's SMART configuration has no usable {name}.")
        endpoints[name] = value
    jwks_uri = document.get("jwks_uri")
    capabilities = document.get("capabilities", [])
    return SmartConfiguration(
        iss=registration.iss,
        authorization_endpoint=endpoints["authorization_endpoint"],
        token_endpoint=endpoints["token_endpoint"],
        issuer=document.get("issuer") if isinstance(document.get("issuer"), str) else None,
        jwks_uri=jwks_uri if _is_web_url(jwks_uri) else None,
        capabilities=tuple(c for c in capabilities if isinstance(c, str))
        if isinstance(capabilities, list)
        else (),
    )


def begin(
    config: SmartConfiguration,
    registration: ClientRegistration,
    *,
    redirect_uri: str,
    launch: str | None = None,
) -> tuple[str, PendingLaunch]:
    """Build the authorization URL (PKCE S256, state, aud) and the launch to keep pending.

    ``launch`` is the EHR's opaque launch value, passed back untouched; without it this is a
    standalone launch and the app asks for a patient to be picked (``launch/patient``).
    """
    requested = scopes.requested_scopes(
        registration.scopes, ehr_launch=launch is not None, v2=config.supports_scopes_v2
    )
    state = secrets.token_urlsafe(32)  # 256 bits; SMART asks for at least 122
    verifier = generate_token(64)  # RFC 7636: 43-128 unreserved characters
    nonce = secrets.token_urlsafe(32) if "openid" in requested else None
    extra = {"aud": config.iss, "launch": launch, "nonce": nonce}
    with OAuth2Session(
        client_id=registration.client_id,
        redirect_uri=redirect_uri,
        scope=" ".join(requested),
        code_challenge_method="S256",
    ) as oauth:
        url, _ = oauth.create_authorization_url(
            config.authorization_endpoint,
            state=state,
            code_verifier=verifier,
            **{k: v for k, v in extra.items() if v is not None},
        )
    pending = PendingLaunch(
        state=state,
        code_verifier=verifier,
        nonce=nonce,
        redirect_uri=redirect_uri,
        requested_scopes=requested,
        config=config,
    )
    return url, pending


def complete(
    pending: PendingLaunch | None,
    callback: Mapping[str, str],
    registrations: Mapping[str, ClientRegistration],
    *,
    http: requests.Session | None = None,
    timeout: float = 10.0,
    now: float | None = None,
) -> LaunchContext:
    """Check the callback against the pending launch, exchange the code, verify the id_token.

    ``pending`` is the launch this browser session started under the callback's ``state``
    (None when there is none: unknown, already used, or started in another browser).
    """
    returned_state = callback.get("state", "")
    if pending is None or not secrets.compare_digest(returned_state, pending.state):
        raise StateMismatch("The sign-in answer does not match a sign-in started in this browser.")
    if callback.get("error"):
        raise AuthorizationDenied(callback["error"], callback.get("error_description"))
    registration = registration_for(registrations, pending.config.iss)
    code = callback.get("code")
    if not code:
        raise TokenExchangeFailed("The EHR came back without an authorization code.")
    now = time.time() if now is None else now
    with _oauth_session(registration, pending.config.token_endpoint, timeout) as oauth:
        try:
            token = oauth.fetch_token(
                pending.config.token_endpoint,
                grant_type="authorization_code",
                code=code,
                redirect_uri=pending.redirect_uri,
                code_verifier=pending.code_verifier,
            )
        except OAuthError as exc:
            raise TokenExchangeFailed(f"The EHR refused the sign-in ({exc.error}).") from exc
        except (requests.RequestException, ValueError) as exc:
            raise TokenExchangeFailed("The EHR's token service failed to answer.") from exc
    access_token = token.get("access_token")
    if not access_token or str(token.get("token_type", "")).lower() != "bearer":
        raise TokenExchangeFailed("The EHR's answer held no bearer access token.")
    granted = _granted(token, pending.requested_scopes)
    claims: dict[str, Any] = {}
    if token.get("id_token"):
        claims = _verify_id_token(token["id_token"], pending, registration, http, timeout, now)
    elif "openid" in granted:
        raise InvalidIdToken("The EHR granted an identity scope but sent no id_token.")
    return LaunchContext(
        iss=pending.config.iss,
        client_id=registration.client_id,
        token_endpoint=pending.config.token_endpoint,
        access_token=access_token,
        refresh_token=token.get("refresh_token"),
        expires_at=_expires_at(token, now),
        requested_scopes=pending.requested_scopes,
        granted_scopes=granted,
        patient=token.get("patient"),
        encounter=token.get("encounter"),
        fhir_context=tuple(c for c in token.get("fhirContext", []) if isinstance(c, dict)),
        # Absent means unknown: show the banner, so the clinician always sees whose chart it is.
        need_patient_banner=bool(token.get("need_patient_banner", True)),
        smart_style_url=token.get("smart_style_url"),
        fhir_user=claims.get("fhirUser"),
        app_context=_app_context(token.get("appContext")),
    )


def refresh_if_needed(
    ctx: LaunchContext,
    now: float,
    *,
    registrations: Mapping[str, ClientRegistration],
    leeway: float = CLOCK_LEEWAY,
    timeout: float = 10.0,
) -> LaunchContext:
    """Return ``ctx``, with a renewed access token if it expires within ``leeway`` seconds."""
    if ctx.expires_at is None or ctx.expires_at - leeway > now:
        return ctx
    if not ctx.refresh_token:
        if ctx.expires_at > now:
            return ctx
        raise LaunchExpired("The EHR's access has expired and cannot be renewed.")
    registration = registration_for(registrations, ctx.iss)
    with _oauth_session(registration, ctx.token_endpoint, timeout) as oauth:
        try:
            token = oauth.refresh_token(ctx.token_endpoint, refresh_token=ctx.refresh_token)
        except (OAuthError, requests.RequestException, ValueError) as exc:
            raise LaunchExpired("The EHR did not renew the app's access.") from exc
    if not token.get("access_token"):
        raise LaunchExpired("The EHR did not renew the app's access.")
    return replace(
        ctx,
        access_token=token["access_token"],
        refresh_token=token.get("refresh_token") or ctx.refresh_token,
        expires_at=_expires_at(token, now),
        granted_scopes=_granted(token, ctx.granted_scopes),
    )


def _oauth_session(
    registration: ClientRegistration, token_endpoint: str, timeout: float
) -> OAuth2Session:
    """Return an authlib session that authenticates the client as registered."""
    key = registration.private_key
    oauth = OAuth2Session(
        client_id=registration.client_id,
        # authlib signs private_key_jwt assertions with the key it is given as the secret.
        client_secret=key if registration.auth == "private_key_jwt" else registration.client_secret,
        token_endpoint_auth_method=AUTHLIB_AUTH_METHODS[registration.auth],
        default_timeout=timeout,
    )
    if registration.auth == "private_key_jwt" and key is not None:
        # A fresh assertion per session: authlib adds the jti to this claims dict.
        oauth.register_client_auth_method(
            PrivateKeyJWT(
                token_endpoint,
                claims={"exp": int(time.time()) + ASSERTION_LIFETIME},
                headers={"kid": key.kid, "typ": "JWT"},
                alg=registration.signing_alg,
            )
        )
    return oauth


def _verify_id_token(
    id_token: str,
    pending: PendingLaunch,
    registration: ClientRegistration,
    http: requests.Session | None,
    timeout: float,
    now: float,
) -> dict[str, Any]:
    """Verify the id_token against the issuer's JWKS: signature, iss, aud, exp, nonce."""
    config = pending.config
    if not config.jwks_uri:
        raise InvalidIdToken("The EHR sent an id_token but publishes no keys to check it.")
    document = _get_json(config.jwks_uri, http, timeout, InvalidIdToken)
    expected: dict[str, jwt.ClaimsOption] = {
        "iss": {"essential": True, "value": config.issuer or config.iss},
        "aud": {"essential": True, "value": registration.client_id},
        "exp": {"essential": True},
        "sub": {"essential": True},
    }
    if pending.nonce:
        expected["nonce"] = {"essential": True, "value": pending.nonce}
    try:
        keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        decoded = jwt.decode(id_token, keys, algorithms=ID_TOKEN_ALGORITHMS)
        registry = jwt.JWTClaimsRegistry(now=int(now), leeway=CLOCK_LEEWAY, **expected)
        registry.validate(decoded.claims)
    except (JoseError, KeyError, TypeError, ValueError) as exc:
        reason = getattr(exc, "error", type(exc).__name__)
        raise InvalidIdToken(f"The id_token did not verify ({reason}).") from exc
    return dict(decoded.claims)


def _get_json(
    url: str,
    http: requests.Session | None,
    timeout: float,
    error: type[DiscoveryFailed] | type[InvalidIdToken],
) -> dict[str, Any]:
    """GET a JSON object, turning any failure into the launch ``error`` given."""
    try:
        response = (http.get if http else requests.get)(
            url,
            headers={"Accept": "application/json"},
            timeout=timeout,
            allow_redirects=False,
            auth=no_netrc,  # never a .netrc password to the EHR's discovery or key endpoints
        )
    except requests.RequestException as exc:
        raise error(f"{urlsplit(url).netloc} could not be reached.") from exc
    if response.status_code != 200:
        raise error(f"{urlsplit(url).netloc} answered HTTP {response.status_code}.")
    try:
        value = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise error(f"{urlsplit(url).netloc} did not answer with JSON.") from exc
    if not isinstance(value, dict):
        raise error(f"{urlsplit(url).netloc} did not answer with a JSON object.")
    return value


def _granted(token: Mapping[str, Any], fallback: tuple[str, ...]) -> tuple[str, ...]:
    # RFC 6749 §5.1: an omitted scope means the scope requested (or, on refresh, the same grant).
    scope = token.get("scope")
    return tuple(str(scope).split()) if scope else fallback


def _app_context(value: object) -> str | None:
    """Keep the token response's ``appContext`` as opaque text, when it is text of a sane size."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _fits(value):
        # Its content is the card service's and may name the patient's order: never logged.
        log.warning(
            "appContext dropped: not text or over %d bytes",
            APP_CONTEXT_LIMIT,
            extra={"event": "smart_app_context_dropped"},
        )
        return None
    return value


def _fits(text: str) -> bool:
    try:
        return len(text.encode()) <= APP_CONTEXT_LIMIT
    except UnicodeEncodeError:  # a lone surrogate: not text a page can show
        return False


def _expires_at(token: Mapping[str, Any], now: float) -> int | None:
    try:
        return int(now + int(token["expires_in"]))
    except (KeyError, TypeError, ValueError):
        return None


def _is_web_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)
