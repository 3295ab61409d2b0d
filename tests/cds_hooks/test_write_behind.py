"""Issued cards are written behind the answer, and none is lost (cds_hooks/write_behind.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from joserfc.jwk import ECKey
from sqlalchemy import func, select

from cds_hooks.cards import IssuedCard
from cds_hooks.store import CdsStore, issued_cards
from cds_hooks.write_behind import CAPACITY, WriteBehind
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

HOOK_PATH = f"/cds-services/{SIGN}"


def test_jobs_run_in_order_and_close_runs_what_is_queued() -> None:
    writer = WriteBehind()
    gate = threading.Event()
    done: list[int] = []

    def job(number: int) -> Callable[[], None]:
        def run() -> None:
            if number == 0:
                gate.wait(5)
            done.append(number)

        return run

    for number in range(50):
        writer.submit(job(number))
    assert done == []  # the writer is held by the first job: nothing ran in the caller
    gate.set()
    writer.close()
    assert done == list(range(50))
    writer.submit(lambda: done.append(50))  # after close: run by the caller, never dropped
    assert done[-1] == 50


def test_a_full_queue_makes_the_caller_write_its_own_job() -> None:
    writer = WriteBehind(capacity=1)
    started, gate = threading.Event(), threading.Event()
    ran_in: list[str] = []

    def first() -> None:
        started.set()
        gate.wait(5)
        ran_in.append("first")

    writer.submit(first)
    assert started.wait(5)  # the writer is busy with the first job
    writer.submit(lambda: ran_in.append(threading.current_thread().name))  # queued
    writer.submit(lambda: ran_in.append(threading.current_thread().name))  # queue full
    assert ran_in == [threading.current_thread().name]
    gate.set()
    assert writer.flush(5.0)
    assert ran_in[1:] == ["first", "ldn-write-behind"]
    writer.close()


def test_flush_waits_for_the_queue_and_says_when_it_gave_up() -> None:
    writer = WriteBehind()
    gate = threading.Event()

    def held() -> None:
        gate.wait(5)

    writer.submit(held)
    assert writer.flush(0.05) is False
    gate.set()
    assert writer.flush(5.0) is True
    writer.close()


def test_a_failing_job_does_not_stop_the_writer() -> None:
    writer = WriteBehind()
    done: list[str] = []

    def broken() -> None:
        raise RuntimeError("patient text that must not be logged")

    writer.submit(broken)
    writer.submit(lambda: done.append("after"))
    assert writer.flush(5.0)
    assert done == ["after"]
    writer.close()


def test_every_card_answered_is_on_record_once_the_store_closes(
    tmp_path: Path, inline_key: ECKey, sign: Signer
) -> None:
    app: Flask = make_app(base_config(tmp_path, inline_key))
    client = app.test_client()
    answered = []
    for _ in range(20):
        response = client.post(
            HOOK_PATH,
            json=hook_body(prefetch=oxycodone_prefetch()),
            headers=bearer(sign(HOOK_PATH)),
        )
        assert response.status_code == 200
        answered += [card["uuid"] for card in response.get_json()["cards"]]
    store = app.extensions["cds_hooks"].store
    store.close()
    with store.engine.connect() as connection:
        stored = set(connection.execute(select(issued_cards.c.uuid)).scalars())
        count = connection.execute(select(func.count()).select_from(issued_cards)).scalar_one()
    store.engine.dispose()
    assert len(answered) == 20
    assert stored == set(answered)
    assert count == 20


def _card(number: int) -> IssuedCard:
    return IssuedCard({"uuid": f"card-{number}", "indicator": "info", "summary": f"Card {number}"})


def _queue(store: CdsStore, number: int, heard: list[tuple[int, object]]) -> None:
    store.record_cards_behind(
        service_id="svc",
        hook_instance=f"hook-{number}",
        patient_pseudonym=None,
        cards=[_card(number)],
        issued_at=datetime(2026, 6, 15, tzinfo=UTC),
        on_stored=lambda failure: heard.append((number, failure)),
    )


def test_calls_queued_together_are_written_in_one_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'cards.sqlite3'}")
    writes: list[int] = []
    insert_cards = store.insert_cards

    def counted(rows: Any) -> None:
        writes.append(len(rows))
        insert_cards(rows)

    monkeypatch.setattr(store, "insert_cards", counted)
    jobs: list[Callable[[], None]] = []
    monkeypatch.setattr(store.behind, "submit", jobs.append)  # the writer has not run yet
    heard: list[tuple[int, object]] = []
    for number in range(5):
        _queue(store, number, heard)
    assert len(jobs) == 1  # one job for everything queued before it runs
    jobs[0]()
    assert writes == [5]
    assert heard == [(number, None) for number in range(5)]
    _queue(store, 5, heard)  # queued after the job ran: a job of its own
    assert len(jobs) == 2
    store.close()


def test_calls_past_the_queue_s_capacity_write_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'cards.sqlite3'}")
    monkeypatch.setattr(store.behind, "submit", lambda job: None)  # a writer far behind
    heard: list[tuple[int, object]] = []
    for number in range(CAPACITY + 2):
        _queue(store, number, heard)
    # The queue holds CAPACITY calls; the two after it were written by their callers.
    assert heard == [(CAPACITY, None), (CAPACITY + 1, None)]
    with store.engine.connect() as connection:
        stored = set(connection.execute(select(issued_cards.c.uuid)).scalars())
    assert stored == {f"card-{CAPACITY}", f"card-{CAPACITY + 1}"}
    store.close()
