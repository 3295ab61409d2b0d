"""A hook call leaves Python's cycle collector alone: the app's other threads keep theirs.

CPython has one cycle collector per process. Switching it off for a hook call (as the service
once did to save time on 10,000-record prefetches) also stops it for every other thread of the
app, and under overlapping calls it might never come back on.
"""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any

import pytest
from flask import Flask

import cds_hooks.routes
from tests.cds_hooks.support import PATIENT_ID, SELECT, SIGN, Signer, bearer, hook_body


class _Node:
    """An object that refers to itself: only the cycle collector can free it."""

    def __init__(self) -> None:
        self.me = self


def _prefetch() -> dict[str, Any]:
    return {
        "patient": {"resourceType": "Patient", "id": PATIENT_ID},
        "medicationStatements": None,
        "medicationRequests": None,
        "conditions": None,
    }


def test_cyclic_garbage_of_other_threads_is_collected_while_hook_calls_run(
    app: Flask, sign: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert gc.isenabled()
    inside, release = threading.Barrier(3), threading.Event()
    collector_during_calls: list[bool] = []
    real_check = cds_hooks.routes.run_check

    def held_check(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        collector_during_calls.append(gc.isenabled())
        inside.wait(timeout=30)
        release.wait(timeout=30)
        return real_check(*args, **kwargs)

    monkeypatch.setattr(cds_hooks.routes, "run_check", held_check)
    statuses: list[int] = []

    def call(service: str, hook: str) -> None:
        path = f"/cds-services/{service}"
        body = hook_body(hook, prefetch=_prefetch())
        answer = app.test_client().post(path, json=body, headers=bearer(sign(path)))
        statuses.append(answer.status_code)

    calls = [
        threading.Thread(target=call, args=(SELECT, "order-select")),
        threading.Thread(target=call, args=(SIGN, "order-sign")),
    ]
    for thread in calls:
        thread.start()
    try:
        inside.wait(timeout=30)  # both calls are in flight, overlapping
        # Meanwhile another thread of the app leaves a reference cycle behind and allocates.
        cycle = weakref.ref(_Node())
        kept = [[] for _ in range(20_000)]  # enough allocations to trigger a collection
        assert cycle() is None, "the cycle collector did not run while hook calls were in flight"
        del kept
    finally:
        release.set()
        for thread in calls:
            thread.join(timeout=30)
    assert collector_during_calls == [True, True]
    assert statuses == [200, 200]
