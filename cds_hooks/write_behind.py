"""Write behind the answer: store writes a clinician need not wait for, done by one thread.

A hook call answers its cards first; recording them (for feedback and the re-alert rule) is
queued and written by a writer thread of the process, so the database's commit is off the
path the clinician waits on. Nothing is dropped:

* the queue is bounded; when it is full, the call writes its own batch before answering
  (slower, never lost);
* whatever reads what was written first waits for the queue to drain (``flush``): feedback
  about a card issued a moment ago finds it, and so does order-sign's recall;
* the process drains the queue before it exits (``close``, also at interpreter exit).

A job handles its own database failure (the card store degrades: the outage is logged and
cards are still answered); an unexpected exception is logged by type and the writer goes on.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable

log = logging.getLogger("ldn.cds_hooks")

Job = Callable[[], None]

# Jobs queued at most (one per hook call): past it a call writes its own.
CAPACITY = 1_000
# How long the writer, woken from idle, waits before it writes: the call that woke it sends its
# answer meanwhile (the writer would otherwise take turns with it for the interpreter), and the
# calls that come in that time are written with it (``CdsStore.record_cards_behind``: one
# transaction for them all). At 16 clients this took the LDN call from about 0.70x to about
# 0.76x the no-naltrexone call's throughput; a card reaches the database within about this long.
GATHER_SECONDS = 0.05


class WriteBehind:
    """A bounded queue of write jobs run in order by one writer thread (started on first use)."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._closed = False
        self._begin()
        # A forked worker starts empty: the parent's queued jobs are the parent's to write.
        os.register_at_fork(after_in_child=self._begin)

    def _begin(self) -> None:
        self._jobs: deque[Job] = deque()
        self._changed = threading.Condition()
        self._submitted = 0
        self._finished = 0
        self._thread: threading.Thread | None = None

    def submit(self, job: Job) -> None:
        """Queue ``job``; run it here and now when the queue is full or closed."""
        with self._changed:
            queued = not self._closed and len(self._jobs) < self._capacity
            if queued:
                self._start()
                self._jobs.append(job)
                self._submitted += 1
                self._changed.notify_all()
        if not queued:
            _run(job)

    def flush(self, timeout: float) -> bool:
        """Wait until every job submitted so far has run; False if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            target = self._submitted
            while self._finished < target:
                left = deadline - time.monotonic()
                if left <= 0 or not self._running():
                    return self._finished >= target
                self._changed.wait(left)
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Run what is queued, then stop the writer; later jobs run in their caller."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            thread = self._thread if self._running() else None
        if thread is not None:
            thread.join(timeout)
        # Jobs left by a writer that did not finish in time are run here.
        while True:
            with self._changed:
                if not self._jobs:
                    return
                job = self._jobs.popleft()
            _run(job)
            self._done()

    def _running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _start(self) -> None:
        """Start the writer thread in this process if it is not running (lock held)."""
        if self._running():
            return
        self._thread = threading.Thread(target=self._work, name="ldn-write-behind", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def _work(self) -> None:
        while True:
            with self._changed:
                idle = not self._jobs
                while not self._jobs and not self._closed:
                    self._changed.wait()
                if not self._jobs:
                    return  # closed and drained
            if idle and not self._closed:
                time.sleep(GATHER_SECONDS)
            with self._changed:
                job = self._jobs.popleft()
            _run(job)
            self._done()

    def _done(self) -> None:
        with self._changed:
            self._finished += 1
            self._changed.notify_all()


def _run(job: Job) -> None:
    try:
        job()
    except Exception as error:  # noqa: BLE001 - the writer must outlive any one job
        # The exception's message may quote the values written: its type and frames only.
        log.error(
            "write-behind job failed: %s\n%s",
            type(error).__name__,
            "".join(traceback.format_tb(error.__traceback__)),
            extra={"event": "write-behind-failed"},
        )
