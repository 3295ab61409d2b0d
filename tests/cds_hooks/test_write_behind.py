"""Issued cards are written behind the answer, and none is lost (cds_hooks/write_behind.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from joserfc.jwk import ECKey
from sqlalchemy import func, select

from cds_hooks.store import issued_cards
from cds_hooks.write_behind import WriteBehind
from tests.cds_hooks.support import (
    SIGN,
    Signer,
    base_config,
    bearer,
    hook_body,
    make_app,
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
