"""Check the CDS client's JWT on each call (CDS Hooks §Trusting CDS Clients).

A call is accepted only when its ``Authorization: Bearer`` JWT is signed with ES384 or RS384
(never ``none`` or a shared-secret HMAC) by a key of an allowlisted issuer, names this exact
endpoint as ``aud``, is current (``exp``/``iat`` with a small leeway), lives at most five
minutes (``exp - iat``), and carries a ``jti`` not seen before. The keys come from the issuer's
inline set (a pinned copy: nothing is fetched) or its configured URL; a ``jku`` header must name
that URL or one allowlisted for the issuer, and an inline set serves it without fetching.
Nothing of the token is ever logged; a refusal carries the issuer the token claims, for the
operator's log.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from cds_hooks.config import CdsSettings, TrustedClient
from cds_hooks.errors import Unauthorized
from fhir_client.no_netrc import no_netrc

ALGORITHMS = ("ES384", "RS384")
# The longest client JWT accepted, exp - iat (the spec's example token lives five minutes).
MAX_LIFETIME_SECONDS = 300
# NumericDate claims beyond this (year 2286) are not times a client clock produces.
MAX_NUMERIC_DATE = 10_000_000_000

# remember_jti(issuer, jti, keep_until) -> False when the pair was already seen. keep_until is
# exp plus the leeway: after that the token is refused as expired, so its id may be forgotten.
RememberJti = Callable[[str, str, int], bool]


@dataclass(frozen=True, slots=True)
class VerifiedClient:
    """The CDS client a call came from, once its JWT was accepted."""

    issuer: str
    tenant: str | None = None


class JwksError(Exception):
    """A JWK Set could not be fetched or read."""


class JwksCache:
    """JWK Sets by URL, kept for a TTL; a refresh is allowed at most every ``min_refresh``."""

    def __init__(
        self,
        *,
        ttl: float,
        min_refresh: float,
        timeout: float,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._min_refresh = min_refresh
        self._timeout = timeout
        self._session = session or requests.Session()
        self._clock = clock
        self._sets: dict[str, tuple[float, KeySet]] = {}
        self._lock = threading.Lock()

    def get(self, url: str, *, refresh: bool = False) -> KeySet:
        """Return the JWK Set at ``url``, fetching it when absent, stale, or asked to refresh."""
        now = self._clock()
        with self._lock:
            cached = self._sets.get(url)
        if cached is not None:
            age = now - cached[0]
            if age < self._ttl and not (refresh and age >= self._min_refresh):
                return cached[1]
        key_set = self._fetch(url)
        with self._lock:
            self._sets[url] = (now, key_set)
        return key_set

    def _fetch(self, url: str) -> KeySet:
        try:
            response = self._session.get(
                url,
                timeout=self._timeout,
                headers={"Accept": "application/json"},
                auth=no_netrc,  # never a .netrc password to whoever serves the keys
            )
            response.raise_for_status()
            return KeySet.import_key_set(response.json())
        except (requests.RequestException, ValueError, JoseError) as exc:
            raise JwksError(f"JWK Set could not be read ({type(exc).__name__})") from exc


class ClientVerifier:
    """Accept or refuse the client JWT of a call (raises Unauthorized with a log-only reason)."""

    def __init__(
        self,
        settings: CdsSettings,
        jwks: JwksCache,
        remember_jti: RememberJti,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._jwks = jwks
        self._remember_jti = remember_jti
        self._now = now
        # Inline sets are fixed for the app's life: imported once, not on every call.
        self._inline = {
            issuer: KeySet.import_key_set(client.jwks)  # type: ignore[arg-type]
            for issuer, client in settings.trusted_clients.items()
            if client.jwks is not None
        }

    def verify(self, authorization: str | None, audience: str) -> VerifiedClient:
        """Check the ``Authorization`` header value for a call to ``audience`` (the exact URL).

        A refusal carries the issuer the token claims, for the operator's log (never the token).
        """
        try:
            return self._verify(authorization, audience)
        except Unauthorized as refused:
            refused.issuer = _claimed_issuer(authorization)
            raise

    def _verify(self, authorization: str | None, audience: str) -> VerifiedClient:
        token = _bearer(authorization)
        header, claims = _unverified_parts(token)
        if header.get("alg") not in ALGORITHMS:
            raise Unauthorized("algorithm-not-allowed")
        typ = header.get("typ", "JWT")
        if not isinstance(typ, str) or typ.upper() != "JWT":
            raise Unauthorized("wrong-typ")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("missing-kid")
        issuer = claims.get("iss")
        client = self._settings.trusted_clients.get(issuer) if isinstance(issuer, str) else None
        if client is None:
            raise Unauthorized("unknown-issuer")
        key = self._key(client, header.get("jku"), kid)
        try:
            verified = jwt.decode(token, key, algorithms=[header["alg"]])
            check_lifetime(
                verified.claims, now=self._now(), leeway=self._settings.jwt_leeway_seconds
            )
            jwt.JWTClaimsRegistry(
                now=int(self._now()),
                leeway=self._settings.jwt_leeway_seconds,
                iss={"essential": True, "value": client.issuer},
                aud={"essential": True, "value": audience},
                exp={"essential": True},
                iat={"essential": True},
                jti={"essential": True},
            ).validate(verified.claims)
        except JoseError as exc:
            raise Unauthorized(f"rejected-{exc.error}") from None
        jti, expires = verified.claims["jti"], int(verified.claims["exp"])
        if not jti or len(jti) > 255:
            raise Unauthorized("rejected-jti-length")
        if not self._remember_jti(client.issuer, jti, expires + self._settings.jwt_leeway_seconds):
            raise Unauthorized("replayed-jti")
        tenant = verified.claims.get("tenant")
        return VerifiedClient(client.issuer, tenant if isinstance(tenant, str) else None)

    def _key(self, client: TrustedClient, jku: object, kid: str) -> Any:
        """Pick the key named ``kid``; a ``jku`` off the issuer's list is refused, never fetched."""
        if jku is not None and not client.jku_allowed(jku):
            raise Unauthorized("jku-not-allowed")
        inline = self._inline.get(client.issuer)
        if inline is not None:
            # The inline set is the pinned copy of the allowed URLs' keys: nothing is fetched.
            return _inline_key(inline, kid)
        return self._fetched_key(jku if isinstance(jku, str) else client.jwks_url, kid)

    def _fetched_key(self, url: str | None, kid: str) -> Any:
        if url is None:  # config.py makes every client name jwks_url or jwks
            raise Unauthorized("no-jwks-configured")
        try:
            try:
                return self._jwks.get(url).get_by_kid(kid)
            except JoseError:
                # The client may have rotated its keys: refresh once before refusing.
                return self._jwks.get(url, refresh=True).get_by_kid(kid)
        except JoseError:
            raise Unauthorized("unknown-kid") from None
        except JwksError:
            raise Unauthorized("jwks-unavailable") from None


