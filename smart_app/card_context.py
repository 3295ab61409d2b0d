"""What the CDS card that opened the app said, read from the launch's ``appContext`` for display.

CDS Hooks 2.0 (Link): a card's smart link may carry ``appContext``, which the EHR hands to the app
in the token response. Our service sends a compact JSON object (``service``, ``hookInstance``,
``order``, ``orderLabel``, ``status`` on the opioid card; ``topic`` on an evidence card). It is
text that passed through the EHR, so it is parsed defensively, only ever shown escaped, and never
used to grant access or to decide anything: the review recomputes the status from the chart and
only compares it with what the card said. It only chooses the page a launch opens on.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from clinical.assessment import AssessmentStatus

_STATUSES = frozenset(status.value for status in AssessmentStatus)


@dataclass(frozen=True, slots=True)
class CardContext:
    """The order a card was about and the status it showed (None when not a known status)."""

    order_label: str
    status: str | None

    def disagrees_with(self, status_now: str) -> bool:
        """Tell whether the card showed another status than the chart gives now."""
        return self.status is not None and self.status != status_now


def read_card_context(app_context: str | None) -> CardContext | None:
    """Return what an order card said, or None when ``app_context`` is absent or unreadable."""
    data = _object(app_context)
    if data is None:
        return None
    label = _text(data.get("orderLabel")) or _text(data.get("order"))
    status = data.get("status")
    if not isinstance(status, str) or status not in _STATUSES:
        status = None
    if label is None and status is None:
        return None  # an evidence card's link (``topic``): no order to speak of
    return CardContext(order_label=label or "the naltrexone order", status=status)


def landing_page(app_context: str | None) -> str:
    """Return the page a card's link should open on: the evidence for an evidence card's link.

    An evidence card (alcohol use disorder, liver disease) names its ``topic`` and is labelled
    "Open the LDN evidence summary", so it lands on the evidence; every other launch lands on
    the opioid review, as a launch without a card does.
    """
    data = _object(app_context)
    if data is not None and _text(data.get("topic")) is not None:
        return "smart_app.pages.evidence"
    return "smart_app.pages.review"


def _object(app_context: str | None) -> dict[str, object] | None:
    if not app_context:
        return None
    try:
        data = orjson.loads(app_context)  # orjson refuses nesting past 1024 levels
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _text(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None
