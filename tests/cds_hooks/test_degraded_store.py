"""When the store cannot be written, hook calls still answer with their cards (docs/cds-hooks.md).

Real failures, not patched methods: an SQLite file opened read-only, a PostgreSQL address where
nothing listens, and a real restart of the PostgreSQL cluster while calls arrive.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc.jwk import ECKey
from sqlalchemy import func, select

from cds_hooks.store import feedback, seen_jti
from tests.cds_hooks.support import (
    SIGN,
    Signer,
    base_config,
    bearer,
    hook_body,
    make_app,
    open_store,
    oxycodone_prefetch,
)
from tests.servers import SOCKET_DIR, Cluster, private_cluster, start, stop

HOOK_PATH = f"/cds-services/{SIGN}"
FEEDBACK_PATH = f"{HOOK_PATH}/feedback"


def _app(tmp_path: Path, inline_key: ECKey, url: str) -> Flask:
    return make_app({**base_config(tmp_path, inline_key), "DATABASE_URL": url})


@pytest.fixture
def read_only_app(tmp_path: Path, inline_key: ECKey) -> Iterator[Flask]:
    """An app whose SQLite store exists, migrated, but cannot be written."""
    path = tmp_path / "store.sqlite3"
    open_store(f"sqlite:///{path}").close()
    app = _app(tmp_path, inline_key, f"sqlite:///file:{path}?mode=ro&uri=true")
    yield app
    app.extensions["cds_hooks"].store.close()


@pytest.fixture
def database_down_app(tmp_path: Path, inline_key: ECKey) -> Iterator[Flask]:
    """An app whose PostgreSQL store is down (nothing listens at its address)."""
    app = _app(tmp_path, inline_key, "postgresql+psycopg://ldn@127.0.0.1:9/ldn")
    yield app
    app.extensions["cds_hooks"].store.close()


def _hook(client: FlaskClient, sign: Signer, token: str | None = None) -> Any:
    token = token or sign(HOOK_PATH)
    return client.post(
        HOOK_PATH, json=hook_body(prefetch=oxycodone_prefetch()), headers=bearer(token)
    )


def _feedback_body(card_uuid: str, items: int = 1) -> dict[str, Any]:
    return {
        "feedback": [
            {
                "card": card_uuid,
                "outcome": "overridden",
                "outcomeTimestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            for _ in range(items)
        ]
    }


def _store_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if getattr(r, "event", "") == "store-unavailable"
    ]


@pytest.mark.parametrize("app_fixture", ["read_only_app", "database_down_app"])
def test_hook_calls_keep_their_cards_when_the_store_cannot_be_written(
    app_fixture: str,
    request: pytest.FixtureRequest,
    sign: Signer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app: Flask = request.getfixturevalue(app_fixture)
    client = app.test_client()
    caplog.set_level(logging.INFO, logger="ldn.cds_hooks")
    first_token = sign(HOOK_PATH)
    for token in (first_token, None, None):
        started = time.monotonic()
        response = _hook(client, sign, token)
        assert time.monotonic() - started < 3.0  # inside the EHR's patience
        assert response.status_code == 200
        assert [card["indicator"] for card in response.get_json()["cards"]] == ["critical"]
    # The token already used here is still refused: this process remembers what it accepted.
    assert _hook(client, sign, first_token).status_code == 401
    # Each failing part is logged once, however many calls it failed.
    errors = _store_errors(caplog)
    assert len(errors) == 2
    assert any(message.startswith("replay store unavailable") for message in errors)
    assert any(message.startswith("card store unavailable") for message in errors)
    # Feedback cannot be kept: the client is told so, never told it was stored.
    answer = client.post(
        FEEDBACK_PATH, json=_feedback_body(str(uuid.uuid4())), headers=bearer(sign(FEEDBACK_PATH))
    )
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "30"
    assert "not stored" in answer.get_json()["message"]


@pytest.fixture
def own_cluster(postgres_cluster: Cluster) -> Iterator[Cluster]:
    """A PostgreSQL cluster of this test's own, which it may restart without harming others."""
    with private_cluster(postgres_cluster.version) as cluster:
        yield cluster


@pytest.mark.integration
def test_a_database_restart_while_calls_arrive(
    own_cluster: Cluster,
    tmp_path: Path,
    inline_key: ECKey,
    sign: Signer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Hook calls answer throughout; feedback is all-or-nothing; the store comes back by itself."""
    url = f"postgresql+psycopg://@/postgres?host={SOCKET_DIR}&port={own_cluster.port}"
    open_store(url).close()
    app = _app(tmp_path, inline_key, url)
    caplog.set_level(logging.INFO, logger="ldn.cds_hooks")
    hook_answers: list[tuple[int, tuple[str, ...]]] = []
    feedback_answers: list[int] = []
    items_per_call = 3
    halt = threading.Event()

    def call_hooks() -> None:
        client = app.test_client()
        while not halt.is_set():
            response = _hook(client, sign)
            indicators = tuple(c["indicator"] for c in (response.get_json() or {}).get("cards", []))
            hook_answers.append((response.status_code, indicators))

    # Feedback is taken only about cards the service issued: one, before the restart.
    (card,) = _hook(app.test_client(), sign).get_json()["cards"]

    def send_feedback() -> None:
        client = app.test_client()
        while not halt.is_set():
            body = _feedback_body(card["uuid"], items_per_call)
            response = client.post(FEEDBACK_PATH, json=body, headers=bearer(sign(FEEDBACK_PATH)))
            feedback_answers.append(response.status_code)
            time.sleep(0.05)

    def wait_for(condition: Callable[[], bool], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.05)

    workers = [threading.Thread(target=call_hooks), threading.Thread(target=send_feedback)]
    try:
        for worker in workers:
            worker.start()
        time.sleep(1.0)
        # The restart, held down until a feedback call has met it: a restart of a few hundred
        # milliseconds can fall between two feedback calls (or inside one's wait for the card
        # writer), and the test would not see the outage it is about.
        stop(own_cluster)
        wait_for(lambda: 503 in feedback_answers, 30.0)
        start(own_cluster)
        down_answers = len(feedback_answers)
        wait_for(lambda: feedback_answers[down_answers:].count(200) >= 3, 30.0)
    finally:
        halt.set()
        for worker in workers:
            worker.join(timeout=30)

    assert len(hook_answers) > 10
    # Every hook call answered, and answered the warning: none lost it to the outage.
    assert set(hook_answers) == {(200, ("critical",))}
    assert 503 in feedback_answers  # the restart was felt...
    assert feedback_answers[-1] == 200  # ...and the store came back without restarting the app
    store = app.extensions["cds_hooks"].store
    with store.engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(feedback)).scalar_one()
        jti_rows = connection.execute(select(func.count()).select_from(seen_jti)).scalar_one()
    # Nothing half-written: exactly the items of the calls answered 200, all of each call.
    assert stored == items_per_call * feedback_answers.count(200)
    assert jti_rows > 0
    messages = [r.getMessage() for r in caplog.records]
    assert any("available again" in message for message in messages)
    store.close()
