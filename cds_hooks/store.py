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
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
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
    event,
    insert,
    make_url,
    select,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from cds_hooks.cards import IssuedCard
from cds_hooks.feedback import CardOnRecord, FeedbackItem
from cds_hooks.reminders import Override
from cds_hooks.write_behind import CAPACITY, WriteBehind

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
    # For the re-alert rule (reminders.py): the draft order an opioid card is about, and a
    # fingerprint of the decision it stood for.
    Column("order_reference", String(200)),
    Column("decision", String(64)),
    # The CDS client (JWT issuer) the card was issued to: only it may send feedback on the card.
    Column("client_issuer", Text),
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


# Told how a queued write went: None when it was stored.
Stored = Callable[[SQLAlchemyError | None], None]
# Seconds any one database step may take: well inside a hook call's few seconds.
STORE_TIMEOUT_SECONDS = 2
# Expired jti rows are deleted at most this often per process, not on every call.
JTI_PURGE_INTERVAL_SECONDS = 60
# How long feedback naming a card not on record waits for it: another host's writer queues
# a card for milliseconds, so a card still missing after this was never issued.
CARD_ARRIVAL_WAIT_SECONDS = 0.5


def store_engine(url: str) -> Engine:
    """Create an engine for ``url`` whose every step gives up within the store timeout."""
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        # Wait this long for another writer's lock (one file, no server, no pool to bound).
        engine = create_engine(url, connect_args={"timeout": STORE_TIMEOUT_SECONDS})
        event.listen(engine, "connect", _sqlite_write_ahead)
        return engine
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


def _sqlite_write_ahead(connection: Any, _record: Any) -> None:
    """Journal an SQLite store ahead of its file (WAL), syncing at checkpoints, not per commit.

    A commit then costs microseconds instead of a disk flush, and readers never block the one
    writer (the workers of one host share the file). A committed row survives the process
    crashing; only a power cut or an operating system crash can lose the last commits, and the
    ``jti`` ids among them belong to tokens that expire within minutes.
    """
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.OperationalError:
        return  # a file opened read-only keeps its journal (and cannot be written anyway)
    finally:
        cursor.close()


