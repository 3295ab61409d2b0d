"""What the CDS blueprint keeps per app: its settings, its store and its JWT verifier."""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import current_app
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from cds_hooks.config import CdsSettings
from cds_hooks.security import ClientVerifier, JwksCache
from cds_hooks.store import CdsStore

EXTENSION = "cds_hooks"


@dataclass(frozen=True, slots=True)
class CdsState:
    """The CDS service's per-app objects, built once at start-up."""

    settings: CdsSettings
    store: CdsStore
    verifier: ClientVerifier
    limiter: MovingWindowRateLimiter


def build_state(settings: CdsSettings, database_url: str) -> CdsState:
    """Open the store and build the JWT verifier for ``settings``."""
    store = CdsStore(database_url)
    jwks = JwksCache(
        ttl=settings.jwks_ttl_seconds,
        min_refresh=settings.jwks_min_refresh_seconds,
        timeout=settings.jwks_timeout_seconds,
    )

    def remember(issuer: str, jti: str, keep_until: int) -> bool:
        return store.remember_jti(issuer, jti, keep_until, now=int(time.time()))

    limiter = MovingWindowRateLimiter(storage_from_string(settings.rate_limit_storage_uri))
    return CdsState(settings, store, ClientVerifier(settings, jwks, remember), limiter)


def current_state() -> CdsState:
    """Return the CDS state of the app handling the current request."""
    state: CdsState = current_app.extensions[EXTENSION]
    return state
