"""The client JWT replay check: every host's ``jti`` in the shared store, this process's in memory.

Fail-open by design when the store cannot be written (database down, read-only file): refusing
the call would take the card away from the clinician, and an EHR shows no card as "nothing to
warn about", the one answer this product must never give by accident. During the outage a
token replayed to the *same* process is still refused (the bounded memory below always holds the
ids this process accepted), every other check of the JWT still runs (signature, issuer, audience,
expiry), and only a replay to *another* worker or host inside the token's few minutes of life
goes unnoticed. The outage is logged once, and its end once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from cds_hooks.outage import OutageLog
from cds_hooks.store import CdsStore

# Ids this process keeps (about 100 bytes each): far more than the calls of a token's lifetime.
MEMORY_CAPACITY = 100_000
PART = "replay store"


class ReplayGuard:
    """``remember(issuer, jti, keep_until)``: False when the pair was seen before (a replay)."""

    def __init__(
        self,
        store: CdsStore,
        outages: OutageLog,
        *,
        capacity: int = MEMORY_CAPACITY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._outages = outages
        self._capacity = capacity
        self._clock = clock
        self._seen: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, issuer: str, jti: str, keep_until: int) -> bool:
        """Record the pair here and in the shared store; False when either had seen it."""
        now = int(self._clock())
        if not self._remember_here((issuer, jti), keep_until, now):
            return False
        try:
            fresh = self._store.remember_jti(issuer, jti, keep_until, now=now)
        except SQLAlchemyError as error:
            self._outages.failed(
                PART, error, "replays are refused per process only until it is back"
            )
            return True
        self._outages.succeeded(PART)
        return fresh

    def _remember_here(self, key: tuple[str, str], keep_until: int, now: int) -> bool:
        with self._lock:
            if key in self._seen and self._seen[key] >= now:
                return False
            self._seen[key] = keep_until
            self._seen.move_to_end(key)
            # Oldest first: drop what has expired, then whatever exceeds the bound.
            while self._seen:
                oldest_key, oldest_until = next(iter(self._seen.items()))
                if oldest_until >= now and len(self._seen) <= self._capacity:
                    break
                del self._seen[oldest_key]
            return True
