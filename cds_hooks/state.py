"""What the CDS blueprint keeps per app: its settings, its store and its JWT verifier."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError

from cds_hooks import schema
from cds_hooks.config import CdsSettings
from cds_hooks.outage import OutageLog
from cds_hooks.replay import ReplayGuard
from cds_hooks.security import ClientVerifier, JwksCache
from cds_hooks.store import CdsStore

EXTENSION = "cds_hooks"


@dataclass(frozen=True, slots=True)
class CdsState:
    """The CDS service's per-app objects, built once at start-up."""

    settings: CdsSettings
    store: CdsStore
    verifier: ClientVerifier
    outages: OutageLog
    limiter: MovingWindowRateLimiter


def build_state(settings: CdsSettings, database_url: str) -> CdsState:
    """Open the store and build the JWT verifier for ``settings``."""
    store = CdsStore(database_url)
    if make_url(database_url).get_backend_name() == "sqlite":
        # One host's own file: nobody else to run the migrations, and no one to race with.
        schema.upgrade(store.engine)
    jwks = JwksCache(
        ttl=settings.jwks_ttl_seconds,
        min_refresh=settings.jwks_min_refresh_seconds,
        timeout=settings.jwks_timeout_seconds,
    )
    outages = OutageLog()
    replay = ReplayGuard(store, outages)
    limiter = MovingWindowRateLimiter(storage_from_string(settings.rate_limit_storage_uri))
    verifier = ClientVerifier(settings, jwks, replay.remember)
    return CdsState(settings, store, verifier, outages, limiter)


def database_problem(state: CdsState) -> str | None:
    """Say why the store's database cannot serve this release, or None when it can."""
    try:
        revision = schema.current_revision(state.store.engine)
    except SQLAlchemyError as error:
        return f"unreachable ({type(error).__name__})"
    if revision != schema.head_revision():
        return f"schema at {revision or 'no revision'}: run 'ldn-safety db upgrade'"
    return None


def current_state() -> CdsState:
    """Return the CDS state of the app handling the current request."""
    state: CdsState = current_app.extensions[EXTENSION]
    return state
