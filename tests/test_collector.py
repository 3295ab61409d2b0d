"""The cycle collector as the server leaves it for its workers: start-up frozen, cycles freed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from ldn_safety import cli
from ldn_safety.app import create_app
from ldn_safety.collector import YOUNG_THRESHOLD, prepare_for_workers


@pytest.fixture
def restored_collector() -> Iterator[None]:
    """Put the collector back as the test process had it."""
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


class _Node:
    def __init__(self) -> None:
        self.other: Any = None


def test_what_exists_at_start_up_is_no_longer_walked(restored_collector: None) -> None:
    built = create_app({"TESTING": True})
    prepare_for_workers()
    assert gc.get_freeze_count() > 10_000  # the app's code, tables and configuration
    # Frozen objects leave the generations the collector walks.
    assert not any(tracked is built for tracked in gc.get_objects())
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD


def test_a_cycle_made_while_serving_is_still_freed_without_an_explicit_collect(
    restored_collector: None,
) -> None:
    prepare_for_workers()
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    gone = weakref.ref(first)
    del first, second
    assert gone() is not None  # only the collector can free a cycle
    # A call's worth of short-lived objects: the collector runs on its own, as in a worker.
    churn = [[index] for index in range(YOUNG_THRESHOLD * 30)]
    del churn
    assert gc.isenabled()
    assert gone() is None


def test_serve_prepares_the_collector_before_the_workers_fork(
    restored_collector: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, int] = {}

    def run(self: object) -> None:
        seen["frozen"] = gc.get_freeze_count()
        seen["young"] = gc.get_threshold()[0]

    monkeypatch.setattr(cli._Gunicorn, "run", run)
    cli.run_gunicorn(create_app({"TESTING": True}), "127.0.0.1", 0, workers=2)
    assert seen["frozen"] > 10_000
    assert seen["young"] == YOUNG_THRESHOLD
