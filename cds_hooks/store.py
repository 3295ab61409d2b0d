"""Durable storage of the CDS service: cards issued, feedback received, client JWT ids seen.

Any SQLAlchemy URL works (SQLite by default; PostgreSQL through psycopg 3 when several hosts
run, because the ``jti`` replay check must see every worker's calls). The tables are made and
upgraded by the migrations in ``cds_hooks.migrations`` (``cds_hooks.schema``), never here.
Patient ids are never stored raw: a card row keeps an HMAC pseudonym, so feedback can be
grouped by patient without the store identifying anyone. Clinicians' override comments are
stored as sent.

Every statement is bounded in time (connect, lock and statement timeouts of a few seconds), so a
database that is down or stuck fails a call fast instead of holding it past the EHR's patience;
a connection cut by a database restart is noticed and replaced on its next use (pre-ping).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    insert,
    make_url,
    select,
)
from sqlalchemy.exc import IntegrityError

from cds_hooks.feedback import FeedbackItem

metadata = MetaData()

# Times are ISO 8601 UTC strings: portable across databases and sortable as text.
issued_cards = Table(
    "cds_issued_card",
    metadata,
    Column("uuid", String(64), primary_key=True),
    Column("service_id", String(100), nullable=False),
    Column("hook_instance", String(100), nullable=False),
    Column("patient_pseudonym", String(64)),
    Column("indicator", String(16), nullable=False),
    Column("summary", String(200), nullable=False),
    Column("suggestions", JSON, nullable=False),
    Column("issued_at", String(40), nullable=False),
)

feedback = Table(
    "cds_feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service_id", String(100), nullable=False),
    Column("card_uuid", String(100), nullable=False, index=True),
    Column("outcome", String(16), nullable=False),
    Column("accepted_suggestions", JSON, nullable=False),
    Column("override_system", Text),
    Column("override_code", Text),
    Column("override_display", Text),
    Column("user_comment", Text),
    Column("outcome_timestamp", String(40), nullable=False),
    Column("received_at", String(40), nullable=False),
    Column("client_issuer", Text),
)

seen_jti = Table(
    "cds_seen_jti",
    metadata,
    Column("issuer", String(255), primary_key=True),
    Column("jti", String(255), primary_key=True),
    Column("keep_until", Integer, nullable=False, index=True),
)


def utc_iso(moment: datetime) -> str:
    """Format ``moment`` as an ISO 8601 UTC string with a ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def pseudonym(key: str | None, patient_id: str) -> str | None:
    """Return a keyed hash of ``patient_id`` (None without a key: then nothing is stored)."""
    if not key:
        return None
    return hmac.new(key.encode(), patient_id.encode(), hashlib.sha256).hexdigest()


# Seconds any one database step may take: well inside a hook call's few seconds.
STORE_TIMEOUT_SECONDS = 2
# Expired jti rows are deleted at most this often per process, not on every call.
JTI_PURGE_INTERVAL_SECONDS = 60


def store_engine(url: str) -> Engine:
    """Create an engine for ``url`` whose every step gives up within the store timeout."""
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        # Wait this long for another writer's lock (one file, no server, no pool to bound).
        return create_engine(url, connect_args={"timeout": STORE_TIMEOUT_SECONDS})
    connect_args: dict[str, Any] = {}
    if backend == "postgresql":
        milliseconds = STORE_TIMEOUT_SECONDS * 1000
        connect_args = {
            "connect_timeout": STORE_TIMEOUT_SECONDS,
            "options": f"-c statement_timeout={milliseconds} -c lock_timeout={milliseconds}",
        }
    return create_engine(
        url, connect_args=connect_args, pool_pre_ping=True, pool_timeout=STORE_TIMEOUT_SECONDS
    )


class CdsStore:
    """The CDS service's tables in one database (migrated beforehand: see cds_hooks.schema)."""

    def __init__(self, url: str) -> None:
        self.engine = store_engine(url)
        self._next_purge = 0

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def after_fork(self) -> None:
        """Drop the parent's pooled connections in a new worker process (never share a socket)."""
        self.engine.dispose(close=False)

    def record_cards(
        self,
        *,
        service_id: str,
        hook_instance: str,
        patient_pseudonym: str | None,
        cards: Sequence[Mapping[str, Any]],
        issued_at: datetime,
    ) -> None:
        """Keep what was issued for each card, so later feedback can be read against it."""
        if not cards:
            return
        rows = [
            {
                "uuid": card["uuid"],
                "service_id": service_id,
                "hook_instance": hook_instance,
                "patient_pseudonym": patient_pseudonym,
                "indicator": card["indicator"],
                "summary": card["summary"],
                "suggestions": [
                    {"uuid": s.get("uuid"), "label": s["label"]}
                    for s in card.get("suggestions", [])
                ],
                "issued_at": utc_iso(issued_at),
            }
            for card in cards
        ]
        with self.engine.begin() as connection:
            connection.execute(insert(issued_cards), rows)

    def record_feedback(
        self,
        *,
        service_id: str,
        items: Sequence[FeedbackItem],
        client_issuer: str | None,
        received_at: datetime,
    ) -> None:
        """Store every feedback item of one call, all or none."""
        rows = [
            {
                "service_id": service_id,
                "card_uuid": item.card,
                "outcome": item.outcome,
                "accepted_suggestions": list(item.accepted_suggestions),
                "override_system": item.override_reason.system if item.override_reason else None,
                "override_code": item.override_reason.code if item.override_reason else None,
                "override_display": item.override_reason.display if item.override_reason else None,
                "user_comment": item.user_comment,
                "outcome_timestamp": utc_iso(item.outcome_timestamp),
                "received_at": utc_iso(received_at),
                "client_issuer": client_issuer,
            }
            for item in items
        ]
        with self.engine.begin() as connection:
            connection.execute(insert(feedback), rows)

    def feedback_rows(self) -> Iterator[dict[str, Any]]:
        """Yield every feedback item, oldest first, joined with the card it is about."""
        query = (
            select(
                feedback,
                issued_cards.c.hook_instance,
                issued_cards.c.patient_pseudonym,
                issued_cards.c.indicator,
                issued_cards.c.summary,
                issued_cards.c.issued_at,
            )
            .select_from(
                feedback.outerjoin(issued_cards, feedback.c.card_uuid == issued_cards.c.uuid)
            )
            .order_by(feedback.c.id)
        )
        with self.engine.connect() as connection:
            for row in connection.execute(query):
                # Column names are str subclasses (quoted_name): plain str for any JSON encoder.
                yield {str(k): v for k, v in row._mapping.items() if v is not None}

    def remember_jti(self, issuer: str, jti: str, keep_until: int, *, now: int) -> bool:
        """Record a JWT id; False when this issuer already used it (a replay)."""
        if now >= self._next_purge:
            # Forget ids whose tokens are past expiry plus leeway: those are refused anyway.
            with self.engine.begin() as connection:
                connection.execute(delete(seen_jti).where(seen_jti.c.keep_until < now))
            self._next_purge = now + JTI_PURGE_INTERVAL_SECONDS
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    insert(seen_jti).values(issuer=issuer, jti=jti, keep_until=keep_until)
                )
        except IntegrityError:
            return False
        return True
