"""The sandbox's state in one SQL database, so the sandbox runs with several worker processes.

Launches, pending consents, codes, tokens, spent credentials, seen client-assertion ids and the
EHR's order sessions all live in one table, each kind under its own namespace, with an expiry
time taken from the sandbox's clock. Every worker process of the sandbox opens the same database
(``AuthConfig.database_url``; by default an SQLite file of the sandbox's own), so one flow's
requests may land on any worker. This is a demo's throwaway state: the table is made at start-up
(``create_all``), values are pickled dataclasses written only by the sandbox itself, and SQLite
runs without fsync.
"""

from __future__ import annotations

import json
import logging
import pickle
import tempfile
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    Column,
    Float,
    LargeBinary,
    MetaData,
    String,
    Table,
    and_,
    create_engine,
    delete,
    event,
    insert,
    make_url,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from sandbox.auth.models import AccessToken, AuthorizationCode, RefreshToken

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
R = TypeVar("R", AuthorizationCode, RefreshToken)

log = logging.getLogger("ldn.sandbox.auth")

Clock = Callable[[], float]

metadata = MetaData()
entries = Table(
    "sandbox_entry",
    metadata,
    Column("namespace", String(40), primary_key=True),
    Column("key", String(600), primary_key=True),
    Column("value", LargeBinary, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
)


class SandboxDatabase:
    """The database every worker of one sandbox shares, and the clock its expiry times use."""

    def __init__(self, url: str | None, now: Clock) -> None:
        if url is None:
            url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='ldn-sandbox-')) / 'state.sqlite3'}"
        # No pool: a connection is never carried across a worker's fork.
        self.engine = create_engine(url, poolclass=NullPool)
        if make_url(url).get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)
        self.now = now

    def map(self, namespace: str) -> ExpiringMap[Any, Any]:
        """Return the expiring mapping stored under ``namespace``."""
        return ExpiringMap(self, namespace)


def _sqlite_pragmas(connection: Any, _: object) -> None:
    cursor = connection.cursor()
    # Readers never wait for the writer of another worker; state that a crash may lose is fine.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class ExpiringMap(Generic[K, V]):
    """A mapping in the sandbox database whose entries vanish at their expiry time.

    Safe across the threads and processes of the sandbox: ``add`` and ``pop`` are single
    statements, so of two callers racing for one key exactly one wins.
    """

    def __init__(self, database: SandboxDatabase, namespace: str) -> None:
        self._db = database
        self._namespace = namespace

    def put(self, key: K, value: V, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds."""
        now = self._db.now()
        with self._db.engine.begin() as connection:
            connection.execute(delete(entries).where(entries.c.expires_at <= now))
            connection.execute(delete(entries).where(self._is(key)))
            connection.execute(insert(entries).values(self._row(key, value, now + ttl)))

    def add(self, key: K, value: V, ttl: float) -> bool:
        """Store ``value`` only if ``key`` is absent; tell whether it was stored."""
        now = self._db.now()
        try:
            with self._db.engine.begin() as connection:
                connection.execute(
                    delete(entries).where(and_(self._is(key), entries.c.expires_at <= now))
                )
                connection.execute(insert(entries).values(self._row(key, value, now + ttl)))
        except IntegrityError:
            return False
        return True

    def get(self, key: K) -> V | None:
        """Return the live value under ``key``, or None."""
        query = select(entries.c.value).where(
            and_(self._is(key), entries.c.expires_at > self._db.now())
        )
        with self._db.engine.connect() as connection:
            value = connection.execute(query).scalar_one_or_none()
        return None if value is None else _loads(value)

    def pop(self, key: K) -> V | None:
        """Remove and return the live value under ``key``, or None (atomic: one caller wins)."""
        statement = (
            delete(entries).where(self._is(key)).returning(entries.c.value, entries.c.expires_at)
        )
        with self._db.engine.begin() as connection:
            row = connection.execute(statement).first()
        if row is None or row.expires_at <= self._db.now():
            return None
        return _loads(row.value)  # type: ignore[no-any-return]

    def remove_where(self, predicate: Callable[[V], bool]) -> int:
        """Remove every entry whose value satisfies ``predicate``; return how many went."""
        query = select(entries.c.key, entries.c.value).where(entries.c.namespace == self._namespace)
        with self._db.engine.begin() as connection:
            doomed = [row.key for row in connection.execute(query) if predicate(_loads(row.value))]
            for stored_key in doomed:
                connection.execute(
                    delete(entries).where(
                        and_(entries.c.namespace == self._namespace, entries.c.key == stored_key)
                    )
                )
        return len(doomed)

    def _is(self, key: K) -> Any:
        return and_(entries.c.namespace == self._namespace, entries.c.key == _key(key))

    def _row(self, key: K, value: V, expires_at: float) -> dict[str, Any]:
        return {
            "namespace": self._namespace,
            "key": _key(key),
            "value": pickle.dumps(value),
            "expires_at": expires_at,
        }


def _key(key: Hashable) -> str:
    return json.dumps(key)


def _loads(value: bytes) -> Any:
    # Only the sandbox itself writes this table (its own database, never user input).
    return pickle.loads(value)  # noqa: S301


class GrantStore:
    """Codes, access tokens and refresh tokens, with the replay rule that binds them.

    A code or refresh token is spent exactly once. Presenting a spent one again is treated as
    theft (RFC 6749 §4.1.2, RFC 9700 §4.14.2): every code and token of the same grant family
    is revoked.
    """

    def __init__(self, database: SandboxDatabase, remember_spent_for: float) -> None:
        self._codes: ExpiringMap[str, AuthorizationCode] = database.map("code")
        self._access: ExpiringMap[str, AccessToken] = database.map("access")
        self._refresh: ExpiringMap[str, RefreshToken] = database.map("refresh")
        self._spent: ExpiringMap[tuple[str, str], str] = database.map("spent")
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
