"""Pause Python's cycle collector while a hook call builds its large, acyclic data.

A 10,000-record prefetch parses into about a million objects. JSON holds no reference cycles and
the records mapped from it are frozen dataclasses, so a cycle collection while they are built
frees nothing yet scans them all: measured, about a third of such a call's time
(``tools/bench_cds.py`` with and without ``--gc-off``). Reference counting still frees every
object as usual; only the cycle collector waits, and only until the last call in flight ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _CollectorPause:
    """Count the calls in flight; the first disables the collector, the last re-enables it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls = 0
        self._reenable = False

    @contextmanager
    def paused(self) -> Iterator[None]:
        with self._lock:
            if self._calls == 0:
                # Leave the collector as we found it: off stays off.
                self._reenable = gc.isenabled()
                gc.disable()
            self._calls += 1
        try:
            yield
        finally:
            with self._lock:
                self._calls -= 1
                if self._calls == 0 and self._reenable:
                    gc.enable()


collector_paused = _CollectorPause().paused