def _inline_key(key_set: KeySet, kid: str) -> Any:
    try:
        return key_set.get_by_kid(kid)
    except JoseError:
        raise Unauthorized("kid-not-in-inline-jwks") from None


def _seconds(claims: Mapping[str, Any], name: str) -> float | None:
    """Return a NumericDate claim (RFC 7519 §2) when it is a number of seconds in range."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unauthorized(f"rejected-{name}-not-a-number")
    if not 0 <= value <= MAX_NUMERIC_DATE:  # NaN fails this too
        raise Unauthorized(f"rejected-{name}-out-of-range")
    return float(value)


def check_lifetime(claims: Mapping[str, Any], *, now: float, leeway: float) -> None:
    """Refuse a token whose times are out of range, issued in the future, or too long-lived.

    CDS Hooks §Trusting CDS Clients shows a JWT whose ``exp`` is five minutes after its
    ``iat``: a longer-lived token (or one issued a day ago that is still "valid") widens the
    window in which a stolen token can be replayed against another endpoint, so ``exp - iat``
    may be at most MAX_LIFETIME_SECONDS and ``iat`` no later than now plus the leeway.
    """
    exp, iat = _seconds(claims, "exp"), _seconds(claims, "iat")
    _seconds(claims, "nbf")
    if iat is not None and iat > now + leeway:
        raise Unauthorized("rejected-iat-in-future")
    if exp is not None and iat is not None and exp - iat > MAX_LIFETIME_SECONDS:
        raise Unauthorized("rejected-lifetime-too-long")


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("no-bearer-token")
    return token.strip()


def _claimed_issuer(authorization: str | None) -> str | None:
    """Return the ``iss`` a token claims, shortened and printable, or None when there is none."""
    try:
        issuer = _unverified_parts(_bearer(authorization))[1].get("iss")
    except Unauthorized:
        return None
    if not isinstance(issuer, str):
        return None
    return "".join(c if c.isprintable() else "?" for c in issuer[:200])


def _unverified_parts(token: str) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """Read the header and claims before the signature check, only to pick the key."""
    try:
        compact = jws.extract_compact(token.encode("ascii"))
        claims = json.loads(compact.payload)
    except (JoseError, UnicodeError, ValueError):
        raise Unauthorized("malformed-token") from None
    if not isinstance(claims, dict):
        raise Unauthorized("malformed-token")
    return compact.protected, claims