class CdsStore:
    """The CDS service's tables in one database (migrated beforehand: see cds_hooks.schema)."""

    def __init__(self, url: str) -> None:
        self.engine = store_engine(url)
        self._next_purge = 0
        # Issued cards are written behind the answer (write_behind.py); the rest is written
        # before the call answers.
        self.behind = WriteBehind()
        # Cards waiting for the writer: each call's rows and whom to tell how the write went.
        self._queued: list[tuple[list[dict[str, Any]], Stored]] = []
        self._queued_lock = threading.Lock()

    def close(self) -> None:
        """Write what is queued, then release the database connections."""
        self.behind.close()
        self.engine.dispose()

    def after_fork(self) -> None:
        """Drop the parent's pooled connections in a new worker process (never share a socket)."""
        self.engine.dispose(close=False)
        self._queued_lock = threading.Lock()
        self._queued = []

    def record_cards_behind(
        self,
        *,
        service_id: str,
        hook_instance: str,
        patient_pseudonym: str | None,
        cards: Sequence[IssuedCard],
        issued_at: datetime,
        client_issuer: str | None = None,
        on_stored: Stored,
    ) -> None:
        """Keep what was issued for each card, so later feedback can be read against it: written
        behind the answer (``behind``), with the cards of the calls queued alongside in one
        transaction. ``on_stored`` hears how the write went (None: stored)."""
        rows = [
            {
                "uuid": issued.card["uuid"],
                "service_id": service_id,
                "hook_instance": hook_instance,
                "patient_pseudonym": patient_pseudonym,
                "indicator": issued.card["indicator"],
                "summary": issued.card["summary"],
                "suggestions": [
                    {"uuid": s.get("uuid"), "label": s["label"]}
                    for s in issued.card.get("suggestions", [])
                ],
                "issued_at": utc_iso(issued_at),
                "order_reference": issued.order_reference,
                "decision": issued.decision,
                "client_issuer": client_issuer,
            }
            for issued in cards
        ]
        if not rows:
            return
        with self._queued_lock:
            full = len(self._queued) >= CAPACITY
            if not full:
                self._queued.append((rows, on_stored))
                first = len(self._queued) == 1
        if full:
            # The writer is far behind (a slow database): this call writes its own, as a full
            # write-behind queue has every call do, rather than hold ever more in memory.
            self._write([(rows, on_stored)])
        elif first:
            # One job writes whatever is queued when it runs: under load, the cards of several
            # calls in one transaction (each write is a round of the database's lock and of the
            # interpreter's, which cost the LDN call throughput at 16 clients).
            self.behind.submit(self._write_queued)

    def _write_queued(self) -> None:
        with self._queued_lock:
            batch, self._queued = self._queued, []
        self._write(batch)

    def _write(self, batch: Sequence[tuple[list[dict[str, Any]], Stored]]) -> None:
        failure: SQLAlchemyError | None = None
        try:
            self.insert_cards([row for rows, _ in batch for row in rows])
        except SQLAlchemyError as error:
            failure = error
        for _, on_stored in batch:
            on_stored(failure)

    def insert_cards(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write issued cards' rows, all or none."""
        with self.engine.begin() as connection:
            connection.execute(insert(issued_cards), list(rows))

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

    def issued(self, uuids: Sequence[str]) -> dict[str, CardOnRecord]:
        """Return the cards with these uuids that this service issued, by uuid.

        A card missing is looked for again for up to CARD_ARRIVAL_WAIT_SECONDS (another host
        may have it queued), so feedback sent the moment a card is shown finds it wherever it
        was issued (this process's own queue is flushed by the caller first).
        """
        wanted = set(uuids)
        found = self._issued(wanted)
        deadline = time.monotonic() + CARD_ARRIVAL_WAIT_SECONDS
        pause = 0.01
        while len(found) < len(wanted) and time.monotonic() < deadline:
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
            found |= self._issued(wanted - found.keys())
        return found

    def _issued(self, uuids: set[str]) -> dict[str, CardOnRecord]:
        query = select(
            issued_cards.c.uuid,
            issued_cards.c.service_id,
            issued_cards.c.client_issuer,
            issued_cards.c.suggestions,
            issued_cards.c.issued_at,
        ).where(issued_cards.c.uuid.in_(uuids))
        with self.engine.connect() as connection:
            return {
                row.uuid: CardOnRecord(
                    uuid=row.uuid,
                    service_id=row.service_id,
                    client_issuer=row.client_issuer,
                    suggestions=frozenset(str(s["uuid"]) for s in row.suggestions if s.get("uuid")),
                    issued_at=datetime.fromisoformat(row.issued_at),
                )
                for row in connection.execute(query)
            }

    def feedback_rows(
        self, *, after: int = 0, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield feedback items with ``id`` above ``after``, oldest first, joined with their card.

        ``limit`` bounds how many (a page of the admin read-back); None yields them all.
        """
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
            .where(feedback.c.id > after)
            .order_by(feedback.c.id)
            .limit(limit)
        )
        with self.engine.connect() as connection:
            for row in connection.execute(query):
                # Column names are str subclasses (quoted_name): plain str for any JSON encoder.
                yield {str(k): v for k, v in row._mapping.items() if v is not None}

    def find_override(
        self,
        *,
        service_id: str,
        patient_pseudonym: str,
        order_reference: str,
        decision: str,
        client_issuer: str | None,
        since: datetime,
    ) -> Override | None:
        """Return the latest override with a reason of a matching card issued since ``since``."""
        issuer = (
            feedback.c.client_issuer.is_(None)
            if client_issuer is None
            else feedback.c.client_issuer == client_issuer
        )
        query = (
            select(
                issued_cards.c.summary,
                feedback.c.override_display,
                feedback.c.override_code,
                feedback.c.user_comment,
                feedback.c.outcome_timestamp,
            )
            .select_from(feedback.join(issued_cards, feedback.c.card_uuid == issued_cards.c.uuid))
            .where(
                issued_cards.c.service_id == service_id,
                issued_cards.c.patient_pseudonym == patient_pseudonym,
                issued_cards.c.order_reference == order_reference,
                issued_cards.c.decision == decision,
                issued_cards.c.issued_at >= utc_iso(since),
                feedback.c.outcome == "overridden",
                feedback.c.override_code.is_not(None),
                issuer,
            )
            .order_by(feedback.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        return Override(
            summary=row.summary,
            reason_code=row.override_code,
            reason_display=row.override_display,
            comment=row.user_comment,
            at=row.outcome_timestamp,
        )

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
