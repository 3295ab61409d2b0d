"""Times for people: a FHIR instant shown as a short UTC time, turned local in the browser.

The server does not know the clinician's time zone, so a page writes each instant as
``<time datetime="...">2026-12-03 06:38 UTC</time>`` and ``static/local-time.js`` rewrites the
text in the browser's own time zone ("3 Dec 2026, 07:38 CET"). Without script the UTC text stays,
which is still right.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_text(value: str | None) -> str:
    """Return a FHIR dateTime as "YYYY-MM-DD HH:MM UTC" (as sent when it has no time zone)."""
    if not value:
        return "unknown"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        return value  # a date, or a time without zone: nothing to convert
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
