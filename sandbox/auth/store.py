"""In-memory storage with expiry, safe to share between the threads of one worker process.

The sandbox keeps launches, pending consents, codes, tokens and seen assertion ids in memory:
nothing survives a restart, and every request of one flow must reach the same process (run the
sandbox with one worker, any number of threads).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from sandbox.auth.models import AccessToken, AuthorizationCode, RefreshToken

K = TypeVar("K")
V = TypeVar("V")
R = TypeVar("R", AuthorizationCode, RefreshToken)

log = logging.getLogger("ldn.sandbox.auth")

Clock = Callable[[], float]


class ExpiringMap(Generic[K, V]):
    """A thread-safe mapping whose entries vanish at their expiry time."""

    def __init__(self, now: Clock) -> None:
        self._now = now
        self._entries: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def put(self, key: K, value: V, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds."""
        with self._lock:
            self._purge()
            self._entries[key] = (self._now() + ttl, value)

    def add(self, key: K, value: V, ttl: float) -> bool:
        """Store ``value`` only if ``key`` is absent; tell whether it was stored."""
        with self._lock:
            self._purge()
            if key in self._entries:
                return False
            self._entries[key] = (self._now() + ttl, value)
            return True

    def get(self, key: K) -> V | None:
        """Return the live value under ``key``, or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] <= self._now():
                return None
            return entry[1]

    def pop(self, key: K) -> V | None:
        """Remove and return the live value under ``key``, or None (atomic: one caller wins)."""
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is None or entry[0] <= self._now():
                return None
            return entry[1]

    def remove_where(self, predicate: Callable[[V], bool]) -> int:
        """Remove every entry whose value satisfies ``predicate``; return how many went."""
        with self._lock:
            doomed = [key for key, (_, value) in self._entries.items() if predicate(value)]
            for key in doomed:
                del self._entries[key]
            return len(doomed)

    def _purge(self) -> None:
        now = self._now()
        for key in [key for key, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[key]


class GrantStore:
    """Codes, access tokens and refresh tokens, with the replay rule that binds them.

    A code or refresh token is spent exactly once. Presenting a spent one again is treated as
    theft (RFC 6749 §4.1.2, RFC 9700 §4.14.2): every code and token of the same grant family
    is revoked.
    """

    def __init__(self, now: Clock, remember_spent_for: float) -> None:
        self._codes: ExpiringMap[str, AuthorizationCode] = ExpiringMap(now)
        self._access: ExpiringMap[str, AccessToken] = ExpiringMap(now)
        self._refresh: ExpiringMap[str, RefreshToken] = ExpiringMap(now)
        self._spent: ExpiringMap[tuple[str, str], str] = ExpiringMap(now)
        self._remember_spent_for = remember_spent_for

    def save_code(self, record: AuthorizationCode, ttl: float) -> None:
        """Keep an issued authorization code for ``ttl`` seconds."""
        self._codes.put(record.code, record, ttl)

    def find_code(self, code: str) -> AuthorizationCode | None:
        """Return the live code record; a spent code revokes its family and returns None."""
        return self._find(self._codes, ("code", code))

    def spend_code(self, code: str) -> bool:
        """Use up a code; tell whether this caller was the one to spend it."""
        record = self._codes.pop(code)
        if record is None:
            return False
        self._spent.put(("code", code), record.authorization.grant_id, self._remember_spent_for)
        return True

    def save_access_token(self, token: str, record: AccessToken, ttl: float) -> None:
        """Keep an issued access token for ``ttl`` seconds."""
        self._access.put(token, record, ttl)

    def find_access_token(self, token: str) -> AccessToken | None:
        """Return the live access token record, or None."""
        return self._access.get(token)

    def save_refresh_token(self, record: RefreshToken, ttl: float) -> None:
        """Keep an issued refresh token for ``ttl`` seconds."""
        self._refresh.put(record.value, record, ttl)

    def find_refresh_token(self, value: str) -> RefreshToken | None:
        """Return the live refresh token; a spent one revokes its family and returns None."""
        return self._find(self._refresh, ("refresh", value))

    def spend_refresh_token(self, value: str) -> bool:
        """Use up a refresh token; tell whether this caller was the one to spend it."""
        record = self._refresh.pop(value)
        if record is None:
            return False
        grant_id = record.authorization.grant_id
        self._spent.put(("refresh", value), grant_id, self._remember_spent_for)
        return True

    def revoke(self, grant_id: str) -> None:
        """Revoke every code and token of one grant family."""
        self._codes.remove_where(lambda record: record.authorization.grant_id == grant_id)
        self._access.remove_where(lambda record: record.grant_id == grant_id)
        self._refresh.remove_where(lambda record: record.authorization.grant_id == grant_id)

    def _find(self, live: ExpiringMap[str, R], spent_key: tuple[str, str]) -> R | None:
        grant_id = self._spent.get(spent_key)
        if grant_id is not None:
            log.warning("replayed credential: grant revoked", extra={"event": "replay"})
            self.revoke(grant_id)
            return None
        return live.get(spent_key[1])
