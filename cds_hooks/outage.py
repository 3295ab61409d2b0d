"""Say once that a part of the store is failing, and once that it works again.

A database outage turns every hook call into a store failure; logging each one would bury the
log (and the one line an operator needs) under thousands of copies. ``OutageLog`` logs the
first failure of each part at ERROR, counts the rest, and logs the recovery with that count.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("ldn.cds_hooks")


class OutageLog:
    """Per-part outage state of one process (thread-safe)."""

    def __init__(self) -> None:
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()

    def failed(self, part: str, error: Exception, consequence: str) -> None:
        """Note a failure of ``part``; log it only when the part was working until now."""
        with self._lock:
            count = self._failures.get(part, 0)
            self._failures[part] = count + 1
        if count == 0:
            # The exception's type only: its message may quote the statement and its values.
            log.error(
                "%s unavailable (%s): %s",
                part,
                type(error).__name__,
                consequence,
                extra={"event": "store-unavailable", "part": part},
            )

    def succeeded(self, part: str) -> None:
        """Note that ``part`` works; log the recovery when it had been failing."""
        if part not in self._failures:  # the common case: no lock, nothing to do
            return
        with self._lock:
            missed = self._failures.pop(part, 0)
        if missed:
            log.warning(
                "%s available again after %d failed calls",
                part,
                missed,
                extra={"event": "store-recovered", "part": part, "failed_calls": missed},
            )

    def failing(self) -> tuple[str, ...]:
        """Return the parts failing right now."""
        with self._lock:
            return tuple(sorted(self._failures))
