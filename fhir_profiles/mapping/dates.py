"""FHIR ``date``, ``dateTime`` and ``instant`` strings to calendar dates.

A partial date (``2024`` or ``2024-03``) covers a range of days. Which end of that range to take
is a safety choice: the rules compute the last opioid exposure from these dates, and an uncertain
date must never make an exposure look older than it may be. So an end-like date (an effective
period's end, ``dateAsserted``, an abatement) takes the LAST day it can mean, and a start-like date
(an effective period's start, ``authoredOn`` as the start of a supply) takes the FIRST day, which
never pretends that a course began later than it may have. ``authoredOn`` is read both ways on a
MedicationRequest: as ``started`` (first day) and as ``asserted`` (last day).

A time of day with a zone offset keeps the calendar date as written (the wall-clock date where it
was recorded); converting to UTC would move evening events in the Americas to the next day.
"""

from __future__ import annotations

import calendar
import re
from datetime import date
from functools import lru_cache

# FHIR R4 dateTime/instant grammar, loose only where servers are known to be loose (seconds and
# the zone may be missing after the time).
_FHIR_DATE = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)?)?"
)
# Longer than any real instant ("2024-03-05T23:30:00.123456789+05:00"): not worth parsing, and
# keeps hostile strings out of the cache.
_LONGEST = 40


def date_range(text: str) -> tuple[date, date] | None:
    """Return the first and last calendar day ``text`` can mean, or ``None`` if not a FHIR date."""
    return _date_range(text) if len(text) <= _LONGEST else None


@lru_cache(maxsize=4096)  # records repeat the same dates; parsing is the costly step
def _date_range(text: str) -> tuple[date, date] | None:
    match = _FHIR_DATE.fullmatch(text)
    if match is None:
        return None
    year = int(match["year"])
    try:
        if match["day"]:
            day = date(year, int(match["month"]), int(match["day"]))
            return day, day
        if match["month"]:
            month = int(match["month"])
            last = calendar.monthrange(year, month)[1]
            return date(year, month, 1), date(year, month, last)
        return date(year, 1, 1), date(year, 12, 31)
    except ValueError:
        return None
