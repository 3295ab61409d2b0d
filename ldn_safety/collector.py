"""Python's cycle collector set for a server whose calls each build a large, short-lived tree.

A hook call parses its body into many small objects (about a million at 10,000 records) and maps
them. None of them form cycles, yet with Python's defaults a collection starts every 700 new
objects, and the full collections those allocations trigger walk every object alive in the
process: the app's code and knowledge tables as well as the body. On the 2-core development box
that was a fifth of a call at 1,000 records and over half at 10,000, falling on the larger calls,
so on the check far more than on a call that only parses.

Before the server forks its workers, :func:`prepare_for_workers`:

* freezes everything alive once the app is built (``gc.freeze``): it lives as long as the
  process, the collector stops walking it, and the workers keep sharing its memory pages
  instead of copying each one the collector would have touched;
* collects the youngest generation every :data:`YOUNG_THRESHOLD` new objects, not 700.

The collector stays on: reference cycles made while serving are still found and freed.
"""

from __future__ import annotations

import gc

# New container objects between two collections of the youngest generation. A few thousand
# young objects cost little memory; the older generations keep Python's own ratios.
YOUNG_THRESHOLD = 10_000


def prepare_for_workers() -> None:
    """Freeze what the app built at start-up and space the youngest collections; call once,
    in the process that forks the workers, after the app is built."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)
